"""`ccl regulator` against the embedded stack over real HTTP: a regulator's keystore signs each
act, the act is said in words first, errors are one line, the password never shows."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from nodes import free_port
from pydantic import SecretStr
from typer.testing import CliRunner
from world import dev_key

from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import InstitutionType
from ledger_api.cli import app
from ledger_api.settings import Settings
from ledger_api.stack import EmbeddedStack
from wallet_cli.keystore import encrypt_key

pytestmark = pytest.mark.slow
PASSWORD = "a-regulator-password"
REGULATOR, BANK = dev_key(2), dev_key(4)


@pytest.fixture
def stack_api(tmp_path: Path) -> Iterator[tuple[EmbeddedStack, str]]:
    settings = Settings(data_dir=tmp_path / "platform", indexer_poll_interval_s=0.05)
    stack = EmbeddedStack(settings)
    stack.start()
    ledger = stack.context.ledger
    governance = Transactor(ledger.w3, dev_key(10))
    ledger.grant_role(governance, "REGULATOR_ROLE", REGULATOR.address)
    ledger.register_institution(stack.context.relayer, BANK.address, InstitutionType.BANK,
                                "中原银行郑州分行")  # fmt: skip
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


def _files(tmp_path: Path) -> list[str]:
    keystore, password = tmp_path / "regulator.json", tmp_path / "password"
    keystore.write_text(json.dumps(encrypt_key(REGULATOR.key, SecretStr(PASSWORD),
                                               work_factor=1024)))  # fmt: skip
    password.write_text(PASSWORD + "\n")
    return ["--keystore", str(keystore), "--password-file", str(password)]


def test_a_regulator_suspends_and_reinstates_an_institution_from_the_cli(
    stack_api: tuple[EmbeddedStack, str], tmp_path: Path
) -> None:
    stack, api = stack_api
    common = [*_files(tmp_path), "--api-url", api]
    runner = CliRunner()
    suspended = runner.invoke(app, ["regulator", "suspend-institution", BANK.address, *common],
                              input="y\n")  # fmt: skip
    assert suspended.exit_code == 0, suspended.output
    assert "SUSPEND institution 中原银行郑州分行" in suspended.stderr
    assert "suspend institution: 中原银行郑州分行 (" in suspended.stdout
    assert stack.context.ledger.institution(BANK.address).suspended
    declined = runner.invoke(app, ["regulator", "reinstate-institution", BANK.address, *common],
                             input="n\n")  # fmt: skip
    assert declined.exit_code == 1
    assert stack.context.ledger.institution(BANK.address).suspended
    done = runner.invoke(
        app, ["regulator", "reinstate-institution", BANK.address, *common, "--yes", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["regulator"] == REGULATOR.address
    assert not stack.context.ledger.institution(BANK.address).suspended
    assert all(PASSWORD not in r.output for r in (suspended, declined, done))


def test_regulator_cli_errors_are_one_line_with_a_non_zero_exit(
    stack_api: tuple[EmbeddedStack, str], tmp_path: Path
) -> None:
    _, api = stack_api
    runner = CliRunner()
    no_keystore = runner.invoke(app, ["regulator", "suspend-agreement", "1", "--api-url", api],
                                env={"CCL_REGULATOR_KEYSTORE": None})  # fmt: skip
    assert no_keystore.exit_code == 2
    assert no_keystore.stderr.strip().splitlines() == [
        "error: name the regulator's keystore: --keystore or CCL_REGULATOR_KEYSTORE [invalid_input]"
    ]
    unknown = runner.invoke(
        app, ["regulator", "suspend-agreement", "99", *_files(tmp_path), "--api-url", api, "--yes"]
    )
    assert unknown.exit_code == 1
    assert unknown.stderr.strip().splitlines() == ["error: no agreement 99 [unknown_agreement]"]
