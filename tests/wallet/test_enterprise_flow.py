"""The enterprise's whole journey, as a user runs it: ``ccl-wallet`` subprocesses against a real
uvicorn server and a real anvil node, the bank reading with its own signed client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from nodes import free_port
from platformkit import LivePlatform, live_platform, make_uscc
from typer.testing import CliRunner
from walletkit import PASSWORD

from ledger_api.errors import GrantError
from wallet_cli.main import app

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]

USCC = make_uscc(4242)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    with live_platform(tmp_path_factory.mktemp("live")) as platform:
        yield platform


class Cli:
    """``ccl-wallet`` run as a separate process, every run kept for the secret check."""

    def __init__(self, home: Path, live: LivePlatform, password_file: Path) -> None:
        self.env: dict[str, str | None] = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CCL_")},
            "CCL_WALLET_PASSWORD": None,
            "CCL_WALLET_HOME": str(home),
            "CCL_WALLET_KDF_N": "1024",
            "CCL_WALLET_API_URL": live.api_url,
            "CCL_WALLET_CHAIN_URL": live.chain_url,
        }
        self.password_file = password_file
        self.outputs: list[str] = []
        self.runner = CliRunner()

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A separate ``ccl-wallet`` process (the real console entry point)."""
        argv = [
            sys.executable,
            "-m",
            "wallet_cli.main",
            *args,
            "--password-file",
            str(self.password_file),
        ]
        env = {k: v for k, v in self.env.items() if v is not None}
        run = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        self.outputs.append(run.stdout + run.stderr)
        return run

    def text(self, *args: str) -> str:
        """The same CLI invoked in this process (faster start), still over real HTTP."""
        result = self.runner.invoke(
            app, [*args, "--password-file", str(self.password_file)], env=self.env
        )
        self.outputs.append(result.stdout + result.stderr)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.text("--json", *args))


def assert_one_line_failure(run: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_register_grant_read_audit_revoke_as_a_user_would(
    live: LivePlatform, tmp_path: Path
) -> None:
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    cli = Cli(tmp_path / "home", live, password_file)
    bank = live.world.bank.account

    created = cli.json("new")
    keystore = json.loads(Path(created["keystore"]).read_text())
    private_key = bytes(Account.decrypt(keystore, PASSWORD)).hex()

    run = cli("--json", "register", USCC, "--yes")
    assert run.returncode == 0, run.stderr
    registration = json.loads(run.stdout)
    assert registration["status"] == "pending_approval"
    assert cli.json("registration-status")["status"] == "pending_approval"
    assert live.approve_pending() == [registration["registration_id"]]
    assert cli.json("registration-status")["status"] == "bound"
    live.ingest_for(USCC)

    run = cli(
        "grant",
        "--institution",
        bank.address,
        "--categories",
        "tax,social_insurance",
        "--purpose",
        "loan_application",
        "--level",
        "query",
        "--days",
        "90",
        "--max-uses",
        "5",
        "--yes",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    for shown in (
        "中原银行郑州分行",
        "bank",
        "tax, social_insurance",
        "loan_application",
        "query",
        "5 queries",
        "90 days",
        str(live.world.w3.eth.chain_id),
        live.world.ledger.address,
        "platform relay",
    ):
        assert shown in run.stderr, (shown, run.stderr)
    grant_id = json.loads(run.stdout)["grant_id"]
    listed = {g["grant_id"]: g for g in cli.json("grants")}
    assert listed[grant_id]["status"] == "usable"
    assert listed[grant_id]["categories"] == ["tax", "social_insurance"]
    assert listed[grant_id]["institution_name"] == "中原银行郑州分行"

    page = live.client(bank).records(
        registration["subject_id"], category="tax", purpose="loan_application", grant_id=grant_id
    )
    assert len(page.records) == 2
    assert live.client(live.operator).anchor_access_log() is not None
    log = cli.json("access-log")
    reads = [e for e in log if e["actor"] == bank.address and e["grant_id"] == grant_id]
    assert reads and all(e["proof"] == "verified" for e in reads), reads
    assert "on chain" in reads[0]["proof_detail"]
    assert "verified" in cli.text("access-log")

    run = cli("--json", "revoke", str(grant_id), "--yes")
    assert run.returncode == 0, run.stderr
    revoked = json.loads(run.stdout)
    assert revoked["revoked"] is True
    with pytest.raises(GrantError) as refused:
        live.client(bank).records(
            registration["subject_id"],
            category="tax",
            purpose="loan_application",
            grant_id=grant_id,
        )
    assert refused.value.code == "revoked"
    assert {g["grant_id"]: g["status"] for g in cli.json("grants")}[grant_id] == "revoked"

    closed = free_port()
    with socket.socket() as s:  # nothing listens there
        s.bind(("127.0.0.1", closed))
    cli.env["CCL_WALLET_API_URL"] = f"http://127.0.0.1:{closed}"
    assert_one_line_failure(cli("grants"), f"platform unreachable at http://127.0.0.1:{closed}")

    secrets = {PASSWORD, private_key, "0x" + private_key}
    outputs = [*cli.outputs, live.server_log.getvalue()]
    assert live.server_log.getvalue(), "the server's log was not captured"
    for text in outputs:
        for secret in secrets:
            assert secret not in text and secret.upper() not in text
