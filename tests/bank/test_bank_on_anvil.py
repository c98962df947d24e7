"""The bank's flow on a real node: anvil, the API served by uvicorn, ``ccl-bank`` reading under
a grant and verifying its receipt against the chain through ``--node`` (not the platform);
checking a grant (the verdict in the exit code) and saving its consent receipt."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from bankkit import USCC, Bank
from platformkit import LivePlatform, live_platform

from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from wallet_cli.bank.grants import EXIT_NOT_USABLE

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]


def _tax_grant(platform: LivePlatform) -> int:
    now = int(time.time())
    return platform.world.ledger.issue_grant(
        platform.world.subject_tx[0],
        GrantTerms(
            institution=platform.world.bank.address,
            categories=1 << 2,
            purpose=Purpose.LOAN_APPLICATION,
            level=AccessLevel.QUERY,
            not_before=now - 3600,
            not_after=now + 86400,
        ),
    )


def test_a_bank_reads_and_verifies_its_receipt_against_its_own_node(tmp_path: Path) -> None:
    with live_platform(tmp_path / "platform") as platform:
        world = platform.world
        bank = Bank(tmp_path / "bank-home", platform.api_url)
        bank.import_key(bytes(world.bank.account.key))
        platform.ingest_for(USCC)
        grant_id = _tax_grant(platform)
        saved = tmp_path / "receipt.json"
        records = bank.signed(
            "records",
            USCC,
            "--category",
            "tax",
            "--grant",
            str(grant_id),
            "--receipt-out",
            str(saved),
        )
        assert records.exit_code == 0, records.stderr
        assert platform.client(world.operator.account).anchor_access_log() is not None

        verdict = bank.json("receipt", "verify", str(saved), "--node", platform.chain_url)
        assert verdict["status"] == "verified", verdict
        assert json.loads(saved.read_text())["receipt"]["grant_id"] == grant_id
        bank.assert_no_secret_printed()


def test_a_bank_checks_a_grant_by_exit_code_and_saves_its_consent_receipt(tmp_path: Path) -> None:
    with live_platform(tmp_path / "platform") as platform:
        world = platform.world
        bank = Bank(tmp_path / "bank-home", platform.api_url)
        bank.import_key(bytes(world.bank.account.key))
        grant_id = _tax_grant(platform)
        assert bank.signed("check", str(grant_id), "--category", "tax").exit_code == 0

        world.ledger.revoke_grant(world.subject_tx[0], grant_id)
        revoked = bank.json("check", str(grant_id), "--category", "tax", code=EXIT_NOT_USABLE)
        assert (revoked["usable"], revoked["reason"]) == (False, "revoked")

        out = tmp_path / "consent.json"
        saved = bank.json("grants", "receipt", str(grant_id), "--out", str(out))
        assert (saved["consent_status"], saved["institution_name"]) == (
            "withdrawn",
            "中原银行郑州分行",
        )
        events = json.loads(out.read_text(encoding="utf-8"))["record"]["events"]
        assert [e["type"] for e in events] == ["given", "withdrawn"]
        bank.assert_no_secret_printed()
