"""Carrier GossipSub interop against py-libp2p 0.8.1 (pinned in requirements.txt).

Run inside a loopback-only network namespace (the Swift test does this with `unshare`):

    python libp2p_pubsub.py <path to elastos> <elastos home> <second elastos home>

Both directions, each side a real process, py-libp2p with strict signing (its default):
  1. py publishes, Swift receives: `elastos peer sub --listen … --json --count 3` listens; a py
     GossipSub node (offering /meshsub/1.2.0, 1.1.0, 1.0.0) dials it, subscribes, waits until
     the Swift node has announced the topic and is in py's mesh (GRAFT accepted), and publishes
     three messages. The Swift node must print each with py's PeerID as author and sender, the
     right data and py's seqno.
  2. Swift publishes, py receives: py listens and subscribes; `elastos peer pub --connect …`
     publishes one message; py's subscription must yield it (py drops messages whose signature
     does not verify), from the Swift PeerID, and the signature is also checked here with PyNaCl.
  3. floodsub: a py FloodSub node publishes to `elastos peer sub` (which must negotiate
     /floodsub/1.0.0 for its outbound stream) and the message arrives verified.
Prints one line per check and closes with "N passed, M failed".
"""
import json
import secrets
import subprocess
import sys

import multiaddr
import nacl.signing
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.floodsub import FloodSub
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

TOPIC = "elastos-interop"
GOSSIP_PROTOCOLS = ["/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"]

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def gossip_router():
    return GossipSub(protocols=GOSSIP_PROTOCOLS, degree=3, degree_low=2, degree_high=4, heartbeat_interval=1)


def start_swift(args):
    return subprocess.Popen(["timeout", "60"] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, label):
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = proc.stderr.read().strip()
    if err:
        print(f"{label} stderr: {err}", flush=True)
    return proc.returncode


async def read_line(proc):
    return (await trio.to_thread.run_sync(proc.stdout.readline)).strip()


async def read_until(proc, prefix, limit=20):
    """Reads lines until one starts with `prefix` (printing the others)."""
    for _ in range(limit):
        line = await read_line(proc)
        if line.startswith(prefix) or line == "":
            return line
        print(f"swift: {line}", flush=True)
    return ""


async def py_publishes(elastos, home):
    proc = start_swift([elastos, "peer", "sub", TOPIC, "--listen", "/ip4/127.0.0.1/tcp/0", "--json", "--count", "3",
                        "--timeout", "40", "--home", home])
    try:
        line = await read_line(proc)
        check("py→swift: swift listens", line.startswith("LISTEN /ip4/127.0.0.1/tcp/"), line)
        if not line.startswith("LISTEN "):
            return
        target = line.split(" ", 1)[1]
        check("py→swift: swift subscribed", (await read_line(proc)) == f"SUBSCRIBED {TOPIC}")
        swift = info_from_p2p_addr(multiaddr.Multiaddr(target))
        key_pair = create_new_key_pair(secrets.token_bytes(32))
        host = new_host(key_pair=key_pair)
        router = gossip_router()
        pubsub = Pubsub(host, router)
        async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]), \
                background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            await pubsub.subscribe(TOPIC)
            with trio.fail_after(20):
                await host.connect(swift)
            await pubsub.wait_for_subscription(swift.peer_id, TOPIC, timeout=15)
            check("py→swift: py saw swift's subscription", True)
            check("py→swift: negotiated meshsub 1.1", str(router.peer_protocol.get(swift.peer_id)) == "/meshsub/1.1.0",
                  str(router.peer_protocol.get(swift.peer_id)))
            peer_line = await read_until(proc, "PEER ")
            check("py→swift: swift saw py join the topic", peer_line == f"PEER {host.get_id()}", peer_line)
            await pubsub.wait_for_mesh(swift.peer_id, TOPIC, timeout=15)
            check("py→swift: swift is in py's mesh", True)
            sent = [f"py→swift message {i}".encode() for i in range(3)]
            for data in sent:
                await pubsub.publish(TOPIC, data)
            received = []
            with trio.move_on_after(20):
                while len(received) < 3:
                    line = await read_line(proc)
                    if not line:
                        break
                    if line.startswith("{"):
                        received.append(json.loads(line))
                    else:
                        print(f"swift: {line}", flush=True)
            check("py→swift: three messages arrived", len(received) == 3, str(received))
            py_id = str(host.get_id())
            check("py→swift: author is py", all(m["from"] == py_id for m in received), str(received))
            check("py→swift: received from py", all(m["received_from"] == py_id for m in received), str(received))
            check("py→swift: data intact and in order", [m["data"].encode() for m in received] == sent, str(received))
            seqnos = [int(m["seqno"], 16) for m in received]
            check("py→swift: 8-byte increasing seqnos", all(len(m["seqno"]) == 16 for m in received)
                  and seqnos == sorted(seqnos) and len(set(seqnos)) == 3, str(seqnos))
        status = await trio.to_thread.run_sync(proc.wait)
        check("py→swift: sub exits 0 after --count", status == 0, f"status {status}")
    finally:
        finish(proc, "sub")


async def swift_publishes(elastos, home):
    host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
    router = gossip_router()
    pubsub = Pubsub(host, router, strict_signing=True)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]), \
            background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        subscription = await pubsub.subscribe(TOPIC)
        target = next(str(a) for a in host.get_addrs() if "/tcp/" in str(a))
        if "/p2p/" not in target:
            target += f"/p2p/{host.get_id()}"
        text = "swift→py: signed by the node key ✓"
        proc = await trio.run_process(
            ["timeout", "40", elastos, "peer", "pub", TOPIC, text, "--connect", target, "--home", home],
            capture_stdout=True, capture_stderr=True, check=False)
        print(proc.stdout.decode().strip(), flush=True)
        out = next((l for l in proc.stdout.decode().splitlines() if l.startswith("PUBLISHED ")), "")
        check("swift→py: pub exits 0", proc.returncode == 0, proc.stderr.decode().strip())
        check("swift→py: pub reached one peer", out.startswith("PUBLISHED ") and out.endswith("peers=1"), out)
        message = None
        with trio.move_on_after(15):
            message = await subscription.get()
        check("swift→py: py's subscription received it (strict signing)", message is not None)
        if message is None:
            return
        check("swift→py: data intact", message.data == text.encode(), repr(message.data))
        author = ID(message.from_id)
        check("swift→py: seqno is 8 bytes", len(message.seqno) == 8, message.seqno.hex())
        check("swift→py: topic", list(message.topicIDs) == [TOPIC], str(list(message.topicIDs)))
        # The signature, checked independently: Ed25519 over "libp2p-pubsub:" ‖ message without signature and key.
        public_key = author.extract_public_key().to_bytes()
        unsigned = type(message)()
        unsigned.CopyFrom(message)
        unsigned.ClearField("signature")
        unsigned.ClearField("key")
        try:
            nacl.signing.VerifyKey(public_key).verify(b"libp2p-pubsub:" + unsigned.SerializeToString(), message.signature)
            verified = True
        except Exception as e:  # noqa: BLE001
            verified = False
            print(f"signature check: {e!r}", flush=True)
        check("swift→py: signature verifies with PyNaCl", verified)
        check("swift→py: key field is the author's", message.key == author.extract_public_key().serialize(), message.key.hex())
        check("swift→py: message id in pub output", out.split()[1] == "id=" + (message.from_id + message.seqno).hex(), out)


async def floodsub_publishes(elastos, home):
    proc = start_swift([elastos, "peer", "sub", TOPIC, "--listen", "/ip4/127.0.0.1/tcp/0", "--count", "1",
                        "--timeout", "40", "--home", home])
    try:
        line = await read_line(proc)
        if not line.startswith("LISTEN "):
            check("floodsub: swift listens", False, line)
            return
        target = line.split(" ", 1)[1]
        swift = info_from_p2p_addr(multiaddr.Multiaddr(target))
        host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
        router = FloodSub(protocols=["/floodsub/1.0.0"])
        pubsub = Pubsub(host, router)
        async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]), background_trio_service(pubsub):
            await pubsub.wait_until_ready()
            with trio.fail_after(20):
                await host.connect(swift)
            await pubsub.wait_for_subscription(swift.peer_id, TOPIC, timeout=15)
            await pubsub.publish(TOPIC, b"over floodsub")
            msg_line = await read_until(proc, "MSG ")
            check("floodsub: swift printed the message from py",
                  msg_line.startswith(f"MSG from={host.get_id()} seqno=") and msg_line.endswith(" data=over floodsub"), msg_line)
        status = await trio.to_thread.run_sync(proc.wait)
        check("floodsub: sub exits 0", status == 0, f"status {status}")
    finally:
        finish(proc, "floodsub sub")


async def main():
    elastos, home, second_home = sys.argv[1], sys.argv[2], sys.argv[3]
    with trio.fail_after(150):
        await py_publishes(elastos, home)
        await swift_publishes(elastos, second_home)
        await floodsub_publishes(elastos, home)


if __name__ == "__main__":
    try:
        trio.run(main)
    except BaseException as e:  # report, then still print the summary line
        check("run completed", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
