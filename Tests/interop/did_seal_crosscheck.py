"""Cross-checks sealing to a did:key (docs/DID.md, Sealing) against independent implementations:
libsodium (through pynacl) for the Ed25519 -> X25519 conversions, and pyhpke (RFC 9180 on
pyca/cryptography) for HPKE base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
ChaCha20-Poly1305 and info "elastos.did.seal.v1".

Reads JSON lines on stdin: {"seed","public_key","x25519","x25519_private","aad","plaintext","sealed"}
(hex), where `sealed` is what elastos sealed to the key. For each line, converts the keys with
libsodium only (not with the values given), opens `sealed` with pyhpke, and seals a message of
its own to the libsodium-converted public key. Prints one JSON line per input,
{"problems":[...],"aad","plaintext","sealed"} (the last three for elastos to open), then
"N passed, M failed".
"""
import json
import os
import sys

import nacl.bindings as sodium
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

INFO = b"elastos.did.seal.v1"
SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305)


def clamp(scalar: bytes) -> bytes:
    b = bytearray(scalar)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return bytes(b)


def check(v):
    problems = []
    seed, pub = bytes.fromhex(v["seed"]), bytes.fromhex(v["public_key"])
    x_pub = sodium.crypto_sign_ed25519_pk_to_curve25519(pub)
    x_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(seed + pub)
    if x_pub.hex() != v["x25519"]:
        problems.append(f"x25519: libsodium {x_pub.hex()}, elastos {v['x25519']}")
    if x_sk != clamp(bytes.fromhex(v["x25519_private"])):
        problems.append("x25519_private differs from libsodium's sk_to_curve25519")

    # Python opens what elastos sealed, with the libsodium-converted private key.
    sealed, aad = bytes.fromhex(v["sealed"]), bytes.fromhex(v["aad"])
    try:
        recipient = SUITE.create_recipient_context(sealed[:32], SUITE.kem.deserialize_private_key(x_sk), info=INFO)
        opened = recipient.open(sealed[32:], aad=aad)
        if opened.hex() != v["plaintext"]:
            problems.append("pyhpke opened elastos's seal to a different plaintext")
    except Exception as e:  # noqa: BLE001 - any failure to open is the finding
        problems.append(f"pyhpke could not open elastos's seal: {type(e).__name__}: {e}")
    # The wrong AAD must not open.
    try:
        recipient = SUITE.create_recipient_context(sealed[:32], SUITE.kem.deserialize_private_key(x_sk), info=INFO)
        recipient.open(sealed[32:], aad=aad + b"!")
        problems.append("pyhpke opened elastos's seal with the wrong AAD")
    except Exception:  # noqa: BLE001
        pass

    # Python seals to the libsodium-converted public key, for elastos to open.
    plaintext = os.urandom(len(v["plaintext"]) // 2 + 5)
    py_aad = aad + b"|from-python"
    enc, sender = SUITE.create_sender_context(SUITE.kem.deserialize_public_key(x_pub), info=INFO)
    py_sealed = enc + sender.seal(plaintext, aad=py_aad)
    return problems, {"aad": py_aad.hex(), "plaintext": plaintext.hex(), "sealed": py_sealed.hex()}


def main():
    passed = failed = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        problems, answer = check(json.loads(line))
        answer["problems"] = problems
        print(json.dumps(answer))
        if problems:
            failed += 1
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")


main()
