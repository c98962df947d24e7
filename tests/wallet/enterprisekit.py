"""An enterprise at its wallet (the ``enterprise`` fixture in conftest.py): a new account,
registered, approved, with records at an in-process platform."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from platformkit import InProcessPlatform, make_uscc
from walletkit import PASSWORD, Wallet

USCC = make_uscc(77)


@dataclass
class Enterprise:
    wallet: Wallet
    platform: InProcessPlatform
    account: LocalAccount
    subject_id: str

    def __call__(self, *args: str, input: str | None = None) -> Any:
        return self.wallet(
            [*args, "--password-file", str(self.wallet.home.parent / "pw.txt")], input=input
        )

    def json(self, *args: str) -> Any:
        result = self("--json", *args)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def grant(self, *extra: str, institution: str | None = None) -> int:
        address = institution or self.platform.bank.address
        return int(
            self.json(
                "grant",
                "--institution",
                address,
                "--categories",
                "tax",
                "--purpose",
                "loan_application",
                "--yes",
                *extra,
            )["grant_id"]
        )

    def bank_reads(self, grant_id: int) -> Any:
        return self.platform.client(self.platform.bank).records(
            self.subject_id, category="tax", purpose="loan_application", grant_id=grant_id
        )


def add_key_secret(wallet: Wallet) -> LocalAccount:
    keystore = json.loads(wallet.keystore_files()[0].read_text())
    account: LocalAccount = Account.from_key(Account.decrypt(keystore, PASSWORD))
    wallet.secrets |= {account.key.hex(), "0x" + account.key.hex()}
    return account
