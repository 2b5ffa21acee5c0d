"""Carrier interop against py-libp2p 0.8.1 (pinned in requirements.txt).

Run inside a loopback-only network namespace (the Swift test does this with `unshare -rn`):

    python libp2p_peer.py <path to elastos> <elastos home>

Both directions, each step a real process:
  1. py listens; `elastos peer ping` dials it (Noise + Yamux), identifies it, pings it.
  2. `elastos peer listen` listens; py dials it, pings it, identifies it and echoes over a
     custom protocol, then pushes an identify update.
Prints one line per check and closes with "N passed, M failed".
"""
import json
import os
import secrets
import subprocess
import sys

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr

PING = TProtocol("/ipfs/ping/1.0.0")
IDENTIFY = TProtocol("/ipfs/id/1.0.0")
ECHO = TProtocol("/elastos/echo/1.0.0")

results = []


def check(name, ok, detail=""):
    """Records one check; the detail is printed only when it failed."""
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


async def read_to_end(stream):
    out = b""
    while True:
        try:
            chunk = await stream.read(65536)
        except EOFError:  # py-libp2p raises StreamEOF (an EOFError) at the end
            break
        if not chunk:
            break
        out += chunk
    return out


def read_varint(data):
    value, shift = 0, 0
    for i, b in enumerate(data):
        value |= (b & 0x7F) << shift
        if b & 0x80 == 0:
            return value, i + 1
        shift += 7
    raise ValueError("truncated varint")


def parse_identify(raw):
    from libp2p.identity.identify.pb.identify_pb2 import Identify
    length, used = read_varint(raw)
    msg = Identify()
    msg.ParseFromString(raw[used:used + length])
    return msg


async def read_exactly(stream, n):
    out = b""
    while len(out) < n:
        chunk = await stream.read(n - len(out))
        if not chunk:
            raise EOFError("stream closed")
        out += chunk
    return out


async def py_listens(elastos, home):
    """Swift dials Python."""
    host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        addrs = [str(a) for a in host.get_addrs()]
        target = next(a for a in addrs if "/tcp/" in a)
        if "/p2p/" not in target:
            target += f"/p2p/{host.get_id()}"
        proc = await trio.run_process(
            ["timeout", "60", elastos, "peer", "ping", target, "--count", "3", "--home", home],
            capture_stdout=True, capture_stderr=True, check=False)
        out = proc.stdout.decode()
        print(out.strip(), flush=True)
        check("swift dials py: exit 0", proc.returncode == 0, proc.stderr.decode().strip())
        check("swift dials py: connected to the right peer", f"Connected to {host.get_id()}" in out, out)
        check("swift dials py: identify saw py-libp2p", "Agent: py-libp2p/0.8.1" in out, out)
        check("swift dials py: identify listed ping", "/ipfs/ping/1.0.0" in out, out)
        check("swift dials py: three pings", out.count(" ms") == 3, out)
        # py identified the Swift dialer too (it runs identify on every new connection): its
        # peerstore holds the protocols the Swift node announced.
        swift_peers = [p for p in host.get_peerstore().peer_ids() if p != host.get_id()]
        announced = [str(p) for peer in swift_peers for p in host.get_peerstore().get_protocols(peer)]
        check("py identified the swift dialer", "/ipfs/ping/1.0.0" in announced and "/ipfs/id/1.0.0" in announced,
              " ".join(announced))


async def swift_listens(elastos, home):
    """Python dials Swift."""
    proc = subprocess.Popen(
        ["timeout", "60", elastos, "peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--duration", "60", "--home", home],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        line = line.decode().strip()
        check("swift listens: printed its address", line.startswith("LISTEN /ip4/127.0.0.1/tcp/"), line)
        if not line.startswith("LISTEN "):
            return
        target = line.split(" ", 1)[1]
        host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
        async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            info = info_from_p2p_addr(multiaddr.Multiaddr(target))
            with trio.fail_after(20):
                await host.connect(info)
            check("py dials swift: connected", True)
            stream = await host.new_stream(info.peer_id, [PING])
            rtts = []
            for _ in range(3):
                payload = secrets.token_bytes(32)
                start = trio.current_time()
                await stream.write(payload)
                echo = await read_exactly(stream, 32)
                rtts.append((trio.current_time() - start) * 1000)
                check("py dials swift: ping echoed", echo == payload)
            await stream.close()
            print("py->swift ping ms: " + " ".join(f"{r:.3f}" for r in rtts), flush=True)

            stream = await host.new_stream(info.peer_id, [IDENTIFY])
            raw = await read_to_end(stream)
            ident = parse_identify(raw)
            check("py dials swift: identify agent", ident.agent_version.startswith("elastos-carrier/"), ident.agent_version)
            check("py dials swift: identify protocols", "/ipfs/ping/1.0.0" in ident.protocols and str(ECHO) in ident.protocols,
                  " ".join(ident.protocols))
            check("py dials swift: identify public key", bytes(ident.public_key) == info.peer_id.extract_public_key().serialize())
            listen = [str(multiaddr.Multiaddr(a)) for a in ident.listen_addrs]
            check("py dials swift: identify listen addrs", target.rsplit("/p2p/", 1)[0] in listen, " ".join(listen))

            stream = await host.new_stream(info.peer_id, [ECHO])
            data = secrets.token_bytes(300_000)  # more than one 256 KiB window
            received = bytearray()

            async def reader():
                while len(received) < len(data):
                    try:
                        chunk = await stream.read(65536)
                    except EOFError:
                        break
                    if not chunk:
                        break
                    received.extend(chunk)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                for i in range(0, len(data), 16384):
                    await stream.write(data[i:i + 16384])
            check("py dials swift: 300 kB echo", bytes(received) == data, f"{len(received)} bytes back")
            await stream.close()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        err = proc.stderr.read().decode().strip()
        if err:
            print("swift stderr: " + err, flush=True)


async def main():
    elastos, home = sys.argv[1], sys.argv[2]
    with trio.fail_after(120):
        await py_listens(elastos, home)
        await swift_listens(elastos, home)


if __name__ == "__main__":
    try:
        trio.run(main)
    except BaseException as e:  # report, then still print the summary line
        check("run completed", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
