"""``ccl-bank`` monitoring verbs at the terminal: subscribe (the webhook secret goes to a 0600
file, never to the screen), list subscriptions, and tail a subscription's events after a
judgment is ingested."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

from bankkit import USCC, Bank, ServedPlatform

from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose

JUDICIAL_BIT = 1


def _monitoring_grant(platform: ServedPlatform) -> int:
    now = int(time.time())
    terms = GrantTerms(
        institution=platform.world.bank.address,
        categories=1 << JUDICIAL_BIT,
        purpose=Purpose.POST_LOAN_MONITORING,
        level=AccessLevel.QUERY,
        not_before=now - 3600,
        not_after=now + 30 * 86400,
    )
    return platform.world.ledger.issue_grant(platform.world.subject_tx[0], terms)


def test_subscribe_list_and_tail_the_alert_of_a_new_judgment(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    _monitoring_grant(platform)
    secret_file = tmp_path / "hook.secret"
    made = bank.json(
        "subscribe", "--kind", "risk-alerts", "--category", "judicial",
        "--webhook", "http://127.0.0.1:9/hooks", "--secret-out", str(secret_file),
    )  # fmt: skip
    secret = secret_file.read_text().strip()
    bank.secrets.add(secret)  # teardown checks no run printed it
    assert secret.startswith("whsec_") and "secret" not in made
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    pull = bank.json("subscribe", "--kind", "risk-alerts", "--category", "judicial")
    listed = bank.signed("subscriptions")
    assert listed.exit_code == 0 and "pull only" in listed.stdout and "risk_alerts" in listed.stdout
    judgment = {
        "uscc": USCC, "record_key": "j-1", "case_no": "(2026)豫01民初1号", "case_type": "civil",
        "court": "郑州市中级人民法院", "role": "defendant", "judgment_date": "2026-11-01",
        "status": "judged",
    }  # fmt: skip
    provider = platform.client(platform.world.operator.account)
    provider.ingest("judicial", json.dumps(judgment, ensure_ascii=False).encode())
    deadline = time.time() + 20  # a bound on the API's monitoring loop, not a timing assertion
    lines: list[str] = []
    while not lines and time.time() < deadline:
        tailed = bank.signed("events", "tail", "--subscription", str(pull["id"]), "--no-follow")
        assert tailed.exit_code == 0, tailed.stderr
        lines = [line for line in tailed.stdout.splitlines() if line.startswith("#")]
        time.sleep(0.2)
    assert lines and lines[0].startswith("#1 judgment") and "司法" in lines[0]


def test_a_webhook_without_a_secret_file_is_one_error_line(bank: Bank) -> None:
    result = bank.signed(
        "subscribe", "--kind", "risk-alerts", "--webhook", "https://bank.example/hooks"
    )
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert "--secret-out" in result.stderr.strip().splitlines()[-1]
