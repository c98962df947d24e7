"""Recipe: a signed request to the Credit Consent Ledger API in Python, with eth-account only.

    CCL_KEY=0x...  CCL_API_URL=http://127.0.0.1:8700 \
        python sign_request.py GET /v1/institution/subjects/USCC/report 'purpose=loan_application'

An optional fourth argument names a file whose bytes are the request body (sent as JSON).
The key comes from the environment, never from the command line. Prints the status and body.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode

from eth_account import Account
from eth_account.messages import encode_defunct


def canonical_query(raw_query: str) -> str:
    """Decoded (name, value) pairs, repeated ones kept, sorted by code point, re-encoded."""
    return urlencode(sorted(parse_qsl(raw_query, keep_blank_values=True)))


def canonical_request(
    method: str, path: str, query: str, body: bytes, timestamp: int, nonce: str
) -> str:
    body_hash = hashlib.sha256(body).hexdigest()
    return f"CCL-REQUEST-V1\n{method.upper()}\n{path}\n{query}\n{body_hash}\n{timestamp}\n{nonce}"


def signed_headers(key: str, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
    account = Account.from_key(key)
    timestamp = int(time.time())
    nonce = secrets.token_hex(16)  # 32 characters of [0-9a-f]: single use
    text = canonical_request(method, path, query, body, timestamp, nonce)
    signature = account.sign_message(encode_defunct(text=text)).signature  # EIP-191, low s
    return {
        "X-CCL-Address": account.address,
        "X-CCL-Timestamp": str(timestamp),
        "X-CCL-Nonce": nonce,
        "X-CCL-Signature": "0x" + bytes(signature).hex(),
    }


def send(base_url: str, key: str, method: str, path: str, raw_query: str, body: bytes) -> int:
    query = canonical_query(raw_query)
    headers = signed_headers(key, method, path, query, body)
    if body:
        headers["Content-Type"] = "application/json"
    url = base_url.rstrip("/") + path + ("?" + query if query else "")
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as refused:  # problem+json with a stable "code"
        status, payload = refused.code, refused.read()
    print(status)
    print(payload.decode())
    return status


if __name__ == "__main__":
    method, path = sys.argv[1], sys.argv[2]
    raw_query = sys.argv[3] if len(sys.argv) > 3 else ""
    body = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else b""  # noqa: SIM115
    api_url = os.environ.get("CCL_API_URL", "http://127.0.0.1:8700")
    status = send(api_url, os.environ["CCL_KEY"], method, path, raw_query, body)
    sys.exit(0 if status < 400 else 1)
