"""The bank's flow on a real node: anvil, the API served by uvicorn, ``ccl-bank`` reading under
a grant and verifying its receipt against the chain through ``--node`` (not the platform)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from bankkit import USCC, Bank
from platformkit import live_platform

from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]


def test_a_bank_reads_and_verifies_its_receipt_against_its_own_node(tmp_path: Path) -> None:
    with live_platform(tmp_path / "platform") as platform:
        world = platform.world
        bank = Bank(tmp_path / "bank-home", platform.api_url)
        bank.import_key(bytes(world.bank.account.key))
        platform.ingest_for(USCC)
        now = int(time.time())
        grant_id = world.ledger.issue_grant(
            world.subject_tx[0],
            GrantTerms(
                institution=world.bank.address,
                categories=1 << 2,
                purpose=Purpose.LOAN_APPLICATION,
                level=AccessLevel.QUERY,
                not_before=now - 3600,
                not_after=now + 86400,
            ),
        )
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
