"""The embedded stack serves the regulators' dashboard under /dashboard on the API's port."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger_api.settings import Settings
from ledger_api.stack import EmbeddedStack

pytestmark = pytest.mark.slow


def test_stack_serves_the_dashboard_and_its_chart_script_under_dashboard(tmp_path: Path) -> None:
    stack = EmbeddedStack(Settings(data_dir=tmp_path, access_log_anchor_every_s=3600))
    try:
        stack.catch_up()
        http = TestClient(stack.app())
        overview = http.get("/dashboard/")
        assert overview.status_code == 200
        assert "总览" in overview.text and 'data-kpi="institutions"' in overview.text
        assert 'href="/dashboard/violations?lang=zh"' in overview.text  # links stay under the mount
        chart = http.get("/dashboard/assets/chart.umd.js")
        assert chart.status_code == 200 and "Chart" in chart.text[:5000]
        assert http.get("/dashboard/access?lang=en").text.count("Accesses per day") == 1
    finally:
        stack.close()
