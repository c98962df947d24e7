"""Ledger activity touching every event type, in small steps the tests can index between."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from eth_account import Account
from eth_utils import keccak
from receivables_kit import SupplyChain
from sqlalchemy import Engine, insert
from world import World, leaf_of, subject_record

from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, AnchorKind, DisputeKind, DisputeOutcome, Purpose
from ledger_api.store.supply_chain import RECEIVABLE_DOCUMENTS, SUPPLY_CHAIN_REFUSALS

TAX, SOCIAL = 2, 3


def terms(world: World, institution: str | None = None, **overrides: object) -> GrantTerms:
    now = int(time.time())
    fields: dict[str, object] = {
        "institution": institution or world.bank.address,
        "categories": (1 << TAX) | (1 << SOCIAL),
        "purpose": Purpose.LOAN_APPLICATION,
        "level": AccessLevel.QUERY,
        "not_before": now - 3600,
        "not_after": now + 30 * 86400,
        "max_uses": 0,
    }
    fields.update(overrides)
    return GrantTerms(**fields)  # type: ignore[arg-type]


def tree_of_two(a: bytes, b: bytes) -> bytes:
    return keccak(b"".join(sorted((a, b))))


def issue_grants(world: World) -> list[int]:
    """Subject 0 issues directly; subject 1's signed grants are relayed in one batch."""
    first = world.ledger.issue_grant(world.subject_tx[0], terms(world))
    key = world.subject_keys[1]
    nonce = world.ledger.nonce_of(key.address)
    signed = [
        world.ledger.sign_grant(key, terms(world, max_uses=3), nonce=nonce),
        world.ledger.sign_grant(key, terms(world, world.bank_b.address), nonce=nonce + 1),
        world.ledger.sign_grant(key, terms(world, purpose=Purpose.GUARANTEE), nonce=nonce + 2),
    ]
    return [first, *world.ledger.relay_grants(world.operator, signed)]


def revoke_one(world: World, grant_id: int) -> None:
    world.ledger.revoke_grant(world.subject_tx[0], grant_id)


def membership_changes(world: World) -> None:
    world.ledger.transact(world.regulator, "suspendInstitution", world.insurer.address)
    world.ledger.transact(world.regulator, "reinstateInstitution", world.insurer.address)
    world.ledger.transact(world.regulator, "suspendInstitution", world.insurer.address)
    world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.bank_b.address)
    world.ledger.transact(
        world.operator, "revokeRole", keccak(text="PROVIDER_ROLE"), world.bank_b.address
    )
    world.ledger.transact(world.subject_tx[0], "increaseNonce", 50)


def agreement_changes(world: World) -> int:
    now = int(time.time())
    agreement = world.ledger.propose_agreement(
        world.operator, world.bank_b.address, 0b111111, 0b11, now - 60, now + 86400, b"\x02" * 32
    )
    world.ledger.transact(world.bank_b, "acceptAgreement", agreement)
    world.ledger.transact(world.regulator, "suspendAgreement", agreement)
    world.ledger.transact(world.regulator, "reinstateAgreement", agreement)
    dropped = world.ledger.propose_agreement(
        world.operator, world.insurer.address, 0b1, 0b1, now - 60, now + 86400, b"\x03" * 32
    )
    world.ledger.transact(world.regulator, "terminateAgreement", dropped)
    return agreement


def agreement_supersession(world: World) -> int:
    """The insurer accepts two agreements in turn (the first is superseded); a third proposal
    is withdrawn by the operator. Returns the superseded agreement."""
    now = int(time.time())
    first, second, withdrawn = (
        world.ledger.propose_agreement(
            world.operator, world.insurer.address, 0b1, 0b1, now - 60, now + 86400, bytes([n]) * 32
        )
        for n in (4, 5, 6)
    )
    world.ledger.transact(world.insurer, "acceptAgreement", first)
    world.ledger.transact(world.insurer, "acceptAgreement", second)
    world.ledger.withdraw_proposal(world.operator, withdrawn)
    return first


def governance_and_skipped_grants(world: World) -> None:
    """Events that change no replicated state: a batch whose items are all stale (skipped), and
    a governance handover and delay change, each scheduled then cancelled."""
    key = world.subject_keys[1]
    stale = world.ledger.sign_grant(key, terms(world), nonce=world.ledger.nonce_of(key.address) - 1)
    assert world.ledger.relay_grant_batch(world.operator, [stale, stale]).grant_ids == []
    governance = world.governance
    world.ledger.transact(governance, "beginDefaultAdminTransfer", world.insurer.address)
    world.ledger.transact(governance, "cancelDefaultAdminTransfer")
    world.ledger.transact(governance, "changeDefaultAdminDelay", 86400)
    world.ledger.transact(governance, "rollbackDefaultAdminDelay")


def rebind_subject_2(world: World) -> str:
    new_key = Account.create()
    deadline, signature = world.ledger.sign_registration(new_key, world.subject_ids[2])
    world.ledger.rebind_subject(
        world.operator, world.subject_ids[2], new_key.address, deadline, signature
    )
    return str(new_key.address)


def anchors_and_disputes(world: World, salt: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """Anchor a two-leaf batch of subject 0's records, dispute both; uphold one, leave one open."""
    record_a, record_b = (subject_record(world.subject_ids[0], n) for n in (1, 2))
    record_a = replace(record_a, salt=keccak(b"leaf-a" + salt))
    record_b = replace(record_b, salt=keccak(b"leaf-b" + salt))
    leaf_a, leaf_b = leaf_of(record_a), leaf_of(record_b)
    root = tree_of_two(leaf_a, leaf_b)
    world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 2, keccak(b"batch" + salt))
    world.ledger.anchor(
        world.operator, AnchorKind.ACCESS_LOG, keccak(b"log" + salt), 7, b"\x00" * 32
    )
    sender = world.subject_tx[0]
    receipt = world.ledger.transact(
        sender,
        "openDispute",
        int(DisputeKind.OBJECTION),
        root,
        record_a.as_tuple(),
        [leaf_b],
        keccak(b"why"),
    )
    upheld = int(world.ledger.events(receipt, "DisputeOpened")[0]["args"]["disputeId"])
    world.ledger.transact(
        sender,
        "openDispute",
        int(DisputeKind.CREDIT_REPAIR),
        root,
        record_b.as_tuple(),
        [leaf_a],
        keccak(b"fix"),
    )
    world.ledger.resolve_dispute(world.operator, upheld, DisputeOutcome.UPHELD, keccak(b"ok"))
    return root, leaf_a, leaf_b


STEPS: tuple[Callable[[World], object], ...] = (
    issue_grants,
    membership_changes,
    agreement_changes,
    agreement_supersession,
    governance_and_skipped_grants,
    rebind_subject_2,
    anchors_and_disputes,
)


def everything(world: World) -> list[int]:
    """Run every step; revokes the first grant at the end. Returns the grant ids."""
    grants = issue_grants(world)
    for step in STEPS[1:]:
        step(world)
    revoke_one(world, grants[0])
    return grants


SUPPLY_CHAIN_USCC_MASKED = "91************001X"


def supply_chain_activity(chain: SupplyChain, engine: Engine) -> tuple[int, int]:
    """Two receivables of the core: one split with a part passed on and financed, the other
    settled in part; a refused second financing of the financed part (as the API keeps it).
    Returns (the first receivable's whole part, the financed part)."""
    r = chain.receivables
    whole = chain.confirmed_part(1_000_000, invoice="INV-A")
    piece = r.split(chain.supplier, whole, 300_000)
    r.transfer(chain.supplier, piece, chain.sub_supplier.address)
    r.finance(chain.sub_supplier, piece, chain.world.bank.address)
    other = chain.confirmed_part(50_000, invoice="INV-B")
    r.settle(chain.core, other, 20_000)
    with engine.begin() as conn:
        conn.execute(
            insert(RECEIVABLE_DOCUMENTS).values(
                receivable_id=1, supplier=chain.supplier.address, debtor=chain.core.address,
                sealed=b"x", debtor_uscc_masked=SUPPLY_CHAIN_USCC_MASKED,
                record_status="confirmed", created_at=datetime.now(UTC),
            )
        )  # fmt: skip
        conn.execute(
            insert(SUPPLY_CHAIN_REFUSALS).values(
                at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC), actor=chain.sub_supplier.address,
                act="financing", part_id=piece, institution=chain.world.bank_b.address,
                code="part_locked", detail="PartLocked(...)",
            )
        )  # fmt: skip
    return whole, piece
