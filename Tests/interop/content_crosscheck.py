"""Cross-checks CIDs computed by `elastos` against py-multiformats for random content.

Reads JSON lines {"content_hex","cidv1_raw","sha256"}; prints "N passed, M failed".
"""
import hashlib
import json
import sys

from multiformats import CID, multihash

passed = failed = 0
for line in sys.stdin:
    if not line.strip():
        continue
    v = json.loads(line)
    data = bytes.fromhex(v["content_hex"])
    want = CID("base32", 1, "raw", multihash.digest(data, "sha2-256"))
    ok = str(want) == v["cidv1_raw"] and hashlib.sha256(data).hexdigest() == v["sha256"]
    # Parsing our string with the independent implementation must give the same CID back.
    ok = ok and CID.decode(v["cidv1_raw"]) == want
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"MISMATCH {v['cidv1_raw']} expected {want}")
print(f"{passed} passed, {failed} failed")
