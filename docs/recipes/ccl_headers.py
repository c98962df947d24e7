"""Recipe helper for curl: prints the canonical query (first line), then the four X-CCL-*
headers of one request, one per line, for `curl -H @FILE`.

    CCL_KEY=0x... python ccl_headers.py GET /v1/chain 'account=0x...' [BODY_FILE]

Send the query exactly as printed: the signature covers that form. Needs eth-account only;
the key comes from the environment.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import time
from urllib.parse import parse_qsl, urlencode

from eth_account import Account
from eth_account.messages import encode_defunct

method, path = sys.argv[1].upper(), sys.argv[2]
query = urlencode(sorted(parse_qsl(sys.argv[3] if len(sys.argv) > 3 else "", True)))
body = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else b""  # noqa: SIM115
account = Account.from_key(os.environ["CCL_KEY"])
timestamp, nonce = int(time.time()), secrets.token_hex(16)
digest = hashlib.sha256(body).hexdigest()
text = f"CCL-REQUEST-V1\n{method}\n{path}\n{query}\n{digest}\n{timestamp}\n{nonce}"
signature = bytes(account.sign_message(encode_defunct(text=text)).signature).hex()
print(query)
print(f"X-CCL-Address: {account.address}")
print(f"X-CCL-Timestamp: {timestamp}")
print(f"X-CCL-Nonce: {nonce}")
print(f"X-CCL-Signature: 0x{signature}")
