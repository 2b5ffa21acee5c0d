"""Cross-checks Ed25519 keys, signatures, did:key and PeerIDs produced by `elastos` against
independent implementations: pynacl (libsodium), base58, py-multiformats and didkit.

Reads JSON lines on stdin: {"seed","public_key","did","peer_id","peer_id_cid","message","signature"}
(hex for bytes). Prints one line per input: "ok" or "MISMATCH <field>: expected <x> got <y>",
then a summary line "N passed, M failed".
"""
import json
import sys

import base58
import nacl.signing
from multiformats import CID, multihash

try:
    import didkit  # optional third implementation of did:key
except ImportError:  # pragma: no cover
    didkit = None


def b64url(data: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


passed = failed = 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    v = json.loads(line)
    problems = []
    seed = bytes.fromhex(v["seed"])
    sk = nacl.signing.SigningKey(seed)
    pub = bytes(sk.verify_key)
    if pub.hex() != v["public_key"]:
        problems.append(("public_key", pub.hex(), v["public_key"]))
    msg = bytes.fromhex(v["message"])
    sig = sk.sign(msg).signature
    if sig.hex() != v["signature"]:
        problems.append(("signature", sig.hex(), v["signature"]))
    try:
        sk.verify_key.verify(msg, bytes.fromhex(v["signature"]))
    except Exception as e:  # noqa: BLE001
        problems.append(("signature_verify", "valid", str(e)))
    did = "did:key:z" + base58.b58encode(b"\xed\x01" + pub).decode()
    if did != v["did"]:
        problems.append(("did", did, v["did"]))
    if didkit is not None:
        jwk = json.dumps({"kty": "OKP", "crv": "Ed25519", "x": b64url(pub)})
        dk = didkit.key_to_did("key", jwk)
        if dk != v["did"]:
            problems.append(("didkit_did", dk, v["did"]))
    protobuf = b"\x08\x01\x12\x20" + pub
    peer = base58.b58encode(b"\x00\x24" + protobuf).decode()
    if peer != v["peer_id"]:
        problems.append(("peer_id", peer, v["peer_id"]))
    cid = CID("base36", 1, "libp2p-key", multihash.wrap(protobuf, "identity"))
    if str(cid) != v["peer_id_cid"]:
        problems.append(("peer_id_cid", str(cid), v["peer_id_cid"]))
    if problems:
        failed += 1
        for f, want, got in problems:
            print(f"MISMATCH {f}: expected {want} got {got}")
    else:
        passed += 1
        print("ok")
print(f"{passed} passed, {failed} failed")
