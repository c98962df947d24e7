"""`ccl admin`: the operator's tasks against a running embedded stack, over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from eth_account import Account
from nodes import free_port
from typer.testing import CliRunner

from ledger_api.cli import app
from ledger_api.settings import Settings
from ledger_api.stack import EmbeddedStack

pytestmark = pytest.mark.slow


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[tuple[EmbeddedStack, str]]:
    stack = EmbeddedStack(Settings(data_dir=tmp_path / "platform", indexer_poll_interval_s=0.05))
    stack.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(stack.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield stack, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        stack.close()


def test_operator_registers_an_institution_and_a_provider_from_the_cli(
    running_stack: tuple[EmbeddedStack, str], tmp_path: Path
) -> None:
    stack, api = running_stack
    runner = CliRunner()
    bank, provider = Account.create().address, Account.create().address
    env = {"CCL_API_URL": api}
    done = runner.invoke(
        app, ["admin", "register-institution", bank, "--type", "bank", "--name", "Bank Z"], env=env
    )
    assert done.exit_code == 0, done.output
    assert stack.context.ledger.institution_profile(bank) == ("Bank Z", 0)
    assert runner.invoke(app, ["admin", "grant-role", "provider", provider], env=env).exit_code == 0
    assert stack.context.ledger.has_role("PROVIDER_ROLE", provider)
    document = tmp_path / "agreement.pdf"
    document.write_bytes(b"signed agreement")
    proposed = runner.invoke(
        app,
        ["admin", "propose-agreement", bank, "--categories", "tax", "--purposes",
         "loan_application", "--document", str(document)],
        env=env,
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    assert '"agreement_id": 1' in proposed.stdout


def test_admin_errors_are_one_line_with_a_non_zero_exit(
    running_stack: tuple[EmbeddedStack, str],
) -> None:
    _, api = running_stack
    runner = CliRunner()
    bad_type = runner.invoke(
        app,
        ["admin", "register-institution", "0x" + "11" * 20, "--type", "casino", "--name", "X"],
        env={"CCL_API_URL": api},
    )
    assert bad_type.exit_code == 2
    assert bad_type.stderr.strip().splitlines() == [
        "error: unknown institution type 'casino'; known: bank, insurer, guarantor, "
        "credit_service [invalid_input]"
    ]
    unreachable = runner.invoke(
        app, ["admin", "registrations"], env={"CCL_API_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert unreachable.exit_code == 1
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert "platform unreachable" in unreachable.stderr
    assert "Traceback" not in unreachable.output
