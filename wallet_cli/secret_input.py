"""Getting passwords and private keys from the user without ever taking them as arguments.

Sources, first match wins: a file named by an option (``--password-file``,
``--private-key-file``), then an environment variable (``CCL_WALLET_PASSWORD``; for a
replacement password ``CCL_WALLET_NEW_PASSWORD``), then a hidden prompt on the terminal
(prompts are written to stderr). Values come back as ``SecretStr`` and no error message ever
contains them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import typer
from pydantic import SecretStr

from ledger_api.errors import InputError
from wallet_cli.config import current_config
from wallet_cli.keystore import private_key_from_hex

PASSWORD_ENV = "CCL_WALLET_PASSWORD"
NEW_PASSWORD_ENV = "CCL_WALLET_NEW_PASSWORD"
MIN_PASSWORD_LENGTH = 8
MAX_SECRET_FILE_BYTES = 4096


def read_secret_file(path: Path, what: str) -> SecretStr:
    """The first line of ``path`` (a password or key file), without its line ending."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise InputError(f"{what} file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{what} file {path} is not UTF-8 text") from None
    if not lines or not lines[0]:
        raise InputError(f"{what} file {path} is empty (its first line is used)")
    return SecretStr(lines[0])


def existing_password(
    prompt: str,
    *,
    password_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretStr:
    """The password of an existing keystore: file, ``CCL_WALLET_PASSWORD``, or hidden prompt."""
    env = os.environ if environ is None else environ
    env_var = current_config().password_env
    if password_file is not None:
        return read_secret_file(password_file, "password")
    if env.get(env_var):
        return SecretStr(env[env_var])
    return SecretStr(typer.prompt(prompt, hide_input=True, err=True))


def new_password(
    *,
    password_file: Path | None = None,
    env_var: str | None = None,
    prompt: str = "New password",
    environ: Mapping[str, str] | None = None,
) -> SecretStr:
    """A password for a keystore being written: file, ``env_var`` (default: the program's
    password variable), or prompt typed twice."""
    env = os.environ if environ is None else environ
    env_var = env_var or current_config().password_env
    if password_file is not None:
        password = read_secret_file(password_file, "password")
    elif env.get(env_var):
        password = SecretStr(env[env_var])
    else:
        return _prompt_new_password(prompt)
    _check_length(password)
    return password


def _check_length(password: SecretStr) -> None:
    if len(password.get_secret_value()) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"a keystore password must be at least {MIN_PASSWORD_LENGTH} characters",
            code="weak_password",
        )


def _prompt_new_password(prompt: str) -> SecretStr:
    """Ask on the terminal, typed twice. A too short password is refused at its first entry,
    before the user types it again; a mismatch asks again."""
    while True:
        first = SecretStr(typer.prompt(prompt, hide_input=True, err=True))
        _check_length(first)
        second = typer.prompt("Repeat for confirmation", hide_input=True, err=True)
        if second == first.get_secret_value():
            return first
        typer.echo("Error: The two entered values do not match.", err=True)


def private_key_input(private_key_file: Path | None) -> bytes:
    """A private key from ``--private-key-file`` or a hidden prompt, validated."""
    if private_key_file is not None:
        secret = read_secret_file(private_key_file, "private key")
        return private_key_from_hex(secret, f"private key file {private_key_file}")
    secret = SecretStr(typer.prompt("Private key (hex)", hide_input=True, err=True))
    return private_key_from_hex(secret, "the private key entered")
