"""Signatures handed in from outside, in the one form the contract and recovery accept.

Signers disagree on the recovery byte: most return v as 27 or 28, some (hardware wallets,
raw libsecp256k1, several SDKs) as 0 or 1. OpenZeppelin's ECDSA only takes 27 / 28, and the
batch relay's EIP-2098 form keeps v as one bit. So v in {0, 1, 27, 28} is normalised to
27 / 28 once, where a signature enters the product, and anything else is refused. A high-s
signature (the malleable twin of a valid one) is refused as EIP-2 and OpenZeppelin do: the
contract would refuse it anyway, and a stored commitment signature must have one form only.

Longer signatures are a contract wallet's (ERC-1271): the wallet decides what they mean.
"""

from __future__ import annotations

from ledger_api.errors import InputError

EOA_SIGNATURE_BYTES = 65
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_V = {0: 27, 1: 28, 27: 27, 28: 28}


def _refused(detail: str) -> InputError:
    return InputError(detail, code="bad_signature")


def canonical_signature(signature: bytes) -> bytes:
    """``signature`` with v as 27 or 28; InputError ``bad_signature`` if it has no such form."""
    if len(signature) > EOA_SIGNATURE_BYTES:
        return signature
    if len(signature) < EOA_SIGNATURE_BYTES:
        raise _refused(f"a signature is {EOA_SIGNATURE_BYTES} bytes r || s || v")
    v = _V.get(signature[64])
    if v is None:
        raise _refused(f"signature v must be 0, 1, 27 or 28, not {signature[64]}")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < s <= _SECP256K1_N // 2:
        raise _refused("signature s must be in the lower half of the curve order (EIP-2)")
    return signature[:64] + bytes([v])


def signature_from_hex(value: str) -> bytes:
    """A ``0x``-hex signature from a request, canonical (``canonical_signature``)."""
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise _refused("a signature is 0x and an even number of hex digits") from None
    return canonical_signature(raw)


def compact_signature(signature: bytes) -> tuple[bytes, bytes]:
    """EIP-2098 ``(r, vs)`` of a 65-byte signature: the batch relay's form (EOA signers)."""
    if len(signature) != EOA_SIGNATURE_BYTES:
        raise _refused(
            "a batch of grants needs 65-byte EOA signatures; relay a contract wallet's singly"
        )
    canonical = canonical_signature(signature)
    s = int.from_bytes(canonical[32:64], "big")
    vs = ((canonical[64] - 27) << 255 | s).to_bytes(32, "big")
    return canonical[:32], vs
