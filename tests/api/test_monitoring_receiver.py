"""The ``ccl-bank`` monitoring verbs: the webhook receiver verifies each delivery with the
Standard Webhooks library and prints each alert once; a forged delivery gets 400; the verbs
are registered on a Typer app (``events tail`` as a group)."""

from __future__ import annotations

import threading

import httpx
import pytest
import typer
from api_support import Api
from monitoring_support import drain, ingest_judgments, monitoring_grant, service, subscribe
from sqlalchemy import update
from typer.testing import CliRunner
from world import World

from ledger_api.store.monitoring_tables import SUBSCRIPTIONS
from wallet_cli.bank.monitoring_commands import _sse_events, register, serve_receiver


def test_the_receiver_prints_each_alert_once_and_refuses_forgeries(
    api: Api, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    monitoring_grant(api, 0, world.bank.address)
    sub = subscribe(
        api,
        world.bank.account,
        kind="risk_alerts",
        categories=["judicial"],
        webhook_url="http://127.0.0.1:9/hooks",
    ).json()
    server = serve_receiver(0, sub["secret"])  # the port the system chose
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    with api.engine.begin() as conn:  # the endpoint moved to where the receiver listens
        conn.execute(update(SUBSCRIPTIONS).values(webhook_url=url))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        built = service(api)
        ingest_judgments(api, 0, 1, 2)
        drain(built, api)
        built.delivery.close()
        forged = httpx.post(
            url,
            content=b'{"data": {}}',
            headers={
                "webhook-id": "msg_x",
                "webhook-timestamp": "1",
                "webhook-signature": "v1,AA==",
            },
        )
    finally:
        server.shutdown()
        server.server_close()
    printed = capsys.readouterr()
    lines = [line for line in printed.out.splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in lines] == ["#1", "#2"]
    assert "judgment" in lines[0] and "司法" in lines[0]
    assert forged.status_code == 400
    assert "refused a delivery" in printed.err


def test_server_sent_events_are_parsed_into_id_and_data() -> None:
    lines = iter([": ping", "id: 3", "event: t", 'data: {"a": 1}', "", "id: 4", "data: {}", ""])
    assert [e["id"] for e in _sse_events(lines)] == ["3", "4"]


def test_the_verbs_register_on_a_typer_app() -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    for args in (
        ["subscribe", "--help"],
        ["events", "tail", "--help"],
        ["webhook-receiver", "--help"],
    ):
        assert runner.invoke(app, [*args, "--help"]).exit_code == 0
