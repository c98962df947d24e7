"""Gas used by the ledger's hot paths on eth-tester, against the issue's budgets and EAS."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from world import build_world, dev_key, leaf_of, subject_record

from benchmarks import gas_receivables
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AccessLevel, AnchorKind, DisputeKind, Purpose

BUDGETS = {
    "grant_direct": 60_000,
    "grant_signed": 75_000,
    "grant_batch_per_item": 40_000,
    "revoke": 30_000,
    "anchor": 60_000,
    "agreement_accept_signed": 60_000,
}
# Ethereum Attestation Service on eth-tester with the Prague rules (figures from the issue).
EAS = {
    "grant_direct": 344_386,
    "grant_signed": 377_746,
    "grant_batch_per_item": 301_575,
    "revoke": 81_771,
    "anchor": 45_869,
}
BATCH = 50


def run() -> dict[str, object]:
    world = build_world()
    ledger, operator = world.ledger, world.operator
    now = int(time.time())
    terms = GrantTerms(
        world.bank.address,
        0b1100,
        Purpose.LOAN_APPLICATION,
        AccessLevel.QUERY,
        now - 60,
        now + 86400 * 90,
        0,
    )

    def gas(receipt: Any) -> int:
        return int(receipt["gasUsed"])

    direct = ledger.transact(world.subject_tx[0], "issueGrant", terms.as_tuple())
    grant_id = ledger.events(direct, "GrantIssued")[0]["args"]["grantId"]
    signed = ledger.sign_grant(world.subject_keys[2], terms)
    relayed = ledger.transact(operator, "issueGrantBySig", signed.as_tuple())

    # 50 distinct enterprises, as when the platform relays a morning's worth of consents.
    keys = [Account.create() for _ in range(BATCH)]
    for i, key in enumerate(keys):
        deadline, sig = ledger.sign_registration(key, keccak(b"bench-subject-%d" % i))
        ledger.bind_subject(operator, keccak(b"bench-subject-%d" % i), key.address, deadline, sig)
    batch = ledger.transact(
        operator,
        "issueGrantsBySig",
        [ledger.sign_grant(k, terms).as_compact_tuple() for k in keys],
        gas=80_000 + 90_000 * BATCH,
    )
    revoke = ledger.transact(world.subject_tx[0], "revokeGrant", grant_id)
    anchors = {}
    for leaves in (1, 1000, 1_000_000):
        _, receipt = ledger.anchor(
            world.provider,
            AnchorKind.DATA_BATCH,
            keccak(b"root-%d" % leaves),
            leaves,
            keccak(b"batch"),
        )
        anchors[str(leaves)] = gas(receipt)
    # Ten batches' roots in one anchorMany transaction (ingest_many groups small batches).
    grouped = [(keccak(b"grouped-%d" % i), 500, keccak(b"batch-%d" % i)) for i in range(10)]
    sequences, many = ledger.confirm_anchors(
        world.provider, ledger.send_anchors(world.provider, AnchorKind.DATA_BATCH, grouped)
    )
    if len(sequences) != len(grouped):
        raise SystemExit("anchorMany did not anchor every root")
    accept_id = ledger.propose_agreement(
        operator, world.bank_b.address, 1, 1, now, now + 10**6, b"\x05" * 32
    )
    accept = ledger.transact(world.bank_b, "acceptAgreement", accept_id)
    # The institution's first signed acceptance (its nonce still 0), relayed by the operator:
    # the insurer has no agreement yet, so nothing is superseded.
    signed_id = ledger.propose_agreement(
        operator, world.insurer.address, 1, 1, now, now + 10**6, b"\x06" * 32
    )
    insurer_key = world.insurer.account
    deadline, acceptance = ledger.sign_acceptance(insurer_key, signed_id)
    accept_signed = ledger.relay_acceptance(operator, signed_id, 0, deadline, acceptance)
    record = subject_record(world.subject_ids[1], 1)  # dev key 8's subject
    leaf = leaf_of(record)
    other = keccak(keccak(b"other"))
    root = keccak(b"".join(sorted((leaf, other))))
    ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 2, b"\x00" * 32)
    dispute = ledger.transact(
        Transactor(world.w3, dev_key(8)),
        "openDispute",
        int(DisputeKind.OBJECTION),
        root,
        record.as_tuple(),
        [other],
        keccak(b"reason"),
    )

    result: dict[str, object] = {
        "grant_direct": gas(direct),
        "grant_signed": gas(relayed),
        "grant_batch_per_item": gas(batch) // BATCH,
        "revoke": gas(revoke),
        "anchor": anchors,
        "anchor_many_10_per_root": gas(many) // len(grouped),
        "agreement_accept": gas(accept),
        "agreement_accept_signed": gas(accept_signed),
        "dispute_open": gas(dispute),
        **gas_receivables.run(world),
    }
    result["within_budget"] = {
        name: (max(anchors.values()) if name == "anchor" else result[name]) <= budget
        for name, budget in {**BUDGETS, **gas_receivables.BUDGETS}.items()
    }
    result["ratio_to_eas"] = {
        name: round((max(anchors.values()) if name == "anchor" else result[name]) / eas, 3)  # type: ignore[operator]
        for name, eas in EAS.items()
    }
    return result
