"""mDNS discovery against py-libp2p 0.8.1 (python-zeroconf underneath) and dnspython.

Run inside a loopback-only network namespace (the Swift test does this with `unshare -n`):

    python libp2p_mdns.py <path to elastos> <elastos home>

  1. `elastos node --listen /ip4/127.0.0.1/tcp/0` (mDNS on by default) runs beside a py-libp2p
     host with enable_mDNS=True: py's zeroconf resolves the Swift node's service and puts its
     PeerID and address in py's peerstore; the Swift node reads py's zeroconf answer and dials
     py, so `elastos peer peers` lists it.
  2. dnspython, an independent DNS codec: a PTR query for _p2p._udp.local that it encodes is
     answered by the Swift node, and it parses the answer: a PTR to <name>._p2p._udp.local and a
     TXT dnsaddr=<our address>/p2p/<our id>.
Prints one line per check and closes with "N passed, M failed".
"""
import os
import socket
import struct
import subprocess
import sys
import time

import dns.message
import dns.rdatatype
import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def elastos(binary, home, *args, timeout=30):
    return subprocess.run([binary, *args, "--home", home], capture_output=True, text=True, timeout=timeout)


def start_node(binary, home):
    log = open(os.path.join(os.path.dirname(home), "mdns-node.log"), "w")
    node = subprocess.Popen([binary, "node", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0",
                             "--in-process-storage", "--in-process-shell"], stdout=log, stderr=log)
    for _ in range(600):
        if os.path.exists(os.path.join(home, "control.sock")):
            break
        time.sleep(0.05)
    return node


def ask_with_dnspython(peer_id):
    """Sends a dnspython-built PTR query to the group and parses the answers that come back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", 5353))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("224.0.0.251") + socket.inet_aton("127.0.0.1"))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.settimeout(0.5)
    query = dns.message.make_query("_p2p._udp.local.", dns.rdatatype.PTR)
    query.id = 0
    deadline = time.time() + 15
    try:
        while time.time() < deadline:
            sock.sendto(query.to_wire(), ("224.0.0.251", 5353))
            end = time.time() + 1.5
            while time.time() < end:
                try:
                    data, _ = sock.recvfrom(9000)
                except socket.timeout:
                    continue
                try:
                    message = dns.message.from_wire(data)
                except Exception:
                    continue
                if not message.flags & 0x8000:
                    continue
                txts = [s.decode() for rrset in message.answer + message.additional if rrset.rdtype == dns.rdatatype.TXT
                        for rdata in rrset for s in rdata.strings]
                if any(t.startswith("dnsaddr=") and t.endswith("/p2p/" + peer_id) for t in txts):
                    return message, txts
    finally:
        sock.close()
    return None, []


async def main(binary, home):
    peer_id = elastos(binary, home, "peer", "id").stdout.split("PeerID:")[1].split()[0]
    node = start_node(binary, home)
    try:
        check("the Swift node started", node.poll() is None)
        host = new_host(key_pair=create_new_key_pair(os.urandom(32)), enable_mDNS=True)
        async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            py_id = host.get_id().to_string()
            found = False
            for _ in range(300):
                try:
                    addrs = host.get_peerstore().addrs(ID.from_base58(peer_id))
                except Exception:
                    addrs = []
                if addrs:
                    found = True
                    break
                await trio.sleep(0.1)
            check("py-libp2p's mDNS put the Swift node's PeerID and address in its peerstore", found,
                  f"peerstore: {[str(p) for p in host.get_peerstore().peer_ids()]}")
            check("the address py found is the node's loopback TCP address",
                  found and all(str(a).startswith("/ip4/127.0.0.1/tcp/") for a in addrs), f"{[str(a) for a in addrs]}")
            listed = ""
            for _ in range(300):
                listed = await trio.to_thread.run_sync(lambda: elastos(binary, home, "peer", "peers").stdout)
                if py_id in listed:
                    break
                await trio.sleep(0.1)
            check("the Swift node read py's zeroconf answer and dialled py", py_id in listed, listed)
            message, txts = await trio.to_thread.run_sync(lambda: ask_with_dnspython(peer_id))
            check("dnspython parsed the Swift node's answer to its query", message is not None, f"{txts}")
            if message is not None:
                ptrs = [str(r.target) for rrset in message.answer if rrset.rdtype == dns.rdatatype.PTR for r in rrset]
                check("the answer is a PTR from _p2p._udp.local to <name>._p2p._udp.local",
                      len(ptrs) == 1 and ptrs[0].endswith("._p2p._udp.local.") and all(str(rrset.name) == "_p2p._udp.local." for rrset in message.answer),
                      f"{ptrs}")
                check("every TXT string is dnsaddr=<multiaddr>/p2p/<id>",
                      all(t.startswith("dnsaddr=/ip4/127.0.0.1/tcp/") and t.endswith("/p2p/" + peer_id) for t in txts), f"{txts}")
    finally:
        node.terminate()
        node.wait(timeout=20)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(trio.run(main, sys.argv[1], sys.argv[2]))
