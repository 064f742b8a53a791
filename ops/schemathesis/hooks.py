"""Signs every schemathesis request with wa-sidecar's HMAC scheme (README.md, "Signing requests";
tests/vectors/signing.json). Loaded through SCHEMATHESIS_HOOKS by ops/schemathesis.sh.

It signs the prepared request, so the path, query and body it covers are the bytes that go on the
wire. Key id and base64 key come from WA_SIDECAR_KEY_ID and WA_SIDECAR_KEY_FILE.
"""

import base64
import hashlib
import hmac
import os
import secrets
import time
from urllib.parse import parse_qsl, quote, urlsplit

import requests
import schemathesis


def canonical_query(raw: str) -> str:
    """Pairs form-decoded, re-encoded as RFC 3986 (rawurlencode), sorted by key then value."""
    pairs = parse_qsl(raw, keep_blank_values=True, errors="replace")
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature(key: bytes, timestamp: int, nonce: str, method: str, path: str, query: str,
              body: bytes) -> str:
    canonical = "\n".join([
        "v1", str(timestamp), nonce, method.upper(), path, canonical_query(query),
        hashlib.sha256(body).hexdigest(),
    ])
    return "v1=" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


class HmacAuth(requests.auth.AuthBase):
    def __init__(self, key_id: str, key: bytes):
        self.key_id = key_id
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        timestamp = int(time.time())
        nonce = secrets.token_hex(16)
        request.headers["X-Key-Id"] = self.key_id
        request.headers["X-Timestamp"] = str(timestamp)
        request.headers["X-Nonce"] = nonce
        request.headers["X-HMAC-Signature"] = signature(
            self.key, timestamp, nonce, request.method, url.path or "/", url.query, body)
        return request


def from_env() -> HmacAuth:
    with open(os.environ["WA_SIDECAR_KEY_FILE"], "rb") as f:
        key = base64.b64decode(f.read().strip())
    return HmacAuth(os.environ.get("WA_SIDECAR_KEY_ID", "dev"), key)


if os.environ.get("WA_SIDECAR_KEY_FILE"):
    schemathesis.auth.set_from_requests(from_env()).apply_to(path_regex="^/v1/")


@schemathesis.hook
def filter_body(ctx, body):
    """Drops bodies breaking the two cross-field rules the OpenAPI document does not state:
    a poll's selectable_count must not exceed its number of options (SendRequest::validate
    refuses it with INVALID_POLL), and a session's callback_secret comes only with a
    callback_url (session create refuses it with INVALID_FIELD). schemathesis may write a whole
    number as 10.0, so any JSON number counts."""
    if not isinstance(body, dict):
        return True
    poll = body.get("poll")
    if isinstance(poll, dict):
        count, options = poll.get("selectable_count"), poll.get("options")
        number = isinstance(count, (int, float)) and not isinstance(count, bool)
        if number and isinstance(options, list) and count > len(options):
            return False
    if "callback_secret" in body and not isinstance(body.get("callback_url"), str):
        return False
    return True
