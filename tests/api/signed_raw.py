"""Signed requests with a raw query string (repeated names, any order), which ``LedgerClient``
cannot send: it takes a mapping."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import httpx
from api_support import Api
from eth_account.signers.local import LocalAccount

from ledger_api.api.signing import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_query,
    canonical_request,
    sign_request,
)


def send_raw_query(
    api: Api,
    account: LocalAccount,
    method: str,
    path: str,
    pairs: list[tuple[str, str]],
    *,
    nonce: str | None = None,
) -> httpx.Response:
    """Sign ``pairs`` as the canonical (sorted) form and send them in the given order."""
    nonce = nonce or secrets.token_hex(16)
    timestamp = int(api.clock())
    canonical = canonical_request(method, path, canonical_query(pairs), b"", timestamp, nonce)
    headers = {
        HEADER_ADDRESS: account.address,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_request(account.key, canonical),
    }
    return api.http.request(method, f"{path}?{urlencode(pairs)}", headers=headers)
