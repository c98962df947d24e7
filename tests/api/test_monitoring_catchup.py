"""Catch-up after downtime by polling (after=N, limit, acknowledgment) and by the SSE stream
resuming from Last-Event-ID; and bad input: 4xx problem+json with a stable code, logged,
nothing created."""

from __future__ import annotations

import json

import pytest
from api_support import Api
from monitoring_support import ingest_judgments, monitoring_grant, service, subscribe
from world import World

from ledger_api.errors import InputError
from ledger_api.monitoring.subscriptions import check_webhook_url


def _pull_subscription(api: Api, world: World) -> int:
    monitoring_grant(api, 0, world.bank.address)
    response = subscribe(api, world.bank.account, kind="risk_alerts", categories=["judicial"])
    assert response.status_code == 201, response.text
    assert response.json()["secret"] is None  # pull only: no webhook, no secret
    return int(response.json()["id"])


def test_polling_after_a_number_returns_the_missed_events_and_ack_records_progress(
    api: Api, world: World
) -> None:
    sub = _pull_subscription(api, world)
    ingest_judgments(api, 0, 1, 5)
    service(api).run_once()
    bank = api.client(world.bank.account)
    first = bank.call("GET", "/v1/institution/events", params={"subscription": sub, "limit": 2})
    assert [e["data"]["event_number"] for e in first["events"]] == [1, 2]
    assert first["events"][0]["data"]["kind"] == "judgment"
    assert set(first["events"][0]["data"]) >= {"subject_id", "category", "record_uid"}
    assert "fields" not in first["events"][0]["data"]  # thin: no record data
    rest = bank.call(
        "GET", "/v1/institution/events", params={"subscription": sub, "after": first["next_after"]}
    )
    assert [e["data"]["event_number"] for e in rest["events"]] == [3, 4, 5]
    acked = bank.call(
        "POST", "/v1/institution/events/ack", json_body={"subscription": sub, "up_to": 5}
    )
    assert acked["acknowledged_up_to"] == 5
    assert api.last_entry()["action"] == "alert_polled"


def test_the_stream_resumes_after_last_event_id(api: Api, world: World) -> None:
    sub = _pull_subscription(api, world)
    ingest_judgments(api, 0, 1, 4)
    service(api).run_once()
    bank = api.client(world.bank.account)
    params = {"subscription": sub, "follow": "false"}
    path = "/v1/institution/events/stream"
    headers = bank.signed_headers("GET", path, params)
    headers["last-event-id"] = "2"
    response = api.http.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    ids = [line[4:].strip() for line in response.text.splitlines() if line.startswith("id:")]
    data = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    assert ids == ["3", "4"]
    assert [d["data"]["event_number"] for d in data] == [3, 4]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "risk_alerts", "categories": ["judicial"]}, 403, "no_monitoring_grant"),
        ({"kind": "public_push", "regions": ["4199"]}, 422, "unknown_region"),
        ({"kind": "public_push", "industries": ["Z"]}, 422, "unknown_industry"),
        (
            {"kind": "public_push", "regions": ["4101"], "webhook_url": "ftp://x/y"},
            422,
            "invalid_webhook_url",
        ),
        ({"kind": "weather"}, 422, "invalid_subscription_kind"),
        ({"kind": "risk_alerts", "categories": ["gossip"]}, 422, "unknown_category"),
    ],
)
def test_bad_subscriptions_are_refused_logged_and_create_nothing(
    api: Api, world: World, body: dict, status: int, code: str
) -> None:
    response = subscribe(api, world.bank.account, **body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    entry = api.last_entry()
    assert (entry["decision"], entry["reason"]) == ("denied", code)
    assert api.client(world.bank.account).call("GET", "/v1/institution/subscriptions") == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"after": "-1"}, "invalid_after"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "100000"}, "invalid_limit"),
        ({"after": "x"}, "invalid_after"),
    ],
)
def test_a_page_size_or_after_out_of_range_is_refused(
    api: Api, world: World, params: dict, code: str
) -> None:
    sub = _pull_subscription(api, world)
    response = api.client(world.bank.account).send(
        "GET", "/v1/institution/events", params={"subscription": sub, **params}
    )
    assert (response.status_code, response.json()["code"]) == (422, code)


def test_another_institutions_subscription_is_not_found(api: Api, world: World) -> None:
    sub = _pull_subscription(api, world)
    response = api.client(world.insurer.account).send(
        "GET", "/v1/institution/events", params={"subscription": sub}
    )
    assert (response.status_code, response.json()["code"]) == (404, "unknown_subscription")


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.169.254", "::1", "fd00::1"]
)
def test_production_refuses_webhooks_that_resolve_to_private_or_loopback_addresses(
    address: str,
) -> None:
    with pytest.raises(InputError) as refused:
        check_webhook_url(
            "https://hooks.bank.example/x", production=True, resolve=lambda host: [address]
        )
    assert refused.value.code == "webhook_address_not_public"
    url = "https://hooks.bank.example/x"
    assert check_webhook_url(url, production=True, resolve=lambda h: ["93.184.216.34"]) == url
    assert check_webhook_url("http://127.0.0.1:9000/x", production=False) is not None
