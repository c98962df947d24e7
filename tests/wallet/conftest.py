"""Fixtures for the wallet CLI tests (helpers live in walletkit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from walletkit import PASSWORD, Wallet


@pytest.fixture
def wallet(tmp_path: Path) -> Iterator[Wallet]:
    user = Wallet(tmp_path / "wallet-home")
    yield user
    user.assert_no_secret_printed()


@pytest.fixture
def password_file(wallet: Wallet) -> Path:
    return wallet.secret_file("password.txt", PASSWORD)
