"""Decode the one-word grant layout that Grants.sol stores and emits in GrantIssued.

From the lowest bit: subjectIndex (32) | institutionIndex (32) | categories (32) | purpose (8) |
level (8) | notBefore (40) | notAfter (40) | maxUses (32).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger_api.chain.types import AccessLevel, Purpose


@dataclass(frozen=True)
class GrantWord:
    subject_index: int
    institution_index: int
    categories: int
    purpose: Purpose
    level: AccessLevel
    not_before: int
    not_after: int
    max_uses: int


def _bits(word: int, shift: int, width: int) -> int:
    return word >> shift & ((1 << width) - 1)


def decode_grant_word(word: int) -> GrantWord:
    return GrantWord(
        subject_index=_bits(word, 0, 32),
        institution_index=_bits(word, 32, 32),
        categories=_bits(word, 64, 32),
        purpose=Purpose(_bits(word, 96, 8)),
        level=AccessLevel(_bits(word, 104, 8)),
        not_before=_bits(word, 112, 40),
        not_after=_bits(word, 152, 40),
        max_uses=_bits(word, 192, 32),
    )
