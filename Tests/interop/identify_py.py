"""Signed peer records and identify push between py-libp2p 0.8.1 and a Swift node.

    python identify_py.py <path to elastos> <relay home> <node home>

A py host connects to a running Swift node (`elastos node`) and a Swift relay runs beside it.
  1. Identify carries each side's signed peer record (RFC 0003 in an RFC 0002 envelope): py's
     peerstore accepts ours (its consume_envelope checks the signature and that the record names
     the sender), and the node lists py's certified addresses (`elastos peer peers --json`).
  2. `elastos peer reserve <relay>` gives the node a circuit address; the node pushes identify
     (/ipfs/id/push/1.0.0) and py's peerstore learns the circuit address and a newer record.
  3. py registers a protocol and pushes identify to the node; the node lists the protocol.
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
from swift_node import check, cli, read_lines_until, results, start_node, stop, summary, wait_for
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.identity.identify_push.identify_push import push_identify_to_peer
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

LATE = TProtocol("/elastos-test/late/1.0.0")







async def node_view_of(elastos, home, peer):
    """The node's `peers --json` entry for `peer` (its first connection), or None."""
    status, out, _ = await cli(elastos, home, "peers", "--json")
    if status != 0:
        return None
    return next((p for p in map(json.loads, filter(None, out.splitlines())) if p["peer"] == peer), None)



async def main():
    elastos, relay_home, node_home = sys.argv[1:4]
    relay = start_node(elastos, relay_home, "--relay-service")
    nodes = [relay]
    try:
        m, seen = await read_lines_until(relay, r"carrier peer (\S+) on (/ip4/127\.0\.0\.1/tcp/\d+)", 40)
        check("swift relay started", m is not None, "\n".join(seen))
        if m is None:
            return
        relay_ma = f"{m.group(2)}/p2p/{m.group(1)}"
        node = start_node(elastos, node_home)
        nodes.append(node)
        m, seen = await read_lines_until(node, r"carrier peer (\S+) on (/ip4/127\.0\.0\.1/tcp/\d+)", 40)
        check("swift node started", m is not None, "\n".join(seen))
        if m is None:
            return
        node_id_text, node_addr = m.group(1), m.group(2)
        node_id = ID.from_base58(node_id_text)

        host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
        async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            store = host.get_peerstore()
            await host.connect(info_from_p2p_addr(multiaddr.Multiaddr(f"{node_addr}/p2p/{node_id_text}")))
            py_id = str(host.get_id())
            # py lists them with its /p2p/<id>; the node keeps them without (as go writes them).
            py_addrs = sorted(str(a).split("/p2p/")[0] for a in host.get_addrs())

            # 1a. py holds our signed record: its peerstore only keeps envelopes that validate.
            async def py_has_record():
                return store.get_peer_record(node_id) is not None
            check("py accepted the node's signed peer record", await wait_for(py_has_record, 10))
            envelope = store.get_peer_record(node_id)
            if envelope is None:
                return
            record = envelope.record()
            first_seq = record.seq
            check("the record is signed by the node's key and names the node",
                  ID.from_pubkey(envelope.public_key) == node_id and record.peer_id == node_id)
            check("the record lists the node's address", [str(a) for a in record.addrs] == [node_addr],
                  str([str(a) for a in record.addrs]))
            check("its seq is a time in nanoseconds", abs(first_seq / 1e9 - time.time()) < 120, str(first_seq))

            # 1b. The node verified py's record and lists its addresses as certified.
            async def node_has_py_record():
                view = await node_view_of(elastos, node_home, py_id)
                return view is not None and "certified_addrs" in view
            check("the node verified py's signed peer record", await wait_for(node_has_py_record, 10))
            view = await node_view_of(elastos, node_home, py_id) or {}
            check("the node's certified addresses for py are py's listen addresses",
                  sorted(view.get("certified_addrs", [])) == py_addrs, f"{view.get('certified_addrs')} vs {py_addrs}")

            # 2. A reservation made at runtime reaches py by identify push.
            status, out, err = await cli(elastos, node_home, "reserve", relay_ma)
            check("elastos peer reserve: exit 0", status == 0, out + err)
            circuit = f"{relay_ma}/p2p-circuit"

            async def py_learned_circuit():
                return any(str(a) == circuit for a in store.addrs(node_id))
            check("py learned the node's circuit address by push", await wait_for(py_learned_circuit, 10),
                  str([str(a) for a in store.addrs(node_id)]))
            newer = store.get_peer_record(node_id)
            newer_record = newer.record() if newer is not None else None
            check("py holds a newer signed record listing the circuit address",
                  newer_record is not None and newer_record.seq > first_seq
                  and [str(a) for a in newer_record.addrs] == [node_addr, circuit],
                  str(newer_record and ([str(a) for a in newer_record.addrs], newer_record.seq)))

            # 3. py pushes to the node.
            async def late_handler(stream):
                await stream.close()
            host.set_stream_handler(LATE, late_handler)
            with trio.fail_after(10):
                pushed = await push_identify_to_peer(host, node_id)
            check("py pushed identify to the node", pushed is not False, repr(pushed))

            async def node_learned_protocol():
                view = await node_view_of(elastos, node_home, py_id)
                return view is not None and LATE in view.get("protocols", [])
            check("the node learned py's new protocol from the push", await wait_for(node_learned_protocol, 10),
                  str((await node_view_of(elastos, node_home, py_id) or {}).get("protocols")))
            view = await node_view_of(elastos, node_home, py_id) or {}
            check("py's certified addresses survive the push",
                  sorted(view.get("certified_addrs", [])) == py_addrs, str(view))
    finally:
        for proc in nodes:
            stop(proc)
    sys.exit(summary())


trio.run(main)
