"""Chat interop against py-libp2p 0.8.1 and PyNaCl: the chat wire format (docs/CHAT.md) as an
independent implementation sees it.

Run inside a loopback-only network namespace (the Swift test does this with `unshare`):

    python libp2p_chat.py <path to elastos> <elastos home with the chat capsule installed>

  1. A py-libp2p GossipSub node listens and subscribes to the room topic
     `elastos/chat/1/#general`; `elastos node` starts with Carrier and `elastos chat --json
     --connect <py>` joins. What alice types reaches py as a valid libp2p pubsub message
     (py-libp2p checks the signature strictly; PyNaCl checks it again), and its data decodes as
     a version-1 chat envelope whose own signature — Ed25519 by alice's did:key over the DID
     provider's statement of the envelope — PyNaCl verifies.
  2. py builds and signs an envelope itself from the spec (its own did:key) and publishes it:
     alice's chat shows it, verified; one with a flipped signature byte is dropped.
Prints one line per check and closes with "N passed, M failed".
"""
import json
import os
import secrets
import struct
import subprocess
import sys
import time

import base58
import multiaddr
import nacl.signing
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

ROOM = "#general"
TOPIC = "elastos/chat/1/" + ROOM
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


# --- the envelope, from docs/CHAT.md -------------------------------------------------------

def text(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def blob(b):
    return struct.pack(">I", len(b)) + b


def unsigned_envelope(kind, room, sender, app, nick, to, ts, msg_id, content):
    return bytes([1, kind]) + text(room) + text(sender) + text(app) + text(nick) + text(to) \
        + struct.pack(">Q", ts) + blob(msg_id) + blob(content)


def statement(app, unsigned):
    """The exact bytes the DID provider signs: its domain, the app, the chat domain, the envelope."""
    a = app.encode()
    message = b"elastos.chat.envelope.v1\x00" + unsigned
    return b"elastos.did.capsule-signature.v1\x00" + struct.pack(">H", len(a)) + a + message


def decode_envelope(data):
    out, i = {}, 0

    def take(n):
        nonlocal i
        if i + n > len(data):
            raise ValueError("truncated")
        b = data[i:i + n]
        i += n
        return b
    out["version"], out["kind"] = take(1)[0], take(1)[0]
    for f in ["room", "sender", "app", "nick", "to"]:
        n = struct.unpack(">H", take(2))[0]
        out[f] = take(n).decode()
    out["ts"] = struct.unpack(">Q", take(8))[0]
    for f in ["id", "content"]:
        n = struct.unpack(">I", take(4))[0]
        out[f] = take(n)
    unsigned = data[:i]
    n = struct.unpack(">I", take(4))[0]
    out["signature"] = take(n)
    if i != len(data):
        raise ValueError("trailing bytes")
    return out, unsigned


def did_key(verify_key_bytes):
    return "did:key:z" + base58.b58encode(b"\xed\x01" + verify_key_bytes).decode()


def did_public_key(did):
    raw = base58.b58decode(did[len("did:key:z"):])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34
    return raw[2:]


# --- processes ------------------------------------------------------------------------------

class Chat:
    def __init__(self, elastos, home, connect):
        self.proc = subprocess.Popen(["timeout", "120", elastos, "chat", "--json", "--home", home, "--nick", "alice",
                                      "--connect", connect], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.events = []

    async def next_event(self, predicate, seconds=40):
        with trio.move_on_after(seconds):
            for e in self.events:
                if predicate(e):
                    return e
            while True:
                line = await trio.to_thread.run_sync(self.proc.stdout.readline)
                if not line:
                    return None
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                self.events.append(e)
                if predicate(e):
                    return e
        return None

    async def nth_event(self, name, index, seconds=40):
        """The event called `name` after the first `index` of them (counting from 0)."""
        seen = []

        def matches(e):
            if e.get("event") == name:
                seen.append(e)
            return len(seen) > index
        seen.clear()
        return await self.next_event(matches, seconds)

    def type(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def main():
    elastos, home = sys.argv[1], sys.argv[2]
    node = subprocess.Popen(["timeout", "150", elastos, "node", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chat = None
    try:
        for _ in range(600):
            if os.path.exists(os.path.join(home, "control.sock")):
                break
            time.sleep(0.05)
        host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
        router = GossipSub(protocols=["/meshsub/1.1.0", "/meshsub/1.0.0"], degree=3, degree_low=2, degree_high=4,
                           heartbeat_interval=1)
        pubsub = Pubsub(host, router, strict_signing=True)
        async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]), \
                background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            subscription = await pubsub.subscribe(TOPIC)
            target = next(str(a) for a in host.get_addrs() if "/tcp/" in str(a))
            if "/p2p/" not in target:
                target += f"/p2p/{host.get_id()}"
            chat = Chat(elastos, home, target)
            ready = await chat.next_event(lambda e: e.get("event") == "ready")
            check("chat started", ready is not None and ready.get("app") == "chat", str(ready))
            if ready is None:
                return
            connected = await chat.next_event(lambda e: e.get("event") == "connected")
            check("chat connected to py by multiaddr", connected is not None and connected.get("peer") == str(host.get_id()),
                  str(connected))
            swift = ID.from_base58(ready["peer"])
            await pubsub.wait_for_subscription(swift, TOPIC, timeout=20)

            # 1. chat → py. py has seen the chat node's subscription; the chat node must also have
            # seen py's before its publish can reach py (on a loaded machine it may not yet have):
            # send until the chat says the message went to a peer.
            for attempt in range(40):
                before = sum(1 for e in chat.events if e.get("event") == "sent")
                chat.type("hello py-libp2p")
                sent = await chat.nth_event("sent", before, 20)
                if sent is not None and sent.get("recipients", 0) >= 1:
                    break
                await trio.sleep(0.5)
            message = None
            with trio.move_on_after(20):
                while True:
                    m = await subscription.get()
                    env, _ = decode_envelope(m.data)
                    if env["kind"] == 1:
                        message = m
                        break
            check("py's strict-signing subscription received alice's message", message is not None)
            if message is None:
                return
            check("libp2p author is the chat node's PeerID", ID(message.from_id) == swift, str(ID(message.from_id)))
            unsigned_msg = type(message)()
            unsigned_msg.CopyFrom(message)
            unsigned_msg.ClearField("signature")
            unsigned_msg.ClearField("key")
            try:
                nacl.signing.VerifyKey(swift.extract_public_key().to_bytes()).verify(
                    b"libp2p-pubsub:" + unsigned_msg.SerializeToString(), message.signature)
                ok = True
            except Exception:  # noqa: BLE001
                ok = False
            check("libp2p signature verifies with PyNaCl", ok)
            env, unsigned = decode_envelope(message.data)
            check("envelope: version 1, kind message", env["version"] == 1 and env["kind"] == 1, str(env))
            check("envelope: room, nick, app, text", (env["room"], env["nick"], env["app"], env["content"])
                  == (ROOM, "alice", "chat", b"hello py-libp2p"), str(env))
            check("envelope: sender is the node's did:key", env["sender"] == ready["did"], env["sender"])
            check("envelope: sender did:key and libp2p PeerID are one key",
                  did_public_key(env["sender"]) == swift.extract_public_key().to_bytes())
            check("envelope: 16-byte id, timestamp in ms near now",
                  len(env["id"]) == 16 and abs(env["ts"] - time.time() * 1000) < 60_000, str(env["ts"]))
            try:
                nacl.signing.VerifyKey(did_public_key(env["sender"])).verify(statement(env["app"], unsigned), env["signature"])
                ok = True
            except Exception:  # noqa: BLE001
                ok = False
            check("envelope signature verifies with PyNaCl over the documented statement", ok)

            # 2. py → chat: an envelope built and signed here, from the spec alone.
            key = nacl.signing.SigningKey.generate()
            did = did_key(bytes(key.verify_key))
            now = int(time.time() * 1000)
            unsigned = unsigned_envelope(1, ROOM, did, "py-chat", "pybot", "", now, secrets.token_bytes(16), b"hi from python")
            good = unsigned + blob(key.sign(statement("py-chat", unsigned)).signature)
            unsigned_bad = unsigned_envelope(1, ROOM, did, "py-chat", "pybot", "", now, secrets.token_bytes(16), b"tampered")
            sig = bytearray(key.sign(statement("py-chat", unsigned_bad)).signature)
            sig[0] ^= 1
            bad = unsigned_bad + blob(bytes(sig))
            # py-libp2p publishes to its mesh: wait until the chat node has been grafted into it.
            await pubsub.wait_for_mesh(swift, TOPIC, timeout=15)
            await pubsub.publish(TOPIC, bad)
            await pubsub.publish(TOPIC, good)
            shown = await chat.next_event(lambda e: e.get("event") == "message" and e.get("nick") == "pybot")
            check("alice's chat shows py's envelope", shown is not None and shown.get("text") == "hi from python"
                  and shown.get("did") == did and shown.get("app") == "py-chat", str(shown))
            check("the tampered one was not shown", not any(e.get("text") == "tampered" for e in chat.events))
            dropped = await chat.next_event(lambda e: e.get("event") == "dropped" and "does not verify" in e.get("text", ""), 10)
            check("the tampered one was dropped for its signature", dropped is not None, str(chat.events[-5:]))
    finally:
        if chat is not None:
            chat.close()
        node.terminate()
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()


if __name__ == "__main__":
    try:
        trio.run(main)
    except BaseException as e:  # report, then still print the summary line
        check("run completed", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
