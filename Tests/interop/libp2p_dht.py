"""Carrier's Kademlia DHT against py-libp2p 0.8.1's KadDHT (libp2p.kad_dht), mixed networks.

Run inside a loopback-only network namespace (the Swift test does this with `unshare`):

    python libp2p_dht.py <path to elastos> <scratch dir for elastos homes>

Nodes: S1, S2 = `elastos peer listen --dht-server` (Swift servers), P1, P2 = py-libp2p KadDHT
servers, and one-shot `elastos peer dht …` clients. Each step crosses implementations:
  1. P1 joins through S1 and provides X; a Swift client finds P1 as X's provider through S1
     (py's ADD_PROVIDER stored by Swift) and through P1 (py's GET_PROVIDERS answer).
  2. S2 bootstraps from S1 and P1 and provides Y; P2, connected to S1 only, finds S2 as Y's
     provider and finds S2's addresses with find_peer (py lookups against Swift servers).
  3. A Swift client finds P1 through S1, and S2 through P1, and connects to each.
Prints one line per check and closes with "N passed, M failed".
"""
import os
import secrets
import subprocess
import sys

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.tools.anyio_service import background_trio_service

X = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"  # raw CID of "hello world\n"
Y = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # raw CID of the empty file

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


class SwiftServer:
    """`elastos peer listen --dht-server …`, read line by line."""

    def __init__(self, elastos, home, extra):
        self.proc = subprocess.Popen(
            ["timeout", "150", elastos, "peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--duration", "150",
             "--dht-server", "--home", home] + extra,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []

    async def wait_for(self, prefix, seconds=30):
        for line in self.lines:
            if line.startswith(prefix):
                return line
        with trio.move_on_after(seconds):
            while True:
                line = (await trio.to_thread.run_sync(self.proc.stdout.readline)).strip()
                if not line and self.proc.poll() is not None:
                    return ""
                self.lines.append(line)
                if line.startswith(prefix):
                    return line
        return ""

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        err = self.proc.stderr.read().strip()
        if err:
            print("swift stderr: " + err, flush=True)


async def swift_client(elastos, home, args):
    proc = await trio.run_process(["timeout", "60", elastos, "peer", "dht"] + args + ["--home", home, "--timeout", "40"],
                                  capture_stdout=True, capture_stderr=True, check=False)
    out = proc.stdout.decode()
    print(f"$ elastos peer dht {' '.join(args)}\n{out.strip()}", flush=True)
    if proc.returncode != 0:
        print("  stderr: " + proc.stderr.decode().strip(), flush=True)
    return proc.returncode, out


async def add_peer_when_identified(dht, peer_id, seconds=10):
    """py adds a peer once identify shows it serves kad; identify runs right after connecting."""
    with trio.move_on_after(seconds):
        while True:
            if await dht.add_peer(peer_id) and dht.routing_table.peer_in_table(peer_id):
                return True
            await trio.sleep(0.1)
    return False


def py_host():
    return new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))


async def main():
    elastos, scratch = sys.argv[1], sys.argv[2]
    homes = {name: os.path.join(scratch, name) for name in ("s1", "s2", "c1", "c2", "c3", "c4")}
    s1 = SwiftServer(elastos, homes["s1"], [])
    s2 = None
    try:
        line = await s1.wait_for("LISTEN ")
        check("S1 listens", line.startswith("LISTEN /ip4/127.0.0.1/tcp/"), line)
        s1_addr = line.split(" ", 1)[1]
        s1_id = s1_addr.rsplit("/p2p/", 1)[1]

        p1 = py_host()
        async with p1.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            p1_addr = next(str(a) for a in p1.get_addrs() if "/tcp/" in str(a))
            if "/p2p/" not in p1_addr:
                p1_addr += f"/p2p/{p1.get_id()}"
            dht1 = KadDHT(p1, DHTMode.SERVER)
            async with background_trio_service(dht1):
                await p1.connect(info_from_p2p_addr(multiaddr.Multiaddr(s1_addr)))
                check("P1 puts S1 in its table (identify lists /ipfs/kad/1.0.0)",
                      await add_peer_when_identified(dht1, ID.from_base58(s1_id)))

                # 1. py provides, Swift finds.
                check("P1 provides X", await dht1.provide(X) is True)
                rc, out = await swift_client(elastos, homes["c1"], ["find-providers", X, "--bootstrap", s1_addr])
                check("swift finds P1 providing X through S1", rc == 0 and f"PROVIDER {p1.get_id()} /ip4/127.0.0.1/tcp/" in out, out)
                rc, out = await swift_client(elastos, homes["c2"], ["find-providers", X, "--bootstrap", p1_addr])
                check("swift finds P1 providing X through P1", rc == 0 and f"PROVIDER {p1.get_id()} /ip4/127.0.0.1/tcp/" in out, out)

                # 2. Swift provides, py finds.
                s2 = SwiftServer(elastos, homes["s2"], ["--bootstrap", s1_addr, "--bootstrap", p1_addr, "--provide", Y])
                line = await s2.wait_for("LISTEN ")
                check("S2 listens", line.startswith("LISTEN /ip4/127.0.0.1/tcp/"), line)
                s2_addr = line.split(" ", 1)[1]
                s2_id = s2_addr.rsplit("/p2p/", 1)[1]
                boot = await s2.wait_for("BOOTSTRAPPED ")
                check("S2 bootstraps from S1 and P1", boot.startswith("BOOTSTRAPPED ") and int(boot.split()[1]) >= 2, boot)
                provided = await s2.wait_for("PROVIDED ")
                check("S2 provides Y to at least S1 and P1", provided.startswith(f"PROVIDED {Y} ") and int(provided.split()[2]) >= 2, provided)

                p2 = py_host()
                async with p2.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
                    dht2 = KadDHT(p2, DHTMode.SERVER)
                    async with background_trio_service(dht2):
                        await p2.connect(info_from_p2p_addr(multiaddr.Multiaddr(s1_addr)))
                        check("P2 puts S1 in its table", await add_peer_when_identified(dht2, ID.from_base58(s1_id)))
                        with trio.move_on_after(30):
                            providers = await dht2.find_providers(Y)
                        ids = {str(p.peer_id) for p in providers}
                        check("P2 finds S2 providing Y", s2_id in ids, str(ids))
                        s2_port = s2_addr.split("/tcp/")[1].split("/")[0]
                        addrs = [str(a) for p in providers if str(p.peer_id) == s2_id for a in p.addrs]
                        check("  with S2's listen address", any(f"/tcp/{s2_port}" in a for a in addrs), str(addrs))
                        with trio.move_on_after(30):
                            found = await dht2.find_peer(ID.from_base58(s2_id))
                        found_addrs = [str(a) for a in found.addrs] if found else []
                        check("P2 finds S2's address with find_peer", any(f"/tcp/{s2_port}" in a for a in found_addrs), str(found_addrs))

                # 3. Swift finds peers through both kinds of server.
                rc, out = await swift_client(elastos, homes["c3"], ["find-peer", str(p1.get_id()), "--bootstrap", s1_addr])
                check("swift finds and connects to P1 through S1", rc == 0 and f"CONNECTED {p1.get_id()}" in out, out)
                rc, out = await swift_client(elastos, homes["c4"], ["find-peer", s2_id, "--bootstrap", p1_addr])
                check("swift finds and connects to S2 through P1", rc == 0 and f"CONNECTED {s2_id}" in out
                      and f"/tcp/{s2_port}/p2p/{s2_id}" in out, out)
    finally:
        s1.stop()
        if s2:
            s2.stop()


if __name__ == "__main__":
    try:
        trio.run(main)
    except BaseException as e:
        check("run completed", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
