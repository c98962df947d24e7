"""Risk alerts reach exactly the institutions holding a usable post_loan_monitoring grant
covering the alert's category: not another category, purpose, a revoked or expired grant, or
an institution without an agreement. Events are derived at ingest by the catalog's rules and
written to the outbox with the records."""

from __future__ import annotations

from typing import Any

from api_support import Api
from monitoring_support import (
    JUDICIAL,
    TAX,
    add_subscription,
    events_of,
    ingest,
    ingest_judgments,
    monitoring_grant,
    service,
    subscribe,
)
from sqlalchemy import func, select
from world import USCCS, World

from ledger_api.chain.types import AccessLevel, DisputeKind, DisputeOutcome
from ledger_api.monitoring.rules import default_rules
from ledger_api.store.monitoring_tables import OUTBOX

JUDGMENT = "judgment"


def _judgments(api: Api, sub_id: int) -> list[tuple[bytes, int | None]]:
    return [
        (bytes(e.subject_id), e.grant_id) for e in events_of(api, sub_id) if kind(e) == JUDGMENT
    ]


def kind(event: Any) -> str:
    return default_rules().kind_name(event.kind)


def test_rules_in_the_catalog_derive_events_from_adverse_fields_only() -> None:
    rules = default_rules()
    judicial = 1
    assert rules.events_of(judicial, {"role": "defendant", "status": "judged"}) == [
        ("judgment", True)
    ]
    assert rules.events_of(judicial, {"role": "plaintiff", "status": "judged"}) == []
    tax = 2
    assert rules.events_of(tax, {"arrears_amount": "12.50"}) == [("tax_arrears", False)]
    assert rules.events_of(tax, {"arrears_amount": "0.00"}) == []
    assert set(rules.regions) >= {"4101", "4117", "419001"} and len(rules.regions) == 18
    assert sorted(rules.industries) == [chr(c) for c in range(ord("A"), ord("T") + 1)]


def test_ingest_writes_one_outbox_event_per_adverse_record_and_none_again_for_duplicates(
    api: Api,
) -> None:
    def judgments() -> int:
        with api.engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(OUTBOX)
                .where(OUTBOX.c.kind == default_rules().kind_code(JUDGMENT))
            )
            return int(conn.execute(query).scalar_one())

    before = judgments()
    ingest_judgments(api, 0, 1, 3)
    ingest_judgments(api, 0, 1, 3)  # the same records again: stored once, no new events
    assert judgments() == before + 3


def test_alerts_reach_exactly_the_institutions_with_a_usable_monitoring_grant(
    api: Api, world: World
) -> None:
    bank, bank_b, insurer = world.bank.address, world.bank_b.address, world.insurer.address
    now = int(api.clock())
    monitoring_grant(api, 0, bank)  # usable for judicial
    monitoring_grant(api, 0, bank_b)  # bank_b has no agreement: not usable
    monitoring_grant(api, 1, bank, categories=TAX)  # another category
    api.grant(1, bank, categories=JUDICIAL, level=AccessLevel.VERIFY)  # another purpose
    revoked = monitoring_grant(api, 1, bank)
    world.ledger.revoke_grant(world.subject_tx[1], revoked)
    monitoring_grant(api, 1, bank, not_after=now + 100)  # expires before the alert
    api.clock.advance(200)

    judicial_sub = add_subscription(api, bank, categories=JUDICIAL)
    tax_only = add_subscription(api, bank, categories=TAX)
    others = [add_subscription(api, bank_b), add_subscription(api, insurer)]
    ingest_judgments(api, 0, 1, 2)
    ingest_judgments(api, 1, 1, 2)
    service(api).fanout.run_once()

    subject0 = world.subject_ids[0]
    alerts = _judgments(api, judicial_sub)
    assert [sid for sid, _ in alerts] == [subject0, subject0]
    assert all(grant_id is not None for _, grant_id in alerts)
    assert _judgments(api, tax_only) == []
    for sub in others:
        assert _judgments(api, sub) == []


def test_a_grant_revoked_after_fan_out_stops_the_alert_at_delivery_and_the_refusal_is_logged(
    api: Api, world: World
) -> None:
    from monitoring_support import Receiver

    grant = monitoring_grant(api, 0, world.bank.address)
    receiver = Receiver()
    sub = subscribe(
        api,
        world.bank.account,
        kind="risk_alerts",
        categories=["judicial"],
        webhook_url="http://bank.example/hooks",
    ).json()
    receiver.secret = sub["secret"]
    built = service(api, receiver)
    ingest_judgments(api, 0, 1, 1)
    built.fanout.run_once()
    world.ledger.revoke_grant(world.subject_tx[0], grant)
    built.delivery.run_once()
    assert receiver.seen == []
    assert [e.outcome for e in events_of(api, sub["id"])] == ["refused:revoked"]
    entry = api.last_entry()
    assert (entry["action"], entry["decision"], entry["reason"]) == (
        "alert_delivered",
        "denied",
        "revoked",
    )


def test_public_push_matches_region_industry_and_agreement(api: Api, world: World) -> None:
    registration = {
        "uscc": USCCS[0],
        "record_key": "reg-revoked",
        "enterprise_name": "河南示例有限公司",
        "enterprise_type": "limited_company",
        "industry_section": "C",
        "division_code": "410105",
        "registered_capital": "500.00",
        "established_on": "2015-03-01",
        "business_status": "revoked",
        "legal_representative": "张三",
    }
    zhengzhou = subscribe(
        api, world.bank.account, kind="public_push", regions=["4101"], industries=["C"]
    ).json()
    luoyang = subscribe(api, world.bank.account, kind="public_push", regions=["4103"]).json()
    ingest(api, "registration", [registration])  # licence revoked: a PUBLIC fact
    ingest_judgments(api, 0, 1, 1)  # a PUBLIC judgment of the same (now profiled) subject
    service(api).fanout.run_once()
    kinds = sorted(kind(e) for e in events_of(api, zhengzhou["id"]))
    assert kinds == ["judgment", "licence_revoked"]
    assert events_of(api, luoyang["id"]) == []
    assert all(e.grant_id is None for e in events_of(api, zhengzhou["id"]))


def test_a_credit_repair_request_and_its_repair_alert_the_monitoring_bank(
    api: Api, world: World
) -> None:
    key = world.subject_keys[0]
    wallet = api.client(key)
    monitoring_grant(api, 0, world.bank.address, categories=TAX)
    sub = add_subscription(api, world.bank.address, categories=TAX)
    target = wallet.my_records("tax").records[0]
    proof = wallet.record_proof(target.record_uid)
    reason = b"\x07" * 32
    deadline, signature = world.ledger.sign_dispute(
        key,
        DisputeKind.CREDIT_REPAIR,
        bytes.fromhex(proof.root[2:]),
        bytes.fromhex(proof.leaf[2:]),
        reason,
    )
    dispute = wallet.open_dispute(
        target.record_uid, int(DisputeKind.CREDIT_REPAIR), reason, deadline, signature
    )
    operator = api.client(world.operator.account)
    operator.resolve_dispute(dispute.dispute_id, int(DisputeOutcome.REPAIRED), b"\x08" * 32)
    service(api).fanout.run_once()
    events = [(kind(e), "0x" + bytes(e.record_uid).hex()) for e in events_of(api, sub)]
    assert ("dispute_opened", target.record_uid) in events
    assert ("record_repaired", target.record_uid) in events
