"""Where the wallet keeps its keystores and which platform it talks to.

Resolution order for every setting: command-line option, then environment variable, then
default. The resolved ``WalletConfig`` of the running command is available to any code through
``current_config()`` (set by the global options callback in ``wallet_cli.main``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ledger_api.errors import InputError

HOME_ENV = "CCL_WALLET_HOME"
API_URL_ENV = "CCL_WALLET_API_URL"
DEFAULT_HOME = Path("~/.ccl-wallet")
DEFAULT_API_URL = "http://127.0.0.1:8700"
KEYSTORE_SUBDIR = "keystores"


@dataclass(frozen=True)
class WalletConfig:
    """Settings of one ``ccl-wallet`` invocation."""

    home: Path
    api_url: str = DEFAULT_API_URL
    json_output: bool = False
    debug: bool = False
    # Where an unattended run finds the keystore password (``ccl-bank``: CCL_BANK_PASSWORD).
    password_env: str = "CCL_WALLET_PASSWORD"
    new_password_env: str = "CCL_WALLET_NEW_PASSWORD"

    @property
    def keystore_dir(self) -> Path:
        return self.home / KEYSTORE_SUBDIR


def resolve_home(option: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    raw = option if option is not None else Path(env.get(HOME_ENV) or DEFAULT_HOME)
    return raw.expanduser().absolute()


def resolve_api_url(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    url = (option or env.get(API_URL_ENV) or DEFAULT_API_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(
            f"platform API URL must be http(s)://host[:port], got {url!r}", code="invalid_api_url"
        )
    return url


def load_config(
    *,
    home: Path | None = None,
    api_url: str | None = None,
    json_output: bool = False,
    debug: bool = False,
    environ: Mapping[str, str] | None = None,
) -> WalletConfig:
    return WalletConfig(
        home=resolve_home(home, environ),
        api_url=resolve_api_url(api_url, environ),
        json_output=json_output,
        debug=debug,
    )


_current: ContextVar[WalletConfig | None] = ContextVar("ccl_wallet_config", default=None)


@contextmanager
def using_config(config: WalletConfig) -> Iterator[WalletConfig]:
    """Make ``config`` the one ``current_config()`` returns, for the duration of a command."""
    token = _current.set(config)
    try:
        yield config
    finally:
        _current.reset(token)


def current_config() -> WalletConfig:
    """The running command's configuration; outside a command, the environment's defaults."""
    config = _current.get()
    return config if config is not None else load_config()
