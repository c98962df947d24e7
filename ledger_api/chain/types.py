"""Python mirrors of the Solidity enums (contracts/interfaces). Order matters: it is the ABI."""

from __future__ import annotations

from enum import IntEnum


class InstitutionType(IntEnum):
    BANK = 0
    INSURER = 1
    GUARANTOR = 2
    CREDIT_SERVICE = 3


class Purpose(IntEnum):
    LOAN_APPLICATION = 0
    POST_LOAN_MONITORING = 1
    GUARANTEE = 2
    INSURANCE_UNDERWRITING = 3
    CREDIT_RATING = 4
    SUPPLY_CHAIN_FINANCE = 5


class AccessLevel(IntEnum):
    VERIFY = 0
    QUERY = 1
    DETAIL = 2


class GrantCheck(IntEnum):
    USABLE = 0
    UNKNOWN_GRANT = 1
    REVOKED = 2
    UNKNOWN_INSTITUTION = 3
    WRONG_INSTITUTION = 4
    INSTITUTION_SUSPENDED = 5
    NOT_YET_VALID = 6
    EXPIRED = 7
    CATEGORY_NOT_GRANTED = 8
    PURPOSE_MISMATCH = 9
    LEVEL_TOO_LOW = 10
    NO_AGREEMENT = 11
    AGREEMENT_NOT_ACTIVE = 12
    CATEGORY_NOT_IN_AGREEMENT = 13
    PURPOSE_NOT_IN_AGREEMENT = 14
    USAGE_CAP_REACHED = 15

    @property
    def code(self) -> str:
        """Stable error code used by the API (problem+json ``code``) and the audit views."""
        return self.name.lower()


class AgreementStatus(IntEnum):
    NONE = 0
    PROPOSED = 1
    ACTIVE = 2
    SUSPENDED = 3
    TERMINATED = 4
    SUPERSEDED = 5  # replaced by a later agreement the institution accepted
    WITHDRAWN = 6  # a proposal the operator took back


class GrantSkip(IntEnum):
    """Why ``issueGrantsBySig`` skipped a batch item (``GrantSkipped``); NONE: issued."""

    NONE = 0
    NOT_A_SUBJECT = 1
    DEADLINE_PASSED = 2
    SIGNATURE_OR_NONCE_INVALID = 3  # also: its nonce was used or raised since it was signed
    UNKNOWN_INSTITUTION = 4
    INVALID_TERMS = 5


class AnchorKind(IntEnum):
    DATA_BATCH = 0
    ACCESS_LOG = 1
    CATALOG_VERSION = 2
    RECORD_STATUS = 3
    SUBJECT_STATEMENT = 4


class DisputeKind(IntEnum):
    OBJECTION = 0
    CREDIT_REPAIR = 1


class DisputeStatus(IntEnum):
    NONE = 0
    OPEN = 1
    RESOLVED = 2


class DisputeOutcome(IntEnum):
    NONE = 0
    UPHELD = 1
    REJECTED = 2
    REPAIRED = 3


def mask_of(bits: list[int] | tuple[int, ...] | set[int]) -> int:
    """Bitmask with the given bit positions set (catalog categories, agreement purposes)."""
    mask = 0
    for bit in bits:
        mask |= 1 << int(bit)
    return mask


def bits_of(mask: int) -> list[int]:
    return [bit for bit in range(mask.bit_length()) if mask >> bit & 1]
