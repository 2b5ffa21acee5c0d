"""Circuit Relay v2 with a py-libp2p 0.8.1 relay and two Swift peers.

    python relay_py_relay.py <path to elastos> <elastos home (dest)> <elastos home (src)>

  1. py runs a relay (CircuitV2Protocol with hop allowed) on 127.0.0.1.
  2. `elastos node --listen … --relay <py relay>` reserves on it (hop RESERVE) and prints the
     circuit address it can be reached at.
  3. `elastos peer ping <relay>/p2p-circuit/p2p/<dest>` dials the Swift node through the py relay
     (hop CONNECT, stop CONNECT, then Noise + Yamux over the circuit), identifies it and pings it.
Prints one line per check and closes with "N passed, M failed".
"""
import os
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
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_ID, STOP_PROTOCOL_ID as STOP_ID, CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


async def read_lines_until(proc, pattern, seconds):
    """Reads the process's stderr lines (in a thread) until one matches; returns the match."""
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


async def main():
    elastos, dest_home, src_home = sys.argv[1], sys.argv[2], sys.argv[3]
    limits = RelayLimits(duration=3600, data=100 * 1024 * 1024, max_circuit_conns=10, max_reservations=5)
    host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
    protocol = CircuitV2Protocol(host, limits=limits, allow_hop=True)
    config = RelayConfig(roles=RelayRole.HOP | RelayRole.STOP, limits=limits)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        host.set_stream_handler(HOP_ID, protocol._handle_hop_stream)
        host.set_stream_handler(STOP_ID, protocol._handle_stop_stream)
        async with background_trio_service(protocol):
            CircuitV2Transport(host, protocol, config)
            relay_ma = next(str(a) for a in host.get_addrs() if "/tcp/" in str(a))
            if "/p2p/" not in relay_ma:
                relay_ma += f"/p2p/{host.get_id()}"
            print(f"py relay at {relay_ma}", flush=True)

            dest = subprocess.Popen(
                ["timeout", "90", elastos, "node", "--home", dest_home, "--listen", "/ip4/127.0.0.1/tcp/0",
                 "--relay", relay_ma],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                m, seen = await read_lines_until(dest, r"reserved on relay (\S+), reachable at (\S+)", 40)
                check("swift dest reserved on the py relay", m is not None, "\n".join(seen))
                if m is None:
                    return
                check("the reservation names the py relay", m.group(1) == str(host.get_id()), m.group(0))
                check("the py relay's reservation voucher verified", "(voucher verified)" in m.string, m.string)
                circuit = m.group(2)
                check("the circuit address is relay/p2p-circuit/p2p/dest",
                      circuit.startswith(relay_ma + "/p2p-circuit/p2p/12D3KooW"), circuit)
                dest_id = circuit.rsplit("/", 1)[1]
                check("the py relay holds the reservation",
                      bool(protocol.resource_manager.has_reservation(ID.from_base58(dest_id))))

                proc = await trio.run_process(
                    ["timeout", "60", elastos, "peer", "ping", circuit, "--count", "3", "--home", src_home],
                    capture_stdout=True, capture_stderr=True, check=False)
                out = proc.stdout.decode()
                print(out.strip(), flush=True)
                check("swift src pings through the py relay: exit 0", proc.returncode == 0, proc.stderr.decode().strip())
                check("connected to the dest through the circuit", f"Connected to {dest_id}" in out, out)
                check("identify over the circuit saw the elastos agent", "Agent: elastos-carrier/" in out, out)
                check("identify listed the stop protocol", STOP_ID in out, out)
                check("three pings over the circuit", out.count(" ms") == 3, out)
            finally:
                dest.terminate()
                try:
                    dest.wait(5)
                except subprocess.TimeoutExpired:
                    dest.kill()
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


trio.run(main)
