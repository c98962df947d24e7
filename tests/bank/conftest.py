"""Fixtures for driving ``ccl-bank`` (helpers in bankkit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bankkit import Bank, ServedPlatform, served_platform
from platformkit import migrated_template
from world import World


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("bank-platform"))


@pytest.fixture
def platform(world: World, tmp_path: Path, template: Path) -> Iterator[ServedPlatform]:
    with served_platform(world, tmp_path, template) as served:
        yield served


@pytest.fixture
def bank(platform: ServedPlatform, tmp_path: Path) -> Iterator[Bank]:
    """The world's first bank, its key imported into a fresh bank home."""
    user = Bank(tmp_path / "bank-home", platform.url)
    user.import_key(bytes(platform.world.bank.account.key))
    yield user
    user.assert_no_secret_printed()
