"""Unified Social Credit Code (统一社会信用代码, GB 32100-2015) validation and pseudonyms."""

from __future__ import annotations

import hashlib
import hmac

from ledger_api.errors import InputError

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(CHARSET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18


def check_character(first17: str) -> str:
    """The 18th character that makes ``first17`` a valid code."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid USCC, or None when it is."""
    if len(code) != LENGTH:
        return f"must be {LENGTH} characters, got {len(code)}"
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        return f"contains characters outside the USCC charset: {''.join(bad)!r}"
    if not code[2:8].isdigit():
        return "characters 3-8 must be an administrative division code (digits)"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None


def validate_uscc(code: str) -> str:
    """Return the normalised code (upper-case, stripped) or raise InputError."""
    normalised = code.strip().upper()
    problem = uscc_problem(normalised)
    if problem is not None:
        raise InputError(f"invalid USCC {normalised!r}: {problem}", code="invalid_uscc")
    return normalised


def division_code(code: str) -> str:
    """The six-digit administrative division (characters 3-8), e.g. '410100' for Zhengzhou."""
    return code[2:8]


def subject_id(uscc: str, pseudonym_key: bytes) -> bytes:
    """Pseudonymous on-chain subject id: HMAC-SHA256 of the USCC under the platform's key.

    Keyed so that nobody without the key can test a guessed USCC against the chain.
    """
    return hmac.new(pseudonym_key, validate_uscc(uscc).encode(), hashlib.sha256).digest()
