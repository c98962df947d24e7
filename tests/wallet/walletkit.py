"""Helpers for driving ``ccl-wallet`` as a user would, in a throw-away wallet home.

Every invocation made through a ``Wallet`` is recorded so that the ``wallet`` fixture can
assert, at teardown, that no registered secret (password, private key) ever appeared on
stdout or stderr.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from typer.testing import CliRunner, Result

from wallet_cli.main import app

TEST_KDF_N = "1024"  # low scrypt work factor: tests only
PASSWORD = "correct horse battery"
OTHER_PASSWORD = "another long password"
# A throw-away key used only by these tests.
PRIVATE_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


class Wallet:
    """A user at a terminal, with their own wallet home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.keystores = home / "keystores"
        self.runner = CliRunner()
        self.results: list[Result] = []
        self.secrets: set[str] = {PASSWORD, OTHER_PASSWORD, PRIVATE_KEY}

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {
            "CCL_WALLET_HOME": str(self.home),
            "CCL_WALLET_KDF_N": TEST_KDF_N,
            "CCL_WALLET_PASSWORD": None,
            "CCL_WALLET_NEW_PASSWORD": None,
            "CCL_WALLET_API_URL": None,
            **extra,
        }

    def __call__(
        self, args: Sequence[str], *, input: str | None = None, **env: str | None
    ) -> Result:
        result = self.runner.invoke(app, list(args), input=input, env=self.env(**env))
        self.results.append(result)
        return result

    def secret_file(self, name: str, content: str) -> Path:
        path = self.home.parent / name
        path.write_text(content + "\n")
        path.chmod(0o600)
        return path

    def keystore_files(self) -> list[Path]:
        if not self.keystores.is_dir():
            return []
        return sorted(p for p in self.keystores.iterdir() if p.suffix == ".json")

    def assert_no_secret_printed(self) -> None:
        for result in self.results:
            for secret in self.secrets:
                for form in {secret, secret.lower(), secret.upper()}:
                    assert form not in result.stdout, f"secret leaked on stdout: {result.stdout}"
                    assert form not in result.stderr, f"secret leaked on stderr: {result.stderr}"


def assert_one_line_error(result: Result, exit_code: int, *fragments: str) -> None:
    """The CLI failed the way users are promised: one 'error:' line, no traceback.

    Prompts answered before the failure may precede it on stderr (CliRunner does not echo the
    newline typed after a hidden answer, so the error can share the prompt's line).
    """
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.count("error: ") == 1, result.stderr
    last_line = result.stderr.rstrip("\n").splitlines()[-1]
    message = last_line[last_line.index("error: ") :]
    for fragment in fragments:
        assert fragment in message, message


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
