"""Webhook deliveries: a receiver that is down for a while then returns gets every alert
exactly once by id (duplicates only as retries of the same id) and in order; 410 disables
the endpoint, 429 throttles; a tampered or replayed webhook fails verification with the
Standard Webhooks library; a rotated secret keeps the old one signing for a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_support import Api
from monitoring_support import (
    Receiver,
    drain,
    events_of,
    ingest_judgments,
    monitoring_grant,
    service,
    subscribe,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from world import World

from indexer.audit_monitoring import deliveries
from ledger_api.accesslog import ACCESS_LOG
from ledger_api.store.monitoring_tables import SUBSCRIPTIONS


def _webhook_subscription(api: Api, world: World, receiver: Receiver) -> dict:
    monitoring_grant(api, 0, world.bank.address)
    response = subscribe(
        api,
        world.bank.account,
        kind="risk_alerts",
        categories=["judicial"],
        webhook_url="https://bank.example/hooks",
    )
    assert response.status_code == 201, response.text
    sub = response.json()
    receiver.secret = sub["secret"]
    return sub


def _subscription(api: Api, sub_id: int) -> dict:
    with api.engine.connect() as conn:
        row = conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub_id)).one()
    return dict(row._mapping)


def test_a_receiver_down_for_hours_then_back_gets_every_alert_once_and_in_order(
    api: Api, world: World
) -> None:
    receiver = Receiver(status=503)
    sub = _webhook_subscription(api, world, receiver)
    built = service(api, receiver)
    ingest_judgments(api, 0, 1, 5)
    drain(built, api, passes=8, step_s=4000)  # down: retried with backoff over hours
    ingest_judgments(api, 0, 6, 3)  # more alerts while it is down
    drain(built, api, passes=3, step_s=4000)
    down_ids = {r.headers["webhook-id"] for r in receiver.seen}
    assert down_ids == {f"msg_{sub['id']}_1"}  # in order: nothing passes the first alert
    assert _subscription(api, sub["id"])["failures"] >= 10
    receiver.status = 200
    drain(built, api, passes=5, step_s=4000)
    numbers = [number for _, number in receiver.accepted]
    assert numbers == list(range(1, 9))
    assert len({webhook_id for webhook_id, _ in receiver.accepted}) == 8
    assert {e.outcome for e in events_of(api, sub["id"])} == {"delivered"}
    with api.engine.connect() as conn:
        delivered = conn.execute(
            select(ACCESS_LOG.c.decision).where(ACCESS_LOG.c.action == "alert_delivered")
        ).all()
    assert [d for (d,) in delivered] == ["allowed"] * 8
    with Session(api.engine) as session:  # the regulator's view of the same
        (summary,) = deliveries(session, institution=world.bank.address)
    assert (summary["events"], summary["pushed"], summary["refused"]) == (8, 8, 0)


def test_backoff_waits_longer_after_each_failure_and_429_honours_retry_after(
    api: Api, world: World
) -> None:
    receiver = Receiver(status=500)
    sub = _webhook_subscription(api, world, receiver)
    built = service(api, receiver)
    ingest_judgments(api, 0, 1, 1)
    built.run_once()
    first = _subscription(api, sub["id"])["next_attempt_at"] - api.clock()
    api.clock.advance(first + 1)
    built.run_once()
    second = _subscription(api, sub["id"])["next_attempt_at"] - api.clock()
    assert 2.5 <= first <= 5 and 5 <= second <= 10
    receiver.status = 429
    api.clock.advance(second + 1)
    built.run_once()
    assert _subscription(api, sub["id"])["next_attempt_at"] - api.clock() >= 120
    assert {r.headers["webhook-id"] for r in receiver.seen} == {f"msg_{sub['id']}_1"}


def test_410_gone_disables_the_endpoint_and_events_stay_available(api: Api, world: World) -> None:
    receiver = Receiver(status=410)
    sub = _webhook_subscription(api, world, receiver)
    built = service(api, receiver)
    ingest_judgments(api, 0, 1, 2)
    drain(built, api, passes=3, step_s=4000)
    assert len(receiver.seen) == 1
    row = _subscription(api, sub["id"])
    assert (row["status"], row["last_number"], row["delivered_number"]) == ("disabled", 2, 0)


def test_tampered_or_replayed_webhooks_fail_verification(api: Api, world: World) -> None:
    receiver = Receiver()
    sub = _webhook_subscription(api, world, receiver)
    built = service(api, receiver)
    ingest_judgments(api, 0, 1, 1)
    drain(built, api)
    request = receiver.seen[0]
    headers = dict(request.headers)
    hook = Webhook(sub["secret"])
    fresh = {**headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
    # re-signed now, so only the tampering is what fails below
    fresh["webhook-signature"] = hook.sign(
        headers["webhook-id"], datetime.now(UTC), request.content.decode()
    )
    assert hook.verify(request.content, fresh)["data"]["event_number"] == 1
    tampered = request.content.replace(b'"judgment"', b'"cleared!"')
    with pytest.raises(WebhookVerificationError):
        hook.verify(tampered, fresh)
    old = datetime.now(UTC) - timedelta(minutes=10)
    replayed = {
        **headers,
        "webhook-timestamp": str(int(old.timestamp())),
        "webhook-signature": hook.sign(headers["webhook-id"], old, request.content.decode()),
    }
    with pytest.raises(WebhookVerificationError):
        hook.verify(request.content, replayed)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(request.content, fresh)


def test_a_rotated_secret_signs_beside_the_previous_one(api: Api, world: World) -> None:
    receiver = Receiver()
    sub = _webhook_subscription(api, world, receiver)
    rotated = api.client(world.bank.account).call(
        "POST", f"/v1/institution/subscriptions/{sub['id']}/rotate-secret"
    )
    assert rotated["secret"] != sub["secret"]
    built = service(api, receiver)
    api.clock.now = datetime.now(UTC).timestamp()
    ingest_judgments(api, 0, 1, 1)
    drain(built, api)  # the receiver still holds the old secret: it verifies
    receiver.secret = rotated["secret"]
    ingest_judgments(api, 0, 2, 1)
    drain(built, api)
    assert [n for _, n in receiver.accepted] == [1, 2]


def test_a_paused_subscription_collects_events_and_resume_delivers_them_in_order(
    api: Api, world: World
) -> None:
    receiver = Receiver()
    sub = _webhook_subscription(api, world, receiver)
    bank = api.client(world.bank.account)
    built = service(api, receiver)
    bank.call("POST", f"/v1/institution/subscriptions/{sub['id']}/pause")
    ingest_judgments(api, 0, 1, 3)
    drain(built, api)
    assert receiver.seen == [] and _subscription(api, sub["id"])["last_number"] == 3
    bank.call("POST", f"/v1/institution/subscriptions/{sub['id']}/resume")
    drain(built, api)
    assert [n for _, n in receiver.accepted] == [1, 2, 3]
    bank.call("DELETE", f"/v1/institution/subscriptions/{sub['id']}")
    ingest_judgments(api, 0, 4, 1)
    drain(built, api)
    assert len(receiver.accepted) == 3
    assert bank.call("GET", "/v1/institution/subscriptions") == []
