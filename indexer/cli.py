"""``ccl-indexer``: follow the ledger into SQL, report status, rebuild, re-check the access
log, print audit views.

Settings come from ``CCL_*`` (ledger_api.settings): chain_url (empty: the embedded chain under
data_dir/chain, which only one process may hold: the embedded stack runs the indexer in a
thread instead), database_url, deployment_file, confirmation_depth, reorg_window_blocks,
indexer_poll_interval_s. Errors are one line on stderr and a non-zero exit (``--debug`` shows
the traceback).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger_api.cli_errors import one_line_errors
from ledger_api.cli_support import load_settings as _settings
from ledger_api.errors import InputError

# Each command imports its own machinery (web3, SQLAlchemy, rich): help starts fast.
if TYPE_CHECKING:
    from indexer.follower import Indexer
    from ledger_api.settings import Settings

app = typer.Typer(
    name="ccl-indexer", help="Follow the ConsentLedger into SQL; audit views.",
    no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
)  # fmt: skip
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


handles_errors = one_line_errors(lambda: _state["debug"])


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    err = Console(stderr=True)
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (TextColumn("indexing blocks"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("index", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def _indexer(progress: bool = False) -> Iterator[Indexer]:
    from web3 import Web3

    from indexer.follower import Indexer
    from ledger_api.chain.deployment import Deployment, check_deployment
    from ledger_api.store.db import ensure_schema, make_engine

    settings = _settings()
    _refuse_beside_a_running_stack(settings)
    with ExitStack() as stack:
        if settings.chain_url:
            w3 = Web3(Web3.HTTPProvider(settings.chain_url))
        else:
            from ledger_api.chain.embedded import open_embedded

            chain = open_embedded(settings.data_dir / "chain")
            stack.callback(chain.close)
            w3 = chain.w3
        deployment = Deployment.load(settings.resolved_deployment_file)
        check_deployment(w3, deployment)
        engine = make_engine(settings.resolved_database_url)
        stack.callback(engine.dispose)
        ensure_schema(engine, migrate_if_behind=settings.mode == "embedded")
        reporter = stack.enter_context(_progress(progress))
        yield Indexer.for_engine(w3, deployment, engine, settings, progress=reporter)


@app.command()
@handles_errors
def run() -> None:
    """Follow the chain until interrupted (SIGINT/SIGTERM)."""
    settings = _settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with _indexer(progress=True) as indexer:
        typer.echo(f"following {indexer.contract} on chain {indexer.chain_id}", err=True)
        indexer.run_forever(stop, settings.indexer_poll_interval_s)


@app.command("catch-up")
@handles_errors
def catch_up() -> None:
    """Index up to the confirmed head, then exit."""
    with _indexer(progress=True) as indexer:
        added = indexer.catch_up()
        status = indexer.status()
    typer.echo(f"indexed {added} event(s); at block {status.indexed_block}, lag {status.lag}")


@app.command()
@handles_errors
def rebuild(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop the replica and index everything again from the deployment block."""
    if not yes and not typer.confirm("Drop the indexed replica and rebuild it?"):
        raise typer.Exit(1)
    with _indexer(progress=True) as indexer:
        added = indexer.rebuild()
    typer.echo(f"rebuilt: {added} event(s)")


@app.command()
@handles_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where the replica stands and how far it lags the confirmed head (while `ccl stack`
    runs, its indexer's, asked through its API)."""
    report = _status_of_running_stack()
    if report is None:
        with _indexer() as indexer:
            report = indexer.status().as_dict()
    if as_json:
        typer.echo(json.dumps(report))
        return
    for key, value in report.items():
        typer.echo(f"{key:17} {value}")


@app.command()
@handles_errors
def recheck(
    limit: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Entries per pass (one transaction).")
    ] = 20_000,
) -> None:
    """Re-check the access log through the last entry whose verdict is final, recording the
    violations (after an upgrade; the follower keeps it up to date: docs/audit.md). Prints a
    JSON line per pass and one at the end."""
    from indexer.log_recheck import recheck_all
    from ledger_api.store.db import ensure_schema, make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        ensure_schema(engine, migrate_if_behind=settings.mode == "embedded")
        report = recheck_all(
            engine, chain_id=_indexed_chain(engine), reorg_window=settings.reorg_window_blocks,
            limit=limit, progress=lambda step: typer.echo(json.dumps(step)),
        )  # fmt: skip
    finally:
        engine.dispose()
    typer.echo(json.dumps(report | {"done": True}))


def _indexed_chain(engine: Any) -> int:
    """The chain the replica mirrors (one per database): verdicts are final only against it."""
    from sqlalchemy import select

    from indexer.errors import IndexerError
    from indexer.tables import CHECKPOINT

    with engine.connect() as conn:
        chains = list(conn.execute(select(CHECKPOINT.c.chain_id)).scalars())
    if len(chains) != 1:
        raise IndexerError(
            "nothing is indexed yet: run `ccl-indexer catch-up` first"
            if not chains
            else "the database holds several chains' checkpoints: rebuild it",
            code="not_indexed",
        )
    return int(chains[0])


def _refuse_beside_a_running_stack(settings: Settings) -> None:
    """`ccl stack` runs its own indexer over the chain it holds: a second one cannot open it."""
    from ledger_api.errors import ChainError
    from ledger_api.operator.stack_link import running_stack_url

    api_url = running_stack_url(settings)
    if api_url is not None:
        raise ChainError(
            f"`ccl stack` (API {api_url}) holds the embedded chain and runs its own indexer: "
            "`ccl-indexer status` shows it; stop the stack to run, catch up or rebuild here",
            code="chain_locked",
        )


def _status_of_running_stack() -> dict[str, Any] | None:
    """The running `ccl stack`'s indexer status, or None when no stack holds the chain."""
    from ledger_api.operator.stack_link import running_stack_url

    api_url = running_stack_url(_settings())
    if api_url is None:
        return None
    from ledger_api.operator.remote import stack_api

    typer.echo(f"`ccl stack` holds the chain: asking its API at {api_url}", err=True)
    with stack_api(api_url) as api:
        return api.indexer_status()


def _render(view: str, result: Any, fmt: str, wide: bool) -> None:
    from indexer.audit_table import flat_rows, print_view

    if fmt == "json":
        typer.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    if fmt == "table":
        print_view(view, result, wide=wide)
        return
    if isinstance(result, dict) and "kpis_by_group" in result:  # statistics --group-by
        columns, rows = flat_rows(result["kpis_by_group"])
    elif isinstance(result, dict):  # statistics: one row per KPI, lists flattened by flat_rows
        keys, (values,) = flat_rows([result])
        columns, rows = ["kpi", "value"], [list(pair) for pair in zip(keys, values, strict=True)]
    else:
        columns, rows = flat_rows(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    sys.stdout.write(buffer.getvalue())


# The CLI's option for each view filter, to name it in errors.
_OPTIONS = {"subject_id": "--subject", "group_by": "--group-by"}


@app.command()
@handles_errors
def audit(
    view: Annotated[
        str,
        typer.Argument(
            help="One of: access_audit, violations, refusals, volumes, grant_history, "
            "agreements, anchors, statistics, regulator_acts (older names: access, grants); "
            "docs/audit.md."
        ),
    ],
    institution: Annotated[
        str | None, typer.Option(help="Institution address or registered name.")
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(help="Enterprise: its USCC, or its pseudonymous subject id (0x + 64 hex)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Inclusive. ISO 8601 date (a UTC day) or date and time with zone."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Exclusive; a date alone includes that whole UTC day."),
    ] = None,
    # Read as text and checked with the other filters: a bad number is one line, like them.
    limit: Annotated[str, typer.Option(metavar="N", help="Rows per page.")] = "100",
    offset: Annotated[str, typer.Option(metavar="N", help="Rows to skip.")] = "0",
    bucket: Annotated[str, typer.Option(help="volumes only: day or month.")] = "day",
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="statistics only: the financing KPIs per month, region, industry or "
            "institution as well (docs/financing.md).",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    wide: Annotated[
        bool, typer.Option("--wide", help="Table: every field, not only the essential ones.")
    ] = False,
) -> None:
    """Print an audit view (see docs/audit.md)."""
    from indexer.audit_filters import FilterError
    from indexer.audit_views import VIEWS, view_name

    view = view_name(view)
    if view not in VIEWS:
        raise InputError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
    if fmt not in ("table", "json", "csv"):
        raise InputError("--format must be table, json or csv")
    try:
        result = _run_view(
            view, institution, subject, since, until, limit, offset, bucket, group_by
        )
    except FilterError as error:
        option = _OPTIONS.get(error.field, "--" + error.field)
        raise InputError(f"{option}: {error.problem}", code=error.code) from None
    _render(view, result, fmt, wide)


def _run_view(
    view: str, institution: str | None, subject: str | None, since: str | None,
    until: str | None, limit: str, offset: str, bucket: str, group_by: str | None = None,
) -> Any:  # fmt: skip
    from sqlalchemy.orm import Session

    from indexer.audit_filters import FilterError, parse_time
    from indexer.audit_names import with_names
    from indexer.audit_views import VIEWS
    from ledger_api.store.db import make_engine, migrate

    settings = _settings()
    subject_id = None if subject is None else _subject_id(subject, settings)
    filters: dict[str, Any] = {
        "institution": institution, "subject_id": subject_id,
        "since": None if since is None else parse_time(since, "since"),
        "until": None if until is None else parse_time(until, "until"),
        "limit": _whole_number(limit, "limit"), "offset": _whole_number(offset, "offset"),
    }  # fmt: skip
    if view == "volumes":
        filters["bucket"] = bucket
    if group_by is not None:
        if view != "statistics":
            raise FilterError("group_by", "applies to the statistics view only")
        filters["group_by"] = group_by
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
        with Session(engine) as session:
            return with_names(session.connection(), VIEWS[view](session, **filters))
    finally:
        engine.dispose()


def _whole_number(text: str, field: str) -> int:
    from indexer.audit_filters import FilterError

    try:
        return int(text.strip())
    except ValueError:
        raise FilterError(field, f"not a whole number: {text!r}") from None


def _subject_id(text: str, settings: Settings) -> bytes:
    """The subject id of ``--subject``: a USCC (pseudonymised with the platform's
    CCL_PSEUDONYM_KEY, as the API does) or the 0x-hex id itself."""
    from indexer.audit_filters import FilterError, subject_of_uscc

    text = text.strip()
    if text.lower().startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise FilterError("subject_id", "must be 0x-hex") from None
    return subject_of_uscc(text, settings.pseudonym_key_bytes, "subject_id")


@app.command()
@handles_errors
def dashboard(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8710,
    host: Annotated[str, typer.Option(help="Loopback address only (no login).")] = "127.0.0.1",
) -> None:
    """Serve the regulators' web dashboard on this machine (docs/dashboard.md)."""
    from indexer.dashboard.serve import check_host, serve

    check_host(host)
    typer.echo(f"dashboard: http://{host}:{port}/", err=True)
    serve(_settings(), host=host, port=port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
