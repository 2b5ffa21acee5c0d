"""Bulk throughput over one Noise + Yamux stream with py-libp2p 0.8.1, for docs/CARRIER.md.

    python libp2p_bulk.py <path to elastos> <elastos home> [MiB]

Echoes MiB mebibytes (default 16) over /elastos/echo/1.0.0, writing and reading concurrently,
from a py-libp2p dialer to (a) a py-libp2p listener in the same process and (b) `elastos peer
listen`; prints MB/s for each (bytes sent / time until the last echoed byte is back), three
rounds each, and the medians. Run it inside a loopback-only namespace, bounded by `timeout`.
"""
import secrets
import statistics
import subprocess
import sys

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr

ECHO = TProtocol("/elastos/echo/1.0.0")
CHUNK = 65536


async def echo_handler(stream):
    try:
        while True:
            data = await stream.read(CHUNK)
            if not data:
                break
            await stream.write(data)
    except Exception:
        pass
    await stream.close()


async def transfer(host, target, size):
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    await host.connect(info)
    stream = await host.new_stream(info.peer_id, [ECHO])
    payload = secrets.token_bytes(CHUNK)
    received = 0
    start = trio.current_time()

    async def reader():
        nonlocal received
        while received < size:
            try:
                data = await stream.read(CHUNK)
            except EOFError:
                break
            if not data:
                break
            received += len(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        for _ in range(size // CHUNK):
            await stream.write(payload)
    elapsed = trio.current_time() - start
    await stream.close()
    if received != size:
        raise RuntimeError(f"echoed {received} of {size} bytes")
    return size / 1e6 / elapsed


async def main():
    elastos, home = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3] if len(sys.argv) > 3 else 16) << 20
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    server = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
    server.set_stream_handler(ECHO, echo_handler)
    proc = subprocess.Popen([ "timeout", "300", elastos, "peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0",
                             "--duration", "300", "--home", home],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        swift_target = proc.stdout.readline().strip().split(" ", 1)[1]
        async with server.run(listen_addrs=listen):
            py_target = str(server.get_addrs()[0])
            for name, target in (("py-libp2p -> py-libp2p", py_target), ("py-libp2p -> elastos (Swift)", swift_target)):
                rates = []
                for _ in range(3):
                    client = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
                    async with client.run(listen_addrs=listen):
                        rates.append(await transfer(client, target, size))
                print(f"{name}: median {statistics.median(rates):.1f} MB/s (rounds: {', '.join(f'{r:.1f}' for r in rates)})",
                      flush=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    trio.run(main)
