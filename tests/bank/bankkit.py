"""A bank at its terminal: ``ccl-bank`` run as a user would, against a platform served by
uvicorn (real HTTP, signed requests) on the session's embedded chain.

The platform is the wallet tests' one (``platformkit``) served with ``served``; the bank is the
world's first bank (registered as 中原银行郑州分行, its agreement accepted), its key imported into
a throw-away bank home. Every run is recorded so that teardown can check no secret was printed.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "wallet"))

from platformkit import platform_settings, sample_rows, served
from typer.testing import CliRunner, Result
from world import USCCS, World

from ledger_api.api.app import create_app
from ledger_api.api.context import AppContext, build_context
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.client import LedgerClient
from ledger_api.store.db import make_engine
from wallet_cli.bank.main import app

PASSWORD = "bank vault password"
TEST_KDF_N = "1024"  # low scrypt work factor: tests only
USCC = USCCS[0]  # bound to the world's first subject (dev key 7)
TAX_BIT = 2


@dataclass
class Bank:
    """The bank's operator at a terminal, with its own bank home."""

    home: Path
    api_url: str
    results: list[Result] = field(default_factory=list)
    secrets: set[str] = field(default_factory=lambda: {PASSWORD})

    @property
    def password_file(self) -> Path:
        path = self.home.parent / "bank-password.txt"
        if not path.exists():
            path.write_text(PASSWORD + "\n")
            path.chmod(0o600)
        return path

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        environment: dict[str, str | None] = {
            "CCL_BANK_HOME": str(self.home),
            "CCL_BANK_API_URL": self.api_url,
            "CCL_WALLET_KDF_N": TEST_KDF_N,
            "CCL_BANK_PASSWORD": None,
            **env,
        }
        result = CliRunner().invoke(app, list(args), input=input, env=environment)
        self.results.append(result)
        return result

    def signed(self, *args: str, input: str | None = None) -> Result:
        """A command that unlocks the key, with the password file."""
        return self(*args, "--password-file", str(self.password_file), input=input)

    def json(self, *args: str, code: int = 0) -> Any:
        result = self.signed("--json", *args)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def import_key(self, private_key: bytes) -> None:
        key_file = self.home.parent / "bank-key.txt"
        key_file.write_text(private_key.hex() + "\n")
        self.secrets |= {private_key.hex()}
        result = self.signed("import", "--private-key-file", str(key_file))
        assert result.exit_code == 0, result.stderr
        key_file.unlink()

    def assert_no_secret_printed(self) -> None:
        for result in self.results:
            for secret in self.secrets:
                assert secret not in result.stdout and secret not in result.stderr


@dataclass
class ServedPlatform:
    world: World
    ctx: AppContext
    url: str
    clients: list[LedgerClient] = field(default_factory=list)  # closed at teardown

    def client(self, account: Any) -> LedgerClient:
        client = LedgerClient(self.url, account)
        self.clients.append(client)
        return client

    def ingest_for(self, uscc: str) -> None:
        provider = self.client(self.world.operator.account)  # the operator is a provider here
        for category, rows in sample_rows(uscc).items():
            data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
            assert not provider.ingest(category, data).rejected

    def grant(
        self, institution: str | None = None, *, level: AccessLevel = AccessLevel.QUERY
    ) -> int:
        """A grant from the first subject (its own key, on chain) for tax records."""
        now = int(time.time())
        terms = GrantTerms(
            institution=institution or self.world.bank.address,
            categories=1 << TAX_BIT,
            purpose=Purpose.LOAN_APPLICATION,
            level=level,
            not_before=now - 3600,
            not_after=now + 30 * 86400,
        )
        return self.world.ledger.issue_grant(self.world.subject_tx[0], terms)

    def anchor(self) -> int | None:
        return self.client(self.world.operator.account).anchor_access_log()


@contextmanager
def served_platform(world: World, tmp_path: Path, template: Path) -> Iterator[ServedPlatform]:
    db = tmp_path / "ledger.sqlite"
    shutil.copy(template, db)
    settings = platform_settings(tmp_path)
    world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.operator.address)
    ctx = build_context(
        settings,
        w3=world.w3,
        deployment=world.ledger.deployment,
        engine=make_engine(f"sqlite:///{db}"),
        relayer=world.operator,
        run_migrations=False,
    )
    try:
        with served(create_app(settings, context=ctx)) as url:
            platform = ServedPlatform(world, ctx, url)
            try:
                yield platform
            finally:
                for client in platform.clients:
                    client.close()
    finally:
        ctx.close()
        ctx.engine.dispose()


def run_with(bank: Bank, *args: str) -> Sequence[str]:
    result = bank.signed(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()
