"""A replica and an access log written at the database level, with forged "allowed" entries.

The replica (institutions, agreements, grants, each with versions over blocks 100..200) is
built so that every rule of the grant check fails somewhere: an institution suspended for a
few blocks, an agreement suspended for a few, one without an agreement, one whose agreement
was never accepted, grants revoked mid-way, windows that open late or close early, capped
grants, categories and purposes the agreement leaves out. The log draws each entry for a
random grant, each field right for that grant most of the time and wrong now and then
(seeded): many entries are forged in exactly one way, which is what tells a missing rule
apart (an entry wrong in three ways is a violation whichever rule is checked).
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, insert

from indexer.tables import AGREEMENTS, GRANTS, INSTITUTIONS
from ledger_api.chain.types import AccessLevel, AgreementStatus, InstitutionType, Purpose
from ledger_api.store.access_log import AccessLogEntry

ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
T0 = 1_800_000_000  # 2027-01-15 08:00 UTC; the log spans ten days from here
DAY = 86_400
BANKS = ["0x" + f"{n:02x}" * 20 for n in (0x11, 0x22, 0x33, 0x44)]
STRANGER = "0x" + "55" * 20  # never registered
SUBJECTS = [bytes([n]) * 32 for n in range(1, 6)]
ACTIVE, SUSPENDED, PROPOSED = (
    int(AgreementStatus.ACTIVE), int(AgreementStatus.SUSPENDED), int(AgreementStatus.PROPOSED)
)  # fmt: skip


def _version(start: int, end: int | None, **values: Any) -> dict[str, Any]:
    return {"valid_from_block": start, "valid_from_log": 0, "valid_to_block": end, **values}


def _institution(index: int, suspended: bool, agreement_id: int) -> dict[str, Any]:
    return {
        "address": BANKS[index - 1], "institution_index": index,
        "kind": int(InstitutionType.BANK), "name": f"Bank {index}", "suspended": suspended,
        "agreement_id": agreement_id, "registered_block": 100,
    }  # fmt: skip


def _agreement(agreement_id: int, status: int, categories: int, purposes: int,
               not_after: int = T0 + 30 * DAY) -> dict[str, Any]:  # fmt: skip
    return {
        "agreement_id": agreement_id, "institution": BANKS[agreement_id - 1],
        "categories": categories, "purposes": purposes, "not_before": T0 - DAY,
        "not_after": not_after, "document_hash": b"\x02" * 32, "status": status,
        "proposed_block": 100,
    }  # fmt: skip


def load_replica(engine: Engine, rng: random.Random) -> list[dict[str, Any]]:
    """Institutions, agreements and grants with versions; the grants' terms."""
    loan, rating = int(Purpose.LOAN_APPLICATION), int(Purpose.CREDIT_RATING)
    institutions = [
        _version(100, 140, **_institution(1, False, 1)),
        _version(140, 146, **_institution(1, True, 1)),  # suspended for six blocks
        _version(146, None, **_institution(1, False, 1)),
        _version(100, None, **_institution(2, False, 2)),
        _version(100, None, **_institution(3, False, 0)),  # no agreement
        _version(100, None, **_institution(4, False, 4)),
    ]
    agreements = [
        _version(100, 150, **_agreement(1, ACTIVE, 0b1111, 1 << loan | 1 << rating)),
        _version(150, 160, **_agreement(1, SUSPENDED, 0b1111, 1 << loan | 1 << rating)),
        _version(160, None, **_agreement(1, ACTIVE, 0b1111, 1 << loan | 1 << rating)),
        # Agreement 2 ends on day 6 and leaves out the credit rating purpose.
        _version(100, None, **_agreement(2, ACTIVE, 0b1_1111_1111, 1 << loan, T0 + 6 * DAY)),
        _version(100, None, **_agreement(4, PROPOSED, 0b1111, 1 << loan)),
    ]
    grants: list[dict[str, Any]] = []
    issued: list[dict[str, Any]] = []
    for grant_id in range(1, 31):
        institution = rng.choice((1, 1, 2, 2, 3, 4))
        terms = {
            "grant_id": grant_id, "subject_index": rng.randrange(1, len(SUBJECTS) + 1),
            "institution_index": institution, "institution": BANKS[institution - 1],
            # 0b101_0000: housing fund and real estate, no scorecard category.
            "categories": rng.choice(
                (0b0101, 0b1100, 0b1_0000_1111, 0b10, 0b1_1111_1111, 0b101_0000)
            ),
            "purpose": rng.choice((loan, loan, rating)),
            "level": int(rng.choice(list(AccessLevel))),
            "not_before": T0 + rng.choice((0, 0, 0, 3 * DAY)),
            "not_after": T0 + rng.choice((10 * DAY, 10 * DAY, 5 * DAY)),
            "max_uses": rng.choice((0, 0, 0, 3)), "issued_block": 100,
            "issued_tx": grant_id.to_bytes(32, "big"),
        }  # fmt: skip
        issued.append(terms)
        revoked_at = rng.choice((None, None, 130, 170))
        if revoked_at is None:
            grants.append(_version(105, None, revoked=False, **terms))
        else:
            grants.append(_version(105, revoked_at, revoked=False, **terms))
            grants.append(_version(revoked_at, None, revoked=True, **terms))
    with engine.begin() as conn:
        conn.execute(insert(INSTITUTIONS), institutions)
        conn.execute(insert(AGREEMENTS), agreements)
        conn.execute(insert(GRANTS), grants)
    return issued


AGREED_CATEGORIES = {1: 0b1111, 2: 0b1_1111_1111, 3: 0b1111, 4: 0b1111}


def _mostly(rng: random.Random, right: Any, wrong: tuple[Any, ...], p: float = 0.9) -> Any:
    return right if rng.random() < p else rng.choice(wrong)


def _entry(rng: random.Random, entry_id: int, grant: dict[str, Any]) -> dict[str, Any]:
    """One entry under ``grant``: each field right for it with high probability."""
    shared = grant["categories"] & AGREED_CATEGORIES[grant["institution_index"]]
    bits = [bit for bit in range(32) if shared >> bit & 1] or [4]
    action = rng.choice(("records", "records", "records", "verify", "score", "report"))
    category: int | None = _mostly(rng, rng.choice(bits), (0, 1, 2, 3, 8, 40, None))
    categories = None
    if action == "score":
        category = None
        categories = rng.choice((None, shared, shared, grant["categories"] | 0b10, 0))
    purposes = (int(Purpose.LOAN_APPLICATION), int(Purpose.CREDIT_RATING), None)
    levels = (*(int(level) for level in AccessLevel), None)
    # Blocks 105..129: no revocation, suspension or agreement change yet.
    block = _mostly(rng, rng.randrange(105, 130), (None, *range(100, 200)), 0.85)
    at = _mostly(rng, T0 + rng.randrange(3 * DAY, 5 * DAY), tuple(
        T0 + rng.randrange(0, 10 * DAY) for _ in range(5)
    ), 0.85)  # fmt: skip
    return {
        "id": entry_id, "at": datetime.fromtimestamp(at, UTC),
        "actor": _mostly(rng, grant["institution"], (*BANKS, STRANGER)),
        "actor_role": _mostly(rng, "institution", ("subject", "regulator"), 0.95),
        "action": action, "subject_id": rng.choice(SUBJECTS), "category": category,
        "categories": categories,
        "purpose": _mostly(rng, grant["purpose"], purposes),
        "level": _mostly(rng, rng.randrange(0, grant["level"] + 1), levels),
        "grant_id": _mostly(rng, grant["grant_id"], (None, 999), 0.94),
        "checked_block": block,
        "decision": _mostly(rng, "allowed", ("denied",)),
        "reason": "ok", "response_hash": None, "prev_hash": b"\x00" * 32,
        "entry_hash": hashlib.sha256(str(entry_id).encode()).digest(), "anchor_id": None,
    }  # fmt: skip


def load_log(
    engine: Engine, rng: random.Random, grants: list[dict[str, Any]], entries: int
) -> None:
    """``entries`` access-log entries, each for a random grant, now and then forged."""
    rows = [_entry(rng, entry_id, rng.choice(grants)) for entry_id in range(1, entries + 1)]
    with engine.begin() as conn:
        conn.execute(insert(ACCESS_LOG), rows)
