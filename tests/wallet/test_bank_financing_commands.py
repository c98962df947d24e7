"""The ccl-bank financing verbs (``wallet_cli.bank.financing_commands.register``) on a Typer
app of their own, against the API app: publish a product, list applications, decide, report
an outcome; another bank's decision is one error line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from enterprisekit import Enterprise
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result
from walletkit import PASSWORD, Wallet, assert_one_line_error

from wallet_cli.bank.financing_commands import register

DAY = 86_400


class Bank:
    def __init__(self, wallet: Wallet, key: LocalAccount, name: str) -> None:
        self.wallet = wallet
        self.name = name
        self.app = typer.Typer()
        register(self.app)
        password = wallet.secret_file("bank-pw.txt", PASSWORD)
        key_file = wallet.secret_file(f"{name}-key.txt", key.key.hex())
        wallet.secrets |= {key.key.hex()}
        imported = wallet(
            ["import", "--name", name, "--private-key-file", str(key_file),
             "--password-file", str(password)]
        )  # fmt: skip
        assert imported.exit_code == 0, imported.stderr
        self.password = password

    def __call__(self, *args: str) -> Result:
        result = CliRunner().invoke(
            self.app,
            [*args, "--name", self.name, "--password-file", str(self.password)],
            env=self.wallet.env(CCL_WALLET_HOME=str(self.wallet.home)),
        )
        self.wallet.results.append(result)
        return result


@pytest.fixture
def bank(wallet: Wallet, enterprise: Enterprise) -> Bank:
    return Bank(wallet, enterprise.platform.bank, "bank")


def _product_file(tmp_path: Path) -> Path:
    now = int(time.time())
    path = tmp_path / "product.json"
    path.write_text(
        json.dumps(
            {"name": "科创信用贷", "kind": "pure_credit", "amount_min": 100000,
             "amount_max": 2000000, "term_min_months": 6, "term_max_months": 24,
             "rate_min_bp": 350, "rate_max_bp": 550, "regions": ["410100"],
             "industries": ["C"], "categories": ["tax"], "valid_from": now - DAY,
             "valid_until": now + 60 * DAY}
        )
    )  # fmt: skip
    return path


def test_a_bank_publishes_lists_approves_and_reports_repayment(
    bank: Bank, enterprise: Enterprise, tmp_path: Path
) -> None:
    published = bank("publish-product", str(_product_file(tmp_path)))
    assert published.exit_code == 0, published.stderr
    product_id = published.stdout.split()[1]
    applied = enterprise(
        "apply", product_id, "--amount", "300000", "--term", "12", "--region", "410100",
        "--industry", "C", "--yes",
    )  # fmt: skip
    assert applied.exit_code == 0, applied.stderr
    listed = bank("loan-applications", "--status", "submitted")
    assert listed.exit_code == 0 and "科创信用贷" in listed.stdout
    [filed] = enterprise.json("applications")
    decided = bank(
        "decide", str(filed["id"]), "--approve", "--amount", "300000", "--rate-bp", "400",
        "--term", "12", "--pure-credit", "--first-loan",
    )  # fmt: skip
    assert decided.exit_code == 0, decided.stderr
    assert "approved" in decided.stdout and "loan" in decided.stdout
    loan_id = enterprise.json("applications")[0]["loan_id"]
    repaid = bank("loan-outcome", str(loan_id), "repaid")
    assert repaid.exit_code == 0 and "repaid" in repaid.stdout


def test_deciding_another_banks_application_is_one_error_line(
    wallet: Wallet, enterprise: Enterprise, bank: Bank, tmp_path: Path
) -> None:
    product_id = bank("publish-product", str(_product_file(tmp_path))).stdout.split()[1]
    enterprise(
        "apply", product_id, "--amount", "300000", "--term", "12", "--region", "410100",
        "--industry", "C", "--yes",
    )  # fmt: skip
    [filed] = enterprise.json("applications")
    other = Bank(wallet, enterprise.platform.world.bank_b.account, "other")
    result = other("decide", str(filed["id"]), "--decline", "credit_history")
    assert_one_line_error(result, 1, "not addressed to this institution")
