"""Cross-checks DID documents and the derived X25519 key-agreement keys that `elastos` builds
against independent implementations: libsodium (through pynacl) for the Ed25519 → X25519
conversions, and didkit (Spruce's ssi) for did:key resolution.

Reads JSON lines on stdin: {"seed","public_key","did","x25519","x25519_private","document"}
(hex for bytes, the document as JSON text). Prints "ok" or "MISMATCH <field>: …" per line, then
"N passed, M failed".
"""
import asyncio
import base64
import json
import os
import sys

import base58
import nacl.bindings as sodium
import didkit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def clamp(scalar: bytes) -> bytes:
    b = bytearray(scalar)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return bytes(b)


async def check(v):
    problems = []
    seed, pub = bytes.fromhex(v["seed"]), bytes.fromhex(v["public_key"])
    x_pub = sodium.crypto_sign_ed25519_pk_to_curve25519(pub)
    if x_pub.hex() != v["x25519"]:
        problems.append(("x25519 (libsodium pk_to_curve25519)", x_pub.hex(), v["x25519"]))
    x_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(seed + pub)
    if x_sk != clamp(bytes.fromhex(v["x25519_private"])):
        problems.append(("x25519_private (libsodium sk_to_curve25519)", x_sk.hex(), v["x25519_private"]))
    if sodium.crypto_scalarmult_base(x_sk).hex() != v["x25519"]:
        problems.append(("x25519 (scalarmult_base of the private key)", sodium.crypto_scalarmult_base(x_sk).hex(), v["x25519"]))

    ours = json.loads(v["document"])
    did = v["did"]
    ka = "z" + base58.b58encode(b"\xec\x01" + x_pub).decode()
    got_ka = [m.get("publicKeyMultibase") for m in ours.get("keyAgreement", [])]
    if got_ka != [ka]:
        problems.append(("keyAgreement", ka, got_ka))

    theirs = json.loads(await didkit.resolve_did(did, "{}"))
    if theirs["id"] != ours["id"]:
        problems.append(("id", theirs["id"], ours["id"]))
    t_vm, o_vm = theirs["verificationMethod"][0], ours["verificationMethod"][0]
    for field in ("id", "controller"):
        if t_vm[field] != o_vm[field]:
            problems.append((f"verificationMethod.{field}", t_vm[field], o_vm[field]))
    if t_vm["publicKeyJwk"]["x"] != b64url(pub) or o_vm["publicKeyMultibase"] != did[len("did:key:"):]:
        problems.append(("verificationMethod key", t_vm["publicKeyJwk"]["x"], o_vm["publicKeyMultibase"]))
    for relation in ("authentication", "assertionMethod"):
        if theirs.get(relation) != ours.get(relation):
            problems.append((relation, theirs.get(relation), ours.get(relation)))
    return problems


async def main():
    passed = failed = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        problems = await check(json.loads(line))
        if problems:
            failed += 1
            for f, want, got in problems:
                print(f"MISMATCH {f}: expected {want} got {got}")
        else:
            passed += 1
            print("ok")
    print(f"{passed} passed, {failed} failed")


asyncio.run(main())
sys.stdout.flush()
# didkit 0.3.3's runtime can crash while the interpreter shuts down, after all output is written.
os._exit(0)
