"""Errors, JSON output, configuration, and a real ``ccl-wallet`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from walletkit import PASSWORD, PRIVATE_KEY, TEST_KDF_N, Wallet, assert_one_line_error

from ledger_api.errors import AuthError, ConflictError, InputError, NotFoundError
from wallet_cli.config import DEFAULT_API_URL, load_config
from wallet_cli.output import error_message, exit_code_for


def test_missing_keystore_is_a_one_line_error(wallet: Wallet) -> None:
    result = wallet(["sign-message", "hello", "--name", "ghost"], CCL_WALLET_PASSWORD=PASSWORD)

    assert_one_line_error(result, 1, "no keystore named 'ghost'")


def test_wrong_password_is_a_one_line_error(wallet: Wallet, password_file: Path) -> None:
    wallet(["new", "--name", "acme", "--password-file", str(password_file)])

    result = wallet(
        ["sign-message", "hello", "--name", "acme"], CCL_WALLET_PASSWORD="not it at all"
    )
    wallet.secrets.add("not it at all")

    assert_one_line_error(result, 1, "wrong password for keystore acme")
    assert result.stdout == ""


def test_unknown_option_is_a_usage_error(wallet: Wallet) -> None:
    result = wallet(["list", "--colour"])

    assert_one_line_error(result, 2, "No such option: --colour")


def test_password_is_never_accepted_as_an_argument(wallet: Wallet) -> None:
    result = wallet(["new", "--name", "acme", "--password", PASSWORD])

    assert_one_line_error(result, 2, "No such option")
    assert wallet.keystore_files() == []


def test_private_key_is_never_accepted_as_an_argument(wallet: Wallet) -> None:
    result = wallet(["import", "--name", "acme", PRIVATE_KEY])

    assert_one_line_error(result, 2, "not shown")
    assert wallet.keystore_files() == []


def test_invalid_account_name_is_an_input_error(wallet: Wallet, password_file: Path) -> None:
    result = wallet(["new", "--name", "../escape", "--password-file", str(password_file)])

    assert_one_line_error(result, 2, "invalid account name")
    assert not (wallet.home / "escape").exists()


def test_missing_password_file_is_an_input_error(wallet: Wallet, tmp_path: Path) -> None:
    result = wallet(["new", "--name", "acme", "--password-file", str(tmp_path / "nope.txt")])

    assert_one_line_error(result, 2, "cannot read password file")


def test_debug_shows_the_traceback(wallet: Wallet) -> None:
    result = wallet(["--debug", "address", "--name", "ghost"])

    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: no keystore named")


def test_json_flag_works_before_or_after_the_verb(wallet: Wallet, password_file: Path) -> None:
    wallet(["new", "--name", "acme", "--password-file", str(password_file)])

    before = wallet(["--json", "address", "--name", "acme"])
    after = wallet(["address", "--name", "acme", "--json"])

    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(after.stdout)["name"] == "acme"


def test_errors_stay_on_stderr_in_json_mode(wallet: Wallet) -> None:
    result = wallet(["--json", "address", "--name", "ghost"])

    assert_one_line_error(result, 1, "no keystore named")
    assert result.stdout == ""


def test_no_arguments_shows_help(wallet: Wallet) -> None:
    result = wallet([])

    assert result.exit_code == 0
    assert "sign-message" in result.stdout


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("bad"), 2),
        (AuthError("no"), 1),
        (NotFoundError("gone"), 1),
        (ConflictError("twice"), 1),
        (RuntimeError("bug"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_codes_by_error_kind(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


def test_error_messages_are_one_line() -> None:
    assert error_message(InputError("first\nsecond")) == "first second"
    assert "run with --debug" in error_message(RuntimeError("boom"))


def test_config_resolution_option_then_env_then_default(tmp_path: Path) -> None:
    env = {
        "CCL_WALLET_HOME": str(tmp_path / "env-home"),
        "CCL_WALLET_API_URL": "https://p.example/",
    }

    from_env = load_config(environ=env)
    from_options = load_config(home=tmp_path / "opt", api_url="http://h:1", environ=env)
    defaults = load_config(environ={})

    assert from_env.keystore_dir == tmp_path / "env-home" / "keystores"
    assert from_env.api_url == "https://p.example"
    assert (from_options.home, from_options.api_url) == (tmp_path / "opt", "http://h:1")
    assert defaults.api_url == DEFAULT_API_URL
    assert defaults.home == Path("~/.ccl-wallet").expanduser()


def test_bad_api_url_is_an_input_error(wallet: Wallet) -> None:
    result = wallet(["--api-url", "ftp://somewhere", "list"])

    assert_one_line_error(result, 2, "platform API URL")


def _ccl_wallet_command() -> list[str]:
    script = Path(sys.executable).parent / "ccl-wallet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wallet_cli.main"]


@pytest.mark.slow  # three interpreter start-ups (eth-account imports in ~1.5 s)
def test_real_process_creates_signs_and_fails_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CCL_WALLET_")},
        "CCL_WALLET_HOME": str(home),
        "CCL_WALLET_KDF_N": TEST_KDF_N,
    }

    def run(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"CCL_WALLET_PASSWORD": password} if password else {}
        return subprocess.run(
            [*_ccl_wallet_command(), *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )

    created = run("--json", "new", "--name", "acme", "--password-file", str(password_file))
    signed = run("sign-message", "hello", "--name", "acme", "--json", password=PASSWORD)
    wrong = run("sign-message", "hello", "--name", "acme", password="definitely wrong")

    assert created.returncode == 0, created.stderr
    address = json.loads(created.stdout)["address"]
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["address"] == address
    assert wrong.returncode == 1
    assert wrong.stdout == ""
    assert wrong.stderr == "error: wrong password for keystore acme\n"
    for proc in (created, signed, wrong):
        for secret in (PASSWORD, "definitely wrong"):
            assert secret not in proc.stdout + proc.stderr
