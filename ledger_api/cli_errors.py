"""One error policy for every command-line tool of the platform (`ccl`, `ccl-indexer`).

A failure is one line on stderr and a non-zero exit: 2 for bad input, 1 otherwise; the
traceback only with ``--debug``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ledger_api.errors import InputError, LedgerError

F = TypeVar("F", bound=Callable[..., Any])


def environment_errors() -> tuple[type[BaseException], ...]:
    """Environment failures worth a line of their own rather than a traceback (SQLAlchemy is
    imported only once a command has failed, so that help stays fast)."""
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError, ConnectionError)


def one_line_errors(is_debug: Callable[[], bool]) -> Callable[[F], F]:
    """A decorator for typer commands; ``is_debug`` says whether ``--debug`` was given."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except LedgerError as exc:
                if is_debug():
                    raise
                typer.echo(f"error: {exc.detail} [{exc.code}]", err=True)
                raise typer.Exit(2 if isinstance(exc, InputError) else 1) from None
            except Exception as exc:
                if is_debug() or not isinstance(exc, environment_errors()):
                    raise
                text = str(exc).strip()
                first = text.splitlines()[0] if text else type(exc).__name__
                typer.echo(f"error: {type(exc).__name__}: {first}", err=True)
                raise typer.Exit(1) from None

        return wrapper  # type: ignore[return-value]

    return decorate
