"""Circuit Relay v2 with a Swift relay and two py-libp2p 0.8.1 peers.

    python relay_swift_relay.py <path to elastos> <elastos home>

  1. `elastos node --listen 127.0.0.1 --relay-service` runs our hop service.
  2. A py dest (CircuitV2Transport.reserve) reserves on it and serves an echo protocol.
  3. A py src (a second py host, its own TCP connection to the relay) dials
     `<swift relay>/p2p-circuit/p2p/<dest>` with CircuitV2Transport.dial and echoes over it.
Prints one line per check and closes with "N passed, M failed".
"""
import re
import secrets
import subprocess
import sys
import time

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.envelope import unmarshal_envelope
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_ID, STOP_PROTOCOL_ID as STOP_ID, CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RELAY_RSVP_DOMAIN, VOUCHER_PAYLOAD_TYPE, RelayLimits
from libp2p.relay.circuit_v2.pb.circuit_pb2 import Voucher as PbVoucher
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

ECHO = TProtocol("/probe/echo/1.0.0")
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


async def read_lines_until(proc, pattern, seconds):
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        line = await trio.to_thread.run_sync(proc.stderr.readline)
        if not line:
            break
        text = line.decode(errors="replace").rstrip()
        seen.append(text)
        m = re.search(pattern, text)
        if m:
            return m, seen
    return None, seen


async def echo_handler(stream):
    try:
        while True:
            data = await stream.read(65536)
            if not data:
                break
            await stream.write(data)
    except Exception:
        pass
    finally:
        await stream.close()


def relay_host(allow_hop=False):
    limits = RelayLimits(duration=3600, data=100 * 1024 * 1024, max_circuit_conns=10, max_reservations=5)
    host = new_host(key_pair=create_new_key_pair(secrets.token_bytes(32)))
    protocol = CircuitV2Protocol(host, limits=limits, allow_hop=allow_hop)
    config = RelayConfig(roles=RelayRole.STOP | RelayRole.CLIENT, limits=limits)
    return host, protocol, config


async def main():
    elastos, home = sys.argv[1], sys.argv[2]
    relay = subprocess.Popen(
        ["timeout", "90", elastos, "node", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--relay-service"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m, seen = await read_lines_until(relay, r"carrier peer (\S+) on (/ip4/127\.0\.0\.1/tcp/\d+)", 40)
        check("swift relay started", m is not None, "\n".join(seen))
        if m is None:
            return
        relay_id, relay_tcp = m.group(1), m.group(2)
        relay_ma = f"{relay_tcp}/p2p/{relay_id}"
        print(f"swift relay at {relay_ma}", flush=True)
        # Printed before the carrier line.
        check("swift relay service on", any("relay service on" in line for line in seen), "\n".join(seen))

        dest, dest_proto, dest_config = relay_host()
        src, src_proto, src_config = relay_host()
        any_addr = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
        async with dest.run(listen_addrs=any_addr), src.run(listen_addrs=any_addr), trio.open_nursery() as nursery:
            for h, p in ((dest, dest_proto), (src, src_proto)):
                h.set_stream_handler(HOP_ID, p._handle_hop_stream)
                h.set_stream_handler(STOP_ID, p._handle_stop_stream)
            dest.set_stream_handler(ECHO, echo_handler)
            async with background_trio_service(dest_proto), background_trio_service(src_proto):
                dest_transport = CircuitV2Transport(dest, dest_proto, dest_config)
                src_transport = CircuitV2Transport(src, src_proto, src_config)
                relay_info = info_from_p2p_addr(multiaddr.Multiaddr(relay_ma))

                # 1. py dest reserves on the Swift relay.
                await dest.connect(relay_info)
                stream = await dest.new_stream(relay_info.peer_id, [HOP_ID])
                ok = await dest_transport.reserve(stream, relay_info.peer_id, nursery)
                check("py dest reserved on the swift relay", bool(ok))
                proof = dest_transport._reservation_proofs.get(relay_info.peer_id)
                expires = getattr(proof, "expire", 0) if proof is not None else 0
                check("the reservation expires about an hour ahead", 3000 < expires - time.time() < 3700, str(expires))
                # Our voucher, checked by py-libp2p's own envelope code: signed by the relay over
                # the libp2p-relay-rsvp domain, naming the relay, the dest and the expiry.
                voucher = bytes(getattr(proof, "voucher", b"") or b"")
                try:
                    envelope = unmarshal_envelope(voucher)
                    envelope.validate(RELAY_RSVP_DOMAIN)
                    body = PbVoucher()
                    body.ParseFromString(bytes(envelope.raw_payload))
                    check("the swift relay's voucher is a valid signed envelope (py validates it)",
                          bytes(envelope.payload_type) == VOUCHER_PAYLOAD_TYPE
                          and ID.from_pubkey(envelope.public_key) == relay_info.peer_id)
                    check("the voucher names the relay, the dest and the expiry",
                          ID(body.relay) == relay_info.peer_id and ID(body.peer) == dest.get_id() and body.expiration == expires,
                          f"{ID(body.relay)} {ID(body.peer)} {body.expiration}")
                except Exception as error:
                    check("the swift relay's voucher is a valid signed envelope (py validates it)", False, f"{error!r} ({len(voucher)} bytes)")

                # 2. py src dials the dest through the Swift relay and echoes.
                await src.connect(relay_info)
                circuit = multiaddr.Multiaddr(f"{relay_ma}/p2p-circuit/p2p/{dest.get_id()}")
                with trio.fail_after(30):
                    await src_transport.dial(circuit)
                check("py src dialled the dest through the swift relay", True)
                with trio.fail_after(30):
                    echo = await src.new_stream(dest.get_id(), [ECHO])
                    payload = secrets.token_bytes(3000)
                    await echo.write(payload)
                    back = b""
                    while len(back) < len(payload):
                        chunk = await echo.read(65536)
                        if not chunk:
                            break
                        back += chunk
                    await echo.close()
                check("echo over the swift relay's circuit", back == payload, f"{len(back)} of {len(payload)} bytes")

                # 3. A CONNECT to a peer without a reservation (src never reserved) is refused.
                from libp2p.relay.circuit_v2.pb.circuit_pb2 import HopMessage, PeerId, Status
                from libp2p.utils import read_varint_prefixed_bytes, encode_varint_prefixed
                hop = await src.new_stream(relay_info.peer_id, [HOP_ID])
                await hop.write(encode_varint_prefixed(
                    HopMessage(type=HopMessage.CONNECT, peer=PeerId(id=src.get_id().to_bytes())).SerializeToString()))
                with trio.fail_after(10):
                    answer = HopMessage()
                    answer.ParseFromString(await read_varint_prefixed_bytes(hop))
                check("CONNECT without a reservation is refused with NO_RESERVATION",
                      answer.type == HopMessage.STATUS and answer.status == Status.NO_RESERVATION, str(answer))
                nursery.cancel_scope.cancel()
    finally:
        relay.terminate()
        try:
            relay.wait(5)
        except subprocess.TimeoutExpired:
            relay.kill()
        failed = results.count(False)
        print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if results.count(False) else 0)


trio.run(main)
