"""How every ``ccl-wallet`` command talks to its user.

Results go to stdout: readable text and rich tables by default, one JSON document with the
global ``--json`` option. Everything else (prompts, notes, errors) goes to stderr, so that stdout
stays machine-readable. Errors are ONE line, ``error: <what went wrong>``, with exit code

- 2 for usage and input errors (bad option, ``InputError``: bad name, bad key file, refused
  keystore, ...),
- 1 for everything else (wrong password, not found, conflict, platform errors, aborted),
- 130 when interrupted,

and no traceback unless ``--debug``. Domain commands raise ``ledger_api.errors.LedgerError``
subclasses and call ``get_output().record(...)`` / ``.rows(...)`` / ``.done(...)``; the app
wrapper (``run_guarded``) does the rest.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import typer

from ledger_api.errors import InputError, LedgerError
from wallet_cli.config import current_config

PIPED_WIDTH = 250
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Click echoes stray arguments back; one of them may be a password or key pasted by mistake.
_EXTRA_ARGUMENTS = re.compile(r"Got unexpected extra argument\(s\) \(.*\)", re.DOTALL)
_EXTRA_ARGUMENTS_REDACTED = (
    "unexpected extra argument(s), not shown (passwords and keys are never taken as arguments)"
)


@dataclass(frozen=True)
class Column:
    """One column of a table: the row key it shows and its header."""

    key: str
    header: str
    no_wrap: bool = False  # set for values that must stay copy-pasteable (addresses, hashes)
    justify: Literal["left", "right"] = "left"


class Output:
    """Writes a command's result to stdout, as text/tables or as JSON."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode

    def record(self, data: Mapping[str, Any], *, title: str | None = None) -> None:
        """One object: aligned 'label  value' lines, or a JSON object."""
        if self.json_mode:
            self.json(data)
            return
        lines = [title] if title else []
        width = max((len(_label(k)) for k in data), default=0)
        lines += [f"{_label(k):<{width}}  {format_value(v)}" for k, v in data.items()]
        typer.echo("\n".join(lines))

    def rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        """A list of objects: a rich table, or a JSON array (all keys of each row)."""
        if self.json_mode:
            self.json(list(rows))
            return
        if not rows:
            note(empty)
            return
        from rich import box  # rich is slow to import: only when a table is printed
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for column in columns:
            table.add_column(column.header, no_wrap=column.no_wrap, justify=column.justify)
        for row in rows:
            table.add_row(*(Text(format_value(row.get(c.key))) for c in columns))
        # Piped output keeps whole values (addresses, ids) instead of squeezing to 80 columns.
        width = None if sys.stdout.isatty() else PIPED_WIDTH
        console = Console(highlight=False, soft_wrap=False, width=width)
        if _narrowest(rows, columns) <= console.width:
            console.print(table)
            return
        # Too narrow a terminal would crop values ("2027-03-07 15…"): one block per row instead.
        if title:
            typer.echo(title)
        header_width = max(len(c.header) for c in columns)
        for row in rows:
            typer.echo("")
            for c in columns:
                typer.echo(f"{c.header:<{header_width}}  {format_value(row.get(c.key))}")

    def done(self, text: str, data: Mapping[str, Any]) -> None:
        """The outcome of an action: one sentence, or ``data`` as JSON."""
        if self.json_mode:
            self.json(data)
        else:
            typer.echo(text)

    def json(self, data: Any) -> None:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=to_jsonable))


def _narrowest(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> int:
    """The fewest terminal cells the table needs without cropping a value: no_wrap cells whole,
    others down to their longest word, each column padded by one cell on either side."""
    from rich.cells import cell_len

    total = 0
    for c in columns:
        texts = [c.header, *(format_value(row.get(c.key)) for row in rows)]
        if c.no_wrap:
            total += max(cell_len(t) for t in texts)
        else:
            total += max((cell_len(w) for t in texts for w in t.split()), default=1)
        total += 2
    return total


def get_output() -> Output:
    """The output of the running command (honours the global ``--json``)."""
    return Output(json_mode=current_config().json_output)


def note(text: str) -> None:
    """An informational line for the human, on stderr (never part of the result)."""
    typer.echo(text, err=True)


def confirm(question: str, *, assume_yes: bool) -> None:
    """Ask a yes/no question on stderr; 'no' aborts the command (``--yes`` skips asking)."""
    if not assume_yes:
        typer.confirm(question, default=False, abort=True, err=True)


def to_jsonable(value: Any) -> Any:
    """JSON form of values json does not know: bytes as 0x-hex, times as ISO 8601."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def format_value(value: Any) -> str:
    """Human form of a value in a record or table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(v) for v in value) or "-"
    if isinstance(value, bytes | bytearray | memoryview | datetime | date | Enum | Path):
        return str(to_jsonable(value))
    return str(value)


def _label(key: str) -> str:
    return key.replace("_", " ")


# --------------------------------------------------------------------------- errors


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, typer.TyperException):  # click's ClickException / UsageError
        return exc.exit_code
    if isinstance(exc, InputError):
        return EXIT_USAGE
    return EXIT_FAILURE


def error_message(exc: BaseException) -> str:
    """What went wrong, on one line."""
    if isinstance(exc, typer.Abort):
        text = "aborted"
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    elif isinstance(exc, typer.TyperException):
        text = _EXTRA_ARGUMENTS.sub(_EXTRA_ARGUMENTS_REDACTED, exc.format_message())
        ctx = getattr(exc, "ctx", None)
        if exc.exit_code == EXIT_USAGE and ctx is not None:
            text += f" (see '{ctx.command_path} --help')"
    elif isinstance(exc, LedgerError):
        text = exc.detail
    elif isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        if exc.filename is not None:
            text += f": {exc.filename}"
    else:
        text = f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split())


def report_error(exc: BaseException, *, debug: bool) -> int:
    """Print ``exc`` as one stderr line (after its traceback with ``debug``); its exit code."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"error: {error_message(exc)}", err=True)
    return exit_code_for(exc)


def run_guarded(action: Callable[[], object], *, debug: bool) -> int:
    """Run a whole command; turn any exception into an error line and an exit code."""
    try:
        result = action()
    except (Exception, KeyboardInterrupt) as exc:
        return report_error(exc, debug=debug)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
