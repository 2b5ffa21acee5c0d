"""DCUtR (/libp2p/dcutr) between py-libp2p 0.8.1 and Swift nodes, each side starting it.

    python dcutr_py.py <path to elastos> <relay home> <home of node A> <home of node B>

A Swift relay (`elastos node --relay-service`) carries the first, relayed connection.
  1. py starts it: a py peer reserves on the relay; Swift node A (`elastos peer connect
     <relay>/p2p-circuit/p2p/<py>` through the running node) reaches it through the circuit; py
     runs DCUtRProtocol.initiate_hole_punch (CONNECT, our CONNECT back, SYNC, both dial).
  2. Swift starts it: Swift node B reserves (`elastos node --relay`); a second py peer dials it
     through the circuit; B's node sends CONNECT as soon as it accepts the circuit, py answers
     and dials on SYNC.
In both, the connection becomes direct on both sides, py closes the relayed one after its grace
period (shortened from 60 s to 3 s here), and the node still pings py over what remains.
py's own triggers are held back so that each case exercises the exchange it names: its
auto-drive loop is off (case 1 calls initiate_hole_punch itself) and its "unilateral upgrade"
(a plain dial before DCUtR, which on loopback would always succeed) is skipped.
Prints one line per check and closes with "N passed, M failed".
"""
import json
import re
import secrets
import subprocess
import sys
import time

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.relay.circuit_v2 import dcutr as dcutr_module
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_ID, STOP_PROTOCOL_ID as STOP_ID, CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

RELAY_CLOSE_GRACE = 3.0
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


async def read_lines_until(proc, pattern, seconds):
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        line = await trio.to_thread.run_sync(proc.stderr.readline)
        if not line:
            break
        text = line.decode(errors="replace").rstrip()
        seen.append(text)
        m = re.search(pattern, text)
        if m:
            return m, seen
    return None, seen


def start_node(elastos, home, *extra):
    return subprocess.Popen(
        ["timeout", "120", elastos, "node", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


async def cli(elastos, home, *args):
    proc = await trio.run_process(["timeout", "60", elastos, "peer", *args, "--home", home],
                                  capture_stdout=True, capture_stderr=True, check=False)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


async def swift_connections(elastos, home, peer):
    """The addresses of the node's connections to `peer`, from `elastos peer peers --json`."""
    status, out, _ = await cli(elastos, home, "peers", "--json")
    if status != 0:
        return []
    return [p["address"] for p in map(json.loads, filter(None, out.splitlines())) if p["peer"] == peer]


async def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await trio.sleep(0.2)
    return False


def connections_to(host, peer_id):
    conns = host.get_network().connections.get(peer_id) or []
    return conns if isinstance(conns, list) else [conns]


def py_peer():
    limits = RelayLimits(duration=3600, data=100 * 1024 * 1024, max_circuit_conns=10, max_reservations=5)
    host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
    relay = CircuitV2Protocol(host, limits=limits, allow_hop=False)
    config = RelayConfig(roles=RelayRole.STOP | RelayRole.CLIENT, limits=limits)
    dcutr = DCUtRProtocol(host)

    async def no_auto_drive():
        return None

    async def no_unilateral(_peer):
        return False

    dcutr._auto_drive_loop = no_auto_drive
    dcutr._try_unilateral_upgrade = no_unilateral
    return host, relay, config, dcutr


async def main():
    elastos, relay_home, a_home, b_home = sys.argv[1:5]
    # The grace period is a default argument in py 0.8.1; shorten it for the test's sake.
    DCUtRProtocol._close_relayed_conns_after_grace.__defaults__ = (RELAY_CLOSE_GRACE,)
    assert dcutr_module.RELAY_CLOSE_GRACE_PERIOD == 60.0
    relay = start_node(elastos, relay_home, "--relay-service")
    nodes = [relay]
    try:
        m, seen = await read_lines_until(relay, r"carrier peer (\S+) on (/ip4/127\.0\.0\.1/tcp/\d+)", 40)
        check("swift relay started", m is not None, "\n".join(seen))
        if m is None:
            return
        relay_ma = f"{m.group(2)}/p2p/{m.group(1)}"
        relay_info = info_from_p2p_addr(multiaddr.Multiaddr(relay_ma))

        p, p_relay, p_config, p_dcutr = py_peer()
        q, q_relay, q_config, q_dcutr = py_peer()
        listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
        async with p.run(listen_addrs=listen), q.run(listen_addrs=listen), trio.open_nursery() as nursery:
            for h, r in ((p, p_relay), (q, q_relay)):
                h.set_stream_handler(HOP_ID, r._handle_hop_stream)
                h.set_stream_handler(STOP_ID, r._handle_stop_stream)
            async with background_trio_service(p_relay), background_trio_service(q_relay), \
                    background_trio_service(p_dcutr), background_trio_service(q_dcutr):
                p_transport = CircuitV2Transport(p, p_relay, p_config)
                q_transport = CircuitV2Transport(q, q_relay, q_config)

                # ---- 1. py starts DCUtR with Swift node A.
                await p.connect(relay_info)
                stream = await p.new_stream(relay_info.peer_id, [HOP_ID])
                check("py peer reserved on the swift relay", bool(await p_transport.reserve(stream, relay_info.peer_id, nursery)))
                node_a = start_node(elastos, a_home)
                nodes.append(node_a)
                m, seen = await read_lines_until(node_a, r"carrier peer (\S+) on ", 40)
                check("swift node A started", m is not None, "\n".join(seen))
                if m is None:
                    return
                a_id = ID.from_base58(m.group(1))
                circuit = f"{relay_ma}/p2p-circuit/p2p/{p.get_id()}"
                status, out, err = await cli(elastos, a_home, "connect", circuit)
                check("node A connects to py through the circuit", status == 0 and str(p.get_id()) in out, out + err)
                relayed = await wait_for(lambda: trio.to_thread.run_sync(lambda: bool(connections_to(p, a_id))), 10)
                check("py sees node A over the relayed connection", relayed)
                with trio.fail_after(40):
                    punched = await p_dcutr.initiate_hole_punch(a_id)
                check("py's hole punch with node A succeeds", punched)
                check("it ran the DCUtR exchange (one attempt counted)", p_dcutr._hole_punch_attempts.get(a_id) == 1,
                      str(p_dcutr._hole_punch_attempts))
                check("py has a direct connection to node A", await p_dcutr._verify_direct_connection(a_id))

                async def a_direct():
                    return any("/p2p-circuit" not in addr for addr in await swift_connections(elastos, a_home, str(p.get_id())))
                check("node A lists a direct connection to py", await wait_for(a_direct, 10))

                async def a_only_direct():
                    addrs = await swift_connections(elastos, a_home, str(p.get_id()))
                    return bool(addrs) and all("/p2p-circuit" not in addr for addr in addrs)
                check("after py's grace period only the direct connection is left", await wait_for(a_only_direct, RELAY_CLOSE_GRACE + 10),
                      str(await swift_connections(elastos, a_home, str(p.get_id()))))
                status, out, err = await cli(elastos, a_home, "ping", str(p.get_id()), "--count", "3")
                check("node A pings py over the direct connection", status == 0 and out.count(" ms") == 3, out + err)

                # ---- 2. Swift node B starts DCUtR with a py peer that reached it through the relay.
                node_b = start_node(elastos, b_home, "--relay", relay_ma)
                nodes.append(node_b)
                m, seen = await read_lines_until(node_b, r"reserved on relay (\S+), reachable at (\S+)", 40)
                check("swift node B reserved on the relay", m is not None, "\n".join(seen))
                if m is None:
                    return
                b_circuit = m.group(2)
                b_id = ID.from_base58(b_circuit.rsplit("/", 1)[1])
                await q.connect(relay_info)
                with trio.fail_after(30):
                    await q_transport.dial(multiaddr.Multiaddr(b_circuit))
                check("py dialled node B through the circuit", True)

                async def q_direct():
                    return await q_dcutr._verify_direct_connection(b_id)
                check("py answers node B's DCUtR and gets a direct connection", await wait_for(q_direct, 20))
                check("py's own dial to node B's CONNECT addresses succeeded", b_id in q_dcutr._direct_connections,
                      str(q_dcutr._direct_connections))
                check("py never started one itself", q_dcutr._hole_punch_attempts.get(b_id) is None)

                async def b_only_direct():
                    addrs = await swift_connections(elastos, b_home, str(q.get_id()))
                    return bool(addrs) and all("/p2p-circuit" not in addr for addr in addrs)
                check("node B is left with only the direct connection", await wait_for(b_only_direct, RELAY_CLOSE_GRACE + 10),
                      str(await swift_connections(elastos, b_home, str(q.get_id()))))
                status, out, err = await cli(elastos, b_home, "ping", str(q.get_id()), "--count", "3")
                check("node B pings py over the direct connection", status == 0 and out.count(" ms") == 3, out + err)
                nursery.cancel_scope.cancel()
    finally:
        for proc in nodes:
            stop(proc)
        failed = results.count(False)
        print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if results.count(False) else 0)


trio.run(main)
