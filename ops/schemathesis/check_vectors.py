"""The hook's signer against tests/vectors/signing.json: exits 1 on any difference."""

import base64
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hooks import signature  # noqa: E402

vectors = json.loads((Path(__file__).parents[2] / "tests/vectors/signing.json").read_text())
bad = 0
for v in vectors["requests"]:
    body = base64.b64decode(v["body_base64"]) if "body_base64" in v else v["body"].encode()
    got = signature(base64.b64decode(v["key"]), v["timestamp"], v["nonce"], v["method"],
                    v["path"], v["query"], body)
    if got != v["signature"]:
        bad += 1
        print(f"signing vector {v['name']!r}: got {got}, want {v['signature']}", file=sys.stderr)
print(f"{len(vectors['requests']) - bad}/{len(vectors['requests'])} signing vectors match")
sys.exit(1 if bad else 0)
