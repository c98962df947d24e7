"""Plumbing shared by the `ccl` commands and the operator modules behind them: settings, the
database, the chain, progress bars. Everything heavy is imported inside the functions, so that
`ccl --help` imports none of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ledger_api.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from ledger_api.anchoring.anchorer import Anchorer
    from ledger_api.settings import Settings


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def load_settings() -> Settings:
    from ledger_api.settings import Settings

    try:
        return Settings()
    except ValueError as exc:  # pydantic ValidationError wraps our InputError
        raise InputError(str(exc).splitlines()[-1].strip()) from None


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """The platform's database, migrated to the current schema; its connections are closed
    when the block ends (on SQLite the last one folds the write-ahead log back into the
    database file and removes it, so a command leaves one self-contained file behind)."""
    from ledger_api.store.db import make_engine, migrate

    url = settings.resolved_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def chain_anchorer(settings: Settings) -> Iterator[Anchorer]:
    """The ledger contract on the chain named by the settings (embedded unless CCL_CHAIN_URL),
    closed when the block ends."""
    from ledger_api.chain.anchorer import open_anchorer

    with open_anchorer(settings) as anchorer:
        yield anchorer


@contextmanager
def progress_bar(
    description: str, enabled: bool = True
) -> Iterator[Callable[[int, int | None], None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    err = stderr_console()
    if not enabled or not err.is_terminal:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )  # fmt: skip
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def hex_or_none(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()
