"""``ccl-wallet receivable ...`` against the API app on the eth-tester world: each verb shows in
words what it signs, the platform relays, refusals are one line."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from platformkit import InProcessPlatform
from typer.testing import CliRunner
from walletkit import PASSWORD, Wallet, assert_one_line_error
from world import USCCS

from indexer.follower import Indexer
from ledger_api.supply_chain_client import perform
from wallet_cli.bank.receivables import register

CORE, SUPPLIER, SUB = 0, 1, 2
BANK_NAME = "中原银行郑州分行"


@pytest.fixture
def chain_wallet(wallet: Wallet, platform: InProcessPlatform, tmp_path: Path) -> Wallet:
    """The wallet holding the core enterprise's, the supplier's and its supplier's keys."""
    pw = wallet.secret_file("pw.txt", PASSWORD)
    for i, name in enumerate(("core", "supplier", "sub")):
        key = platform.world.subject_keys[i].key.hex()
        wallet.secrets |= {key, "0x" + key}
        key_file = wallet.secret_file(f"{name}.key", key)
        result = wallet(
            ["import", "-n", name, "--private-key-file", str(key_file), "--password-file", str(pw)]
        )
        assert result.exit_code == 0, result.stderr
    return wallet


def _as(wallet: Wallet, name: str, *args: str) -> Any:
    pw = str(wallet.home.parent / "pw.txt")
    confirm = [] if args[0] == "list" else ["--yes"]
    return wallet(["receivable", *args, "-n", name, "--password-file", pw, *confirm, "--json"])


def _ok(wallet: Wallet, name: str, *args: str) -> dict[str, Any]:
    result = _as(wallet, name, *args)
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_register_confirm_split_transfer_finance_settle_and_list(
    chain_wallet: Wallet, platform: InProcessPlatform
) -> None:
    due = (date.today() + timedelta(days=60)).isoformat()
    registered = _as(
        chain_wallet, "supplier", "register", USCCS[CORE], "10000.00", "--due", due,
        "--invoice", "INV-W-1", "--contract", "PO-W-1", "--my-uscc", USCCS[SUPPLIER],
    )  # fmt: skip
    assert registered.exit_code == 0, registered.stderr
    assert "10000.00 CNY" in registered.stderr and "INV-W-1" in registered.stderr  # in words
    rid = json.loads(registered.stdout)["receivable_id"]

    confirmed = _ok(chain_wallet, "core", "confirm", str(rid))
    assert confirmed["record_status"] == "confirmed"
    whole = confirmed["part_id"]
    piece = _ok(chain_wallet, "supplier", "split", str(whole), "4000")["new_part_id"]
    _ok(chain_wallet, "supplier", "transfer", str(piece), USCCS[SUB])
    financed = _as(chain_wallet, "sub", "finance", str(piece), BANK_NAME, "--registry-no", "R-1")
    assert financed.exit_code == 0 and BANK_NAME in financed.stderr

    again = _as(chain_wallet, "sub", "finance", str(piece), "Bank B")
    assert_one_line_error(again, again.exit_code, f"financed with {BANK_NAME} and locked")
    assert again.exit_code != 0

    _ok(chain_wallet, "core", "settle", str(piece), "4000.00")
    world = platform.world
    Indexer.for_engine(world.w3, world.ledger.deployment, platform.ctx.engine).run_once()
    listed = _ok(chain_wallet, "core", "list")
    assert [(r["receivable_id"], r["paid"]) for r in listed["as_debtor"]] == [(rid, "4000.00")]
    assert [(p["part_id"], p["value"]) for p in listed["parts_owed"]] == [(whole, "6000.00")]
    table = chain_wallet(
        ["receivable", "list", "-n", "supplier", "--password-file",
         str(chain_wallet.home.parent / "pw.txt")]
    )  # fmt: skip
    assert table.exit_code == 0 and "6000.00" in table.stdout


def test_the_core_enterprise_registers_its_payable_confirmed_at_once(
    chain_wallet: Wallet, platform: InProcessPlatform
) -> None:
    due = (date.today() + timedelta(days=45)).isoformat()
    args = ("register-payable", USCCS[SUPPLIER], "3000.00", "--due", due, "--invoice", "INV-W-P",
            "--contract", "PO-W-P", "--my-uscc", USCCS[CORE])  # fmt: skip
    registered = _as(chain_wallet, "core", *args)
    assert registered.exit_code == 0, registered.stderr
    assert "3000.00 CNY" in registered.stderr and "counts as your confirmation" in registered.stderr
    done = json.loads(registered.stdout)
    assert (done["act"], done["record_status"]) == ("payable", "confirmed")

    # The supplier holds the part at once and moves it like any confirmed part.
    split = _ok(chain_wallet, "supplier", "split", str(done["part_id"]), "1000")
    assert split["new_part_id"] > done["part_id"]

    again = _as(chain_wallet, "core", *args)
    assert_one_line_error(again, again.exit_code, "already registered")
    assert again.exit_code != 0


def _financed_part(platform: InProcessPlatform) -> int:
    """A receivable of the core, confirmed, financed whole by the supplier with the bank."""
    world = platform.world
    keys = world.subject_keys
    due = (date.today() + timedelta(days=30)).isoformat()
    terms = {
        "debtor": USCCS[CORE], "amount": "800.00", "due_date": due, "invoice_no": "INV-B-1",
        "contract_no": "PO-B-1",
    }  # fmt: skip
    supplier = platform.client(keys[SUPPLIER])
    extra = {"supplier_uscc": USCCS[SUPPLIER]}
    rid = perform(supplier, keys[SUPPLIER], "registration", terms, extra=extra).receivable_id
    confirmed = perform(
        platform.client(keys[CORE]), keys[CORE], "confirmation", {"receivable_id": rid}
    )
    part = confirmed.part_id
    assert part is not None
    perform(supplier, keys[SUPPLIER], "financing", {"part_id": part, "institution": BANK_NAME})
    return part


def test_the_bank_lists_what_it_financed_and_releases_a_part(
    wallet: Wallet, platform: InProcessPlatform
) -> None:
    world = platform.world
    part = _financed_part(platform)
    bank_app = typer.Typer()
    register(bank_app)
    pw = wallet.secret_file("pw.txt", PASSWORD)
    key = world.bank.account.key.hex()
    wallet.secrets |= {key, "0x" + key}
    key_file = wallet.secret_file("bank.key", key)
    imported = wallet(["import", "-n", "bank", "--private-key-file", str(key_file),
                       "--password-file", str(pw)])  # fmt: skip
    assert imported.exit_code == 0, imported.stderr

    def bank(*args: str) -> Any:
        return CliRunner().invoke(
            bank_app, [*args, "-n", "bank", "--password-file", str(pw)], env=wallet.env()
        )

    Indexer.for_engine(world.w3, world.ledger.deployment, platform.ctx.engine).run_once()
    listed = bank("receivables", "--financed")
    assert listed.exit_code == 0, listed.output
    assert "800.00" in listed.stdout and str(part) in listed.stdout

    released = bank("receivable", "release", str(part), "--yes")
    assert released.exit_code == 0, released.output
    assert f"Part {part} released" in released.stdout
    assert f"Release the lock on part {part}" in released.stderr  # shown in words

    Indexer.for_engine(world.w3, world.ledger.deployment, platform.ctx.engine).run_once()
    assert "no receivable parts financed with you" in bank("receivables", "--financed").stderr
    assert "800.00" in bank("receivables").stdout  # ever financed with it
