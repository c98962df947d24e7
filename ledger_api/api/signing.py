"""The signed-request scheme, shared by the server (auth) and ``ledger_api.client``; its
published specification, with recipes for other clients, is ``docs/request-signing.md``.

A request is signed with EIP-191 ``personal_sign`` over::

    CCL-REQUEST-V1\\n{METHOD}\\n{path}\\n{sorted, url-encoded query}\\n{sha256 hex of body}
    \\n{timestamp}\\n{nonce}

and sent with the headers below. The nonce is single-use; the timestamp (UTC seconds) must be
within ``settings.clock_skew_s`` of the server's clock.

Signing and recovery call libsecp256k1 (coincurve) directly on the EIP-191 hash: the same
signatures as ``eth_account``'s ``sign_message`` / ``recover_message`` (65 bytes r||s||v with
v in {27, 28}), at a fraction of their per-call overhead, which matters on every request. Only
low-s signatures are accepted (``ledger_api.crypto.ecdsa``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

import coincurve
from eth_utils import to_checksum_address

from ledger_api.anchoring.keccak import keccak256
from ledger_api.crypto.ecdsa import require_canonical_s

SCHEME = "CCL-REQUEST-V1"
HEADER_ADDRESS = "X-CCL-Address"
HEADER_TIMESTAMP = "X-CCL-Timestamp"
HEADER_NONCE = "X-CCL-Nonce"
HEADER_SIGNATURE = "X-CCL-Signature"


def canonical_query(items: Iterable[tuple[str, str]]) -> str:
    return urlencode(sorted((str(k), str(v)) for k, v in items))


def canonical_query_string(query_string: str) -> str:
    """The canonical form of a raw query string (the server memoises it with the parameters,
    ``ledger_api.api.auth.parse_query``)."""
    return canonical_query(parse_qsl(query_string, keep_blank_values=True))


def canonical_request(
    method: str, path: str, query: str, body: bytes, timestamp: int, nonce: str
) -> str:
    """``query`` is already canonical (see ``canonical_query``)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{SCHEME}\n{method.upper()}\n{path}\n{query}\n{digest}\n{timestamp}\n{nonce}"


def personal_message_hash(text: str) -> bytes:
    """EIP-191 version 0x45 (``personal_sign``) hash of ``text``."""
    message = text.encode()
    return keccak256(b"\x19Ethereum Signed Message:\n%d" % len(message) + message)


@lru_cache(maxsize=256)
def _private_key(secret: bytes) -> coincurve.PrivateKey:
    return coincurve.PrivateKey(secret)


def sign_request(private_key: object, canonical: str) -> str:
    """0x-hex 65-byte signature (v = 27/28) of ``canonical`` by ``private_key`` (bytes/hex)."""
    if isinstance(private_key, str):
        secret = bytes.fromhex(private_key.removeprefix("0x"))
    else:
        secret = bytes(private_key)  # type: ignore[call-overload]
    signature = _private_key(secret).sign_recoverable(personal_message_hash(canonical), hasher=None)
    return "0x" + signature[:64].hex() + format(signature[64] + 27, "02x")


@lru_cache(maxsize=65536)
def checksum_of(address_bytes: bytes) -> str:
    return str(to_checksum_address(address_bytes))


def recover_address_bytes(canonical: str, signature: str) -> bytes:
    """The 20-byte address that signed ``canonical``; ValueError for a malformed or
    non-canonical (high-s) signature."""
    raw = bytes.fromhex(signature[2:] if signature[:2] in ("0x", "0X") else signature)
    if len(raw) != 65:
        raise ValueError("a signature is 65 bytes")
    v = raw[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise ValueError("bad recovery id")
    require_canonical_s(raw)
    public = coincurve.PublicKey.from_signature_and_message(
        raw[:64] + bytes((v,)), personal_message_hash(canonical), hasher=None
    )
    return keccak256(public.format(compressed=False)[1:])[-20:]


def recover_signer(canonical: str, signature: str) -> str:
    """The checksum address that signed ``canonical`` (as ``Account.recover_message``)."""
    return checksum_of(recover_address_bytes(canonical, signature))
