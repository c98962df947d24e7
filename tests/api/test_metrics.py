"""Metrics: the regulator's daily report (/v1/audit/metrics) and Prometheus /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_support import Api, ApiWorld, make_api
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_gate import read
from world import World

from indexer.follower import Indexer
from ledger_api.api.request_metrics import DailyCounts, endpoint_class
from ledger_api.client import LedgerClient
from ledger_api.errors import LedgerError
from ledger_api.store.db import make_engine, migrate

BANK_NAME = "中原银行郑州分行"


def _index(api: Api) -> None:
    Indexer.for_engine(
        api.world.w3, api.world.ledger.deployment, api.engine, api.settings
    ).run_once()


def _activity(api: Api) -> int:
    """A grant, an allowed read, a refused read, an unsigned request and a 404."""
    grant = api.grant()
    read(api, grant)
    with pytest.raises(LedgerError):
        read(api, grant, purpose="guarantee")
    assert api.http.get("/healthz").status_code == 200
    assert api.http.get("/v1/nowhere").status_code == 404
    _index(api)
    return grant


def _metrics(client: LedgerClient) -> dict:
    return client.audit_metrics()


def test_regulator_metrics_count_invocations_errors_grants_and_denials_per_day(
    api: Api,
) -> None:
    _activity(api)
    report = _metrics(api.client(api.world.regulator.account))
    data = report["data"]
    today = datetime.fromtimestamp(api.clock(), UTC).date()
    assert data["days"][0] == today.isoformat() and len(data["days"]) == 8
    institution = data["invocations"]["institution"]
    assert institution["currentDay"] == 2 and institution["previousDays"] == [0] * 7
    assert data["invocations"]["unauthenticated"]["currentDay"] >= 2  # /healthz and the 404
    assert data["averageResponse"]["institution"]["currentDay"] > 0
    assert data["averageResponse"]["institution"]["previousDays"] == [None] * 7
    errors = data["errors"]["aggregate"]["currentDay"]
    assert errors["403"] == 1 and errors["404"] == 1
    grants = data["authorisations"]
    assert grants["activeAuthorisationCount"] >= 1
    assert grants["newAuthorisationCount"]["currentDay"] >= 1
    assert grants["amendedAuthorisationCount"]["previousDays"] == [0] * 7
    assert data["denials"]["currentDay"] == {"purpose_mismatch": 1}
    (bank,) = data["institutions"]
    assert bank["institution"] == api.world.bank.address
    assert bank["institution_name"] == BANK_NAME
    assert bank["allowed"]["currentDay"] == 1 and bank["denied"]["currentDay"] == 1
    assert report["meta"]["timeZone"] == "UTC"


def test_regulator_metrics_put_yesterdays_requests_in_the_previous_days(api: Api) -> None:
    _activity(api)
    regulator = api.client(api.world.regulator.account)
    _metrics(regulator)  # flushes today's counts
    api.clock.advance(86400)
    data = _metrics(regulator)["data"]
    assert data["invocations"]["institution"]["currentDay"] == 0
    assert data["invocations"]["institution"]["previousDays"][0] == 2
    assert data["invocations"]["audit"]["previousDays"][0] == 1
    assert data["institutions"][0]["denied"]["previousDays"][0] == 1


def test_only_a_regulator_reads_the_metrics(api: Api) -> None:
    for who in (api.world.bank.account, api.world.operator.account):
        response = api.client(who).send("GET", "/v1/audit/metrics")
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.http.get("/v1/audit/metrics").status_code == 401


def test_request_counts_of_several_flushes_add_up_per_day_class_and_status(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'counts.sqlite'}")
    migrate(engine)
    now = [datetime(2026, 12, 7, 23, 59, tzinfo=UTC).timestamp()]
    counts = DailyCounts(engine, clock=lambda: now[0])
    counts.add("institution", 200, 0.010)
    counts.flush()
    counts.add("institution", 200, 0.030)
    counts.add("institution", 403, 0.001)
    now[0] += 120  # past midnight UTC
    counts.add("institution", 200, 0.005)
    counts.flush()
    counts.flush()  # nothing new: no change
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT day, endpoint_class, status, requests, round(total_ms, 3)"
            " FROM api_request_counts ORDER BY day, status"
        ).all()
    assert [tuple(r) for r in rows] == [
        ("2026-12-07", "institution", 200, 2, 40.0),
        ("2026-12-07", "institution", 403, 1, 1.0),
        ("2026-12-08", "institution", 200, 1, 5.0),
    ]
    engine.dispose()


def test_endpoint_classes_follow_the_route_template() -> None:
    assert endpoint_class("/v1/institution/subjects/{subject}/records") == "institution"
    assert endpoint_class("/v1/subject/grants") == "subject"
    assert endpoint_class("/v1/audit/{view}") == "audit"
    assert endpoint_class("/healthz") == endpoint_class("unmatched") == "unauthenticated"


def _scrape(http: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_prometheus_counts_requests_by_route_template_and_gate_decisions_by_reason(
    api_world: ApiWorld, world: World, tmp_path: Path
) -> None:
    api = make_api(api_world, world, tmp_path, metrics_remote=True)
    try:
        _activity(api)
        samples = _scrape(api.http)
    finally:
        api.ctx.close()
        api.ctx.engine.dispose()
    requests = {
        (labels["route"], labels["status"]): value
        for labels, value in samples["ccl_http_requests_total"]
    }
    records = "/v1/institution/subjects/{subject}/records"
    assert requests[(records, "200")] == 1 and requests[(records, "403")] == 1
    assert requests[("unmatched", "404")] == 1
    assert not any("0x" in route for route, _ in requests)  # templates, never subject ids
    latency = dict(
        (labels["route"], value)
        for labels, value in samples["ccl_http_request_duration_seconds_count"]
    )
    assert latency[records] == 2
    decisions = {
        (labels["decision"], labels["reason"]): value
        for labels, value in samples["ccl_access_decisions_total"]
    }
    assert decisions[("allowed", "ok")] >= 1 and decisions[("denied", "purpose_mismatch")] == 1
    assert samples["ccl_access_log_queue_depth"][0][1] == 0
    assert samples["ccl_access_log_unanchored_entries"][0][1] >= 2
    assert samples["ccl_access_log_anchor_lag_seconds"][0][1] >= 0
    assert samples["ccl_indexer_lag_blocks"][0][1] >= 0


def test_prometheus_metrics_are_refused_to_remote_clients_by_default(api: Api) -> None:
    response = api.http.get("/metrics")  # TestClient's client is "testclient", not loopback
    assert response.status_code == 403
    assert response.json()["code"] == "metrics_not_remote"
    local = TestClient(api.http.app, client=("127.0.0.1", 50000))
    assert local.get("/metrics").status_code == 200


_WORKER = textwrap.dedent("""
    import sys
    from types import SimpleNamespace
    from ledger_api.api.prometheus import OperatorMetrics
    from ledger_api.store.db import make_engine
    engine = make_engine(sys.argv[1])
    ctx = SimpleNamespace(engine=engine, writer=SimpleNamespace(queue_depth=0),
                          clock=lambda: 0.0, chain_head=lambda: 0)
    metrics = OperatorMetrics(ctx)
    for _ in range(int(sys.argv[2])):
        metrics.observe("GET", "/healthz", 200, 0.001)
    if sys.argv[3] == "render":
        sys.stdout.write(metrics.render().decode())
""")


def test_several_workers_are_summed_in_prometheus_multiprocess_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def worker(requests: int, then: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, url, str(requests), then],
            env=env, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout

    worker(3, "exit")
    text = worker(4, "render")
    (total,) = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ccl_http_requests_total" and s.labels.get("route") == "/healthz"
    ]
    assert total == 7
    assert "ccl_access_log_unanchored_entries 0.0" in text
