"""Fixtures for the wallet CLI tests (helpers live in walletkit.py, enterprisekit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from enterprisekit import USCC, Enterprise, add_key_secret
from platformkit import InProcessPlatform, in_process_platform, migrated_template
from walletkit import PASSWORD, Wallet
from world import World


@pytest.fixture
def wallet(tmp_path: Path) -> Iterator[Wallet]:
    user = Wallet(tmp_path / "wallet-home")
    yield user
    user.assert_no_secret_printed()


@pytest.fixture
def password_file(wallet: Wallet) -> Path:
    return wallet.secret_file("password.txt", PASSWORD)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("wallet-platform"))


@pytest.fixture
def platform(
    world: World, tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcessPlatform]:
    with in_process_platform(world, tmp_path, template, monkeypatch) as built:
        yield built


@pytest.fixture
def enterprise(wallet: Wallet, platform: InProcessPlatform) -> Enterprise:
    """A new account, registered, approved by the operator, with records at the platform."""
    wallet.secret_file("pw.txt", PASSWORD)
    assert wallet(["new", "--password-file", str(wallet.home.parent / "pw.txt")]).exit_code == 0
    account = add_key_secret(wallet)
    user = Enterprise(wallet, platform, account, "")
    registration = user.json("register", USCC, "--yes")
    platform.approve_pending()
    platform.ingest_for(USCC)
    user.subject_id = registration["subject_id"]
    return user
