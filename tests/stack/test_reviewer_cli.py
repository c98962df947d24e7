"""`ccl regulator whitelist` against the embedded stack over real HTTP: a reviewer (a
regulator-role key designated for Zhengzhou) lists its region's entries, reviews one against the
five criteria with evidence files hashed on this machine, recommends it and pushes it to the bank
the enterprise granted, rejects another; errors are one line with a non-zero exit and the
password never shows."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from nodes import free_port
from pydantic import SecretStr
from sqlalchemy import insert
from typer.testing import CliRunner, Result
from world import dev_key

from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AccessLevel, InstitutionType, Purpose
from ledger_api.cli import app
from ledger_api.client import LedgerClient
from ledger_api.financing.tables import WHITELIST
from ledger_api.settings import Settings
from ledger_api.stack import EmbeddedStack
from wallet_cli.keystore import encrypt_key

pytestmark = pytest.mark.slow
PASSWORD = "a-reviewer-password"
REGULATOR, BANK, REVIEWER, ENTERPRISE = dev_key(2), dev_key(4), dev_key(5), dev_key(7)
CRITERIA = ("compliant_operation", "fixed_premises", "financing_need", "good_credit",
            "lawful_loan_use")  # fmt: skip
DAY = 86_400


@pytest.fixture
def stack_api(tmp_path: Path) -> Iterator[tuple[EmbeddedStack, str]]:
    """A stack with a bank, a regulator, a reviewer designated for 410100 and an enterprise
    bound on chain that granted the bank loan_application access."""
    settings = Settings(data_dir=tmp_path / "platform", indexer_poll_interval_s=0.05)
    stack = EmbeddedStack(settings)
    stack.start()
    ledger = stack.context.ledger
    governance = Transactor(ledger.w3, dev_key(10))
    for key in (REGULATOR, REVIEWER):
        ledger.grant_role(governance, "REGULATOR_ROLE", key.address)
    ledger.register_institution(stack.context.relayer, BANK.address, InstitutionType.BANK,
                                "中原银行郑州分行")  # fmt: skip
    subject = os.urandom(32)
    deadline, signature = ledger.sign_registration(ENTERPRISE, subject)
    ledger.bind_subject(stack.context.relayer, subject, ENTERPRISE.address, deadline, signature)
    now = int(time.time())
    terms = GrantTerms(BANK.address, 0b101, Purpose.LOAN_APPLICATION, AccessLevel.QUERY,
                       now - 60, now + 60 * DAY)  # fmt: skip
    ledger.issue_grant(Transactor(ledger.w3, ENTERPRISE), terms)
    # The roles above reach the API through the indexer's thread: wait until it has them.
    give_up_at = time.monotonic() + 30
    while stack.indexer.lag() > 0 and time.monotonic() < give_up_at:
        time.sleep(0.05)
    assert stack.indexer.lag() == 0, "the indexer did not catch up with the setup's transactions"
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(stack.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    regulator = LedgerClient(url, REGULATOR)
    try:
        regulator.call("POST", "/v1/audit/whitelist/reviewers",
                       json_body={"address": REVIEWER.address, "regions": ["410100"]})  # fmt: skip
    finally:
        regulator.close()
    # Two entries of Zhengzhou counties, as the enterprise's wallet would have submitted them
    # (tests/api/test_whitelist.py covers that step), and one of Luoyang.
    with stack.context.engine.begin() as conn:
        for region, who in (("410102", subject), ("410105", os.urandom(32)),
                            ("410302", os.urandom(32))):  # fmt: skip
            conn.execute(insert(WHITELIST).values(
                subject_id=who, account=ENTERPRISE.address, region=region, industry="C",
                state="submitted", criteria=json.dumps(dict.fromkeys(CRITERIA, "0x" + "aa" * 32)),
                submitted_at=now, updated_at=now,
            ))  # fmt: skip
    try:
        yield stack, url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        stack.close()


def _common(tmp_path: Path, api: str) -> list[str]:
    keystore, password = tmp_path / "reviewer.json", tmp_path / "password"
    keystore.write_text(json.dumps(encrypt_key(REVIEWER.key, SecretStr(PASSWORD),
                                               work_factor=1024)))  # fmt: skip
    password.write_text(PASSWORD + "\n")
    return ["--keystore", str(keystore), "--password-file", str(password), "--api-url", api]


def _run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["regulator", "whitelist", *args], input=input)


def test_a_reviewer_reviews_recommends_and_pushes_an_entry_from_the_cli(
    stack_api: tuple[EmbeddedStack, str], tmp_path: Path
) -> None:
    _, api = stack_api
    common = _common(tmp_path, api)
    listed = _run("list", *common)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2  # the Luoyang entry is not this reviewer's
    assert lines[0].startswith("#1  410102 郑州市 · C 制造业  submitted")
    started = _run("start-review", "1", *common, input="y\n")
    assert started.exit_code == 0, started.output
    assert "START REVIEW of white-list entry #1" in started.stderr
    assert "under_review" in started.stdout
    outputs = [listed, started]
    for criterion in CRITERIA:
        evidence = tmp_path / f"{criterion}.pdf"
        evidence.write_bytes(f"scan of {criterion}".encode())
        done = _run("criterion", "1", criterion, "--evidence", str(evidence), *common,
                    "--yes", "--json")  # fmt: skip
        assert done.exit_code == 0, done.output
        found = json.loads(done.stdout)["findings"][criterion]
        assert found["evidence"] == "0x" + hashlib.sha256(evidence.read_bytes()).hexdigest()
        assert found["met"] is True and found["reviewer"] == REVIEWER.address
        outputs.append(done)
    recommended = _run("recommend", "1", *common, "--yes")
    assert recommended.exit_code == 0, recommended.output
    assert "recommended" in recommended.stdout and "criteria met 5/5" in recommended.stdout
    pushed = _run("push", "1", "--bank", BANK.address, *common, "--yes")
    assert pushed.exit_code == 0, pushed.output
    assert f"pushed to 中原银行郑州分行 ({BANK.address}) pending" in pushed.stdout
    rejected = (
        _run("start-review", "2", *common, "--yes"),
        _run("reject", "2", "--reason", "premises_unproven", "--repairable", *common, "--yes"),
    )
    assert all(r.exit_code == 0 for r in rejected), rejected[1].output
    assert "rejected" in rejected[1].stdout and "reason premises_unproven" in rejected[1].stdout
    outputs += [recommended, pushed, *rejected]
    assert all(PASSWORD not in r.output for r in outputs)


def test_reviewer_cli_errors_are_one_line_with_a_non_zero_exit(
    stack_api: tuple[EmbeddedStack, str], tmp_path: Path
) -> None:
    _, api = stack_api
    common = _common(tmp_path, api)
    cases = [
        # a step out of order: the entry is only submitted
        (("recommend", "1", *common, "--yes"), 1, "[whitelist_state_order]"),
        # the Luoyang entry is outside this reviewer's region
        (("start-review", "3", *common, "--yes"), 1, "[reviewer_out_of_region]"),
        (
            (
                "criterion",
                "1",
                "good_credit",
                "--evidence",
                str(tmp_path / "missing.pdf"),
                *common,
                "--yes",
            ),
            2,
            "cannot read evidence",
        ),
        (
            ("criterion", "1", "nice_logo", "--evidence", __file__, *common, "--yes"),
            2,
            "[unknown_criterion]",
        ),
        (
            ("reject", "1", "--reason", "premises_unproven", *common, "--yes"),
            2,
            "--repairable or --final",
        ),
        # the enterprise granted the bank, not the regulator's own key
        (
            ("push", "1", "--bank", REGULATOR.address, *common, "--yes"),
            1,
            "[whitelist_state_order]",
        ),
    ]
    for args, code, text in cases:
        result = _run(*args)
        assert result.exit_code == code, (args, result.output)
        # The step in words (when it got that far), then the one error line.
        lines = result.stderr.strip().splitlines()
        errors = [line for line in lines if line.startswith("error: ")]
        assert errors == lines[-1:] and text in errors[0] and len(lines) <= 2, lines
        assert "Traceback" not in result.output and PASSWORD not in result.output
    _run("start-review", "1", *common, "--yes")
    for criterion in CRITERIA:
        _run("criterion", "1", criterion, "--evidence", __file__, *common, "--yes")
    _run("recommend", "1", *common, "--yes")
    ungranted = _run("push", "1", "--bank", REGULATOR.address, *common, "--yes")
    assert ungranted.exit_code == 2, ungranted.output
    assert ungranted.stderr.strip().endswith("[push_grant_mismatch]")
    no_keystore = CliRunner().invoke(
        app, ["regulator", "whitelist", "list", "--api-url", api],
        env={"CCL_REGULATOR_KEYSTORE": None},
    )  # fmt: skip
    assert no_keystore.exit_code == 2
    assert no_keystore.stderr.strip().splitlines() == [
        "error: name the regulator's keystore: --keystore or CCL_REGULATOR_KEYSTORE [invalid_input]"
    ]
