"""An outsider's client: request signing written from the scheme's specification, not imported.

The specification (``ledger_api.api.signing``'s docstring): EIP-191 ``personal_sign`` over

    CCL-REQUEST-V1\\n{METHOD}\\n{path}\\n{sorted, url-encoded query}\\n{sha256 hex of body}
    \\n{timestamp}\\n{nonce}

sent as X-CCL-Address, X-CCL-Timestamp, X-CCL-Nonce and X-CCL-Signature. Written again here on
purpose: a test that signs with the server's own code cannot notice the two disagreeing, and
the attacks below need to change every part of the request independently of the signature.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

Pairs = list[tuple[str, str]]


def canonical_text(
    method: str, path: str, pairs: Pairs, body: bytes, timestamp: int, nonce: str
) -> str:
    query = urlencode(sorted(pairs))
    digest = hashlib.sha256(body).hexdigest()
    return f"CCL-REQUEST-V1\n{method.upper()}\n{path}\n{query}\n{digest}\n{timestamp}\n{nonce}"


def fresh_nonce() -> str:
    return secrets.token_hex(16)


def high_s(signature: str) -> str:
    """The same signature with s -> n - s and v flipped: valid ECDSA, not canonical (EIP-2)."""
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    flipped = 27 + (1 - (v - 27))
    return "0x" + raw[:32].hex() + (SECP256K1_N - s).to_bytes(32, "big").hex() + f"{flipped:02x}"


@dataclass(frozen=True)
class Signed:
    """A request ready to send: the target as written on the wire and its headers."""

    method: str
    target: str  # path?query exactly as sent
    headers: dict[str, str]
    body: bytes
    nonce: str


class Signer:
    def __init__(self, account: LocalAccount) -> None:
        self.account = account

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign_text(self, text: str) -> str:
        signed = Account.sign_message(encode_defunct(text=text), self.account.key)
        return "0x" + bytes(signed.signature).hex()

    def sign(
        self,
        method: str,
        path: str,
        pairs: Pairs | None = None,
        body: bytes = b"",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> Signed:
        pairs = list(pairs or [])
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = nonce or fresh_nonce()
        text = canonical_text(method, path, pairs, body, timestamp, nonce)
        headers = {
            "X-CCL-Address": self.address,
            "X-CCL-Timestamp": str(timestamp),
            "X-CCL-Nonce": nonce,
            "X-CCL-Signature": self.sign_text(text),
        }
        if body:
            headers["Content-Type"] = "application/json"
        return Signed(method, target(path, pairs), headers, body, nonce)


def target(path: str, pairs: Pairs) -> str:
    quoted = quote(path, safe="/:@!$&'()*+,;=-._~")
    return quoted + ("?" + urlencode(pairs) if pairs else "")
