"""The signed-request scheme, shared by the server (auth) and ``ledger_api.client``.

A request is signed with EIP-191 ``personal_sign`` over::

    CCL-REQUEST-V1\\n{METHOD}\\n{path}\\n{sorted, url-encoded query}\\n{sha256 hex of body}\\n{timestamp}\\n{nonce}

and sent with the headers below. The nonce is single-use; the timestamp (UTC seconds) must be
within ``settings.clock_skew_s`` of the server's clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from eth_account import Account
from eth_account.messages import encode_defunct

SCHEME = "CCL-REQUEST-V1"
HEADER_ADDRESS = "X-CCL-Address"
HEADER_TIMESTAMP = "X-CCL-Timestamp"
HEADER_NONCE = "X-CCL-Nonce"
HEADER_SIGNATURE = "X-CCL-Signature"


def canonical_query(items: Iterable[tuple[str, str]]) -> str:
    return urlencode(sorted((str(k), str(v)) for k, v in items))


def canonical_query_string(query_string: str) -> str:
    return canonical_query(parse_qsl(query_string, keep_blank_values=True))


def canonical_request(
    method: str, path: str, query: str, body: bytes, timestamp: int, nonce: str
) -> str:
    """``query`` is already canonical (see ``canonical_query``)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{SCHEME}\n{method.upper()}\n{path}\n{query}\n{digest}\n{timestamp}\n{nonce}"


def sign_request(private_key: object, canonical: str) -> str:
    signed = Account.sign_message(encode_defunct(text=canonical), private_key)
    return "0x" + bytes(signed.signature).hex()


def recover_signer(canonical: str, signature: str) -> str:
    return str(Account.recover_message(encode_defunct(text=canonical), signature=signature))
