"""The dashboard has no login: it binds loopback addresses only and answers loopback clients."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from indexer.cli import app
from indexer.dashboard import create_dashboard
from indexer.dashboard.app import PATHS, is_loopback
from indexer.dashboard.serve import NotLoopbackError, check_host
from ledger_api.store.db import make_engine


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_may_be_bound(host: str) -> None:
    assert check_host(host) == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_other_hosts_are_refused_before_binding(host: str) -> None:
    with pytest.raises(NotLoopbackError, match="loopback"):
        check_host(host)


def test_cli_refuses_a_public_bind_with_one_line_and_no_traceback() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "loopback" in result.output


def test_only_loopback_clients_count_as_this_machine() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("10.1.2.3") and not is_loopback(None)


@pytest.mark.parametrize("path", [*PATHS.values(), "/assets/chart.umd.js"])
@pytest.mark.parametrize("client", ["10.0.0.9", "192.168.1.20", "2001:db8::7"])
def test_a_request_from_another_machine_gets_403_on_every_path(
    tmp_path, path: str, client: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        remote = TestClient(create_dashboard(engine), client=(client, 50000))
        response = remote.get(path, params={"csv": "usage"})
        assert response.status_code == 403
        assert response.text == "the dashboard is served to this machine only"
    finally:
        engine.dispose()


def test_a_warm_up_that_cannot_read_the_log_says_why_and_leaves_the_server_up(
    tmp_path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no-tables.sqlite'}")  # never migrated
    try:
        app = create_dashboard(engine, warm_up=True)
        assert app.state.warm_up.wait(timeout=60)  # a bound on a hang, not a timing
        assert app.state.warm_up.failed is not None
        assert "access_log" in app.state.warm_up.failed
        assert TestClient(app, client=("10.0.0.9", 1)).get("/").status_code == 403
    finally:
        engine.dispose()
