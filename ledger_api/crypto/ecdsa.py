"""Canonical secp256k1 signatures: the one rule every signature accepted from outside obeys.

For every signature ``(r, s, v)`` the curve also accepts ``(r, n - s, v ^ 1)`` for the same
message and key. Accepting both would let anyone who saw a signature make a second,
different-looking one of the same request; EIP-2 and OpenZeppelin's ``ECDSA`` (which the
ledger contract uses) accept only the low-s one, and so does this API.
"""

from __future__ import annotations

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2


def require_canonical_s(signature: bytes) -> None:
    """ValueError unless the ``r || s || v`` signature has 0 < s <= n/2 (EIP-2)."""
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < s <= SECP256K1_HALF_N:
        raise ValueError("signature s is not in the lower half of the curve order (EIP-2)")
