"""``ccl``: the operator / provider command line.

Errors are one line on stderr and a non-zero exit code (``--debug`` shows the traceback).
Secrets are read from the environment (``CCL_*``) or a hidden prompt, never from arguments.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from ledger_api.admin_cli import admin_app
from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.cli_errors import one_line_errors
from ledger_api.deploy_cli import deploy, governance_app
from ledger_api.errors import InputError, LedgerError
from ledger_api.settings import Settings
from ledger_api.worker_count import one_per_cpu, workers_from_env

if TYPE_CHECKING:
    from ledger_api.ingest.pipeline import IngestResult

app = typer.Typer(
    name="ccl", help="Credit Consent Ledger operator CLI.", no_args_is_help=True,
    pretty_exceptions_enable=False,
)  # fmt: skip
catalog_app = typer.Typer(help="Credit-information catalog.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
db_app = typer.Typer(help="The platform's database schema.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(governance_app, name="governance")
app.command("deploy")(deploy)

_state: dict[str, bool] = {"debug": False}
_err = Console(stderr=True)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


handles_errors = one_line_errors(lambda: _state["debug"])


# ---------------------------------------------------------------------------- plumbing


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:  # pydantic ValidationError wraps our InputError
        raise InputError(str(exc).splitlines()[-1].strip()) from None


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
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
def _progress(
    description: str, enabled: bool = True
) -> Iterator[Callable[[int, int | None], None]]:
    if not enabled or not _err.is_terminal:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )  # fmt: skip
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


# ---------------------------------------------------------------------------- commands


@app.command()
@handles_errors
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="JSON lines (.jsonl) or CSV (.csv) files, a batch each.")
    ],
    provider: Annotated[str, typer.Option("--provider", "-p", help="Providing department.")],
    category: Annotated[
        str | None,
        typer.Option(
            "--category", "-c", help="Catalog category of every file (default: each file's name)."
        ),
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or csv.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each batch's result as a line of JSON.")
    ] = False,
) -> None:
    """Validate, encrypt, store and anchor batches, one per file, in order.

    Each file holds one category: --category, or else the file's name without its suffix
    (tax.jsonl is tax, as `ccl synth` writes them). Several files are overlapped (the next one
    is validated while one is stored). A file that fails stops the run: the files before it
    stay ingested, and the same command run again stores nothing twice. Exit 1 if any row was
    rejected.
    """
    from ledger_api.catalog.loader import default_catalog
    from ledger_api.ingest.pipeline import Ingestor

    if fmt is not None and fmt not in ("jsonl", "csv"):
        raise InputError("--format must be jsonl or csv")
    catalog = default_catalog()
    categories = []
    for file in files:  # before anything is stored
        if not file.is_file():
            raise InputError(f"cannot read {file}: not a file")
        name = category if category is not None else file.stem
        if name not in catalog.category_names:
            where = "--category" if category is not None else f"the name of {file}"
            raise InputError(f"{where} is not a catalog category: {name!r}")
        categories.append(name)
    settings = _settings()
    # Run alone, a large batch is validated and sealed by one worker per CPU (env
    # CCL_INGEST_WORKERS wins); the library default stays one process (threaded servers).
    workers = workers_from_env("CCL_INGEST_WORKERS", one_per_cpu())
    with _database(settings) as engine, chain_anchorer(settings) as anchorer:
        ingestor = Ingestor(engine, anchorer, settings, workers=workers)
        if len(files) == 1:  # progress by rows
            with _progress(f"ingest {files[0].name}", not as_json) as progress:
                results = [
                    ingestor.ingest(provider, categories[0], files[0], fmt=fmt, progress=progress)  # type: ignore[arg-type]
                ]
        else:  # progress by files
            with _progress(f"ingest {len(files)} files", not as_json) as progress:
                results = ingestor.ingest_many(
                    provider,
                    list(zip(categories, files, strict=True)),
                    fmt=fmt,  # type: ignore[arg-type]
                    progress=progress,
                )
    for file, result in zip(files, results, strict=True):
        _report_batch(file, result, as_json=as_json, named=len(files) > 1)
    if any(result.rejected for result in results):
        raise typer.Exit(1)


def _report_batch(file: Path, result: IngestResult, *, as_json: bool, named: bool) -> None:
    """One batch's result: a line of JSON, or a summary line and its rejected rows (the file
    named on each line when there are several)."""
    if as_json:
        typer.echo(json.dumps({"file": str(file), **result.as_dict()}, ensure_ascii=False))
        return
    prefix = f"{file.name}: " if named else ""
    typer.echo(
        f"{prefix}batch {_hex(result.batch_id)}: {result.state}; {result.accepted} stored, "
        f"{result.duplicates} already stored, {len(result.rejected)} rejected"
        + (f"; root {_hex(result.root)}" if result.root else "")
    )
    for error in result.rejected[:50]:
        typer.echo(f"  {prefix}row {error.row}: {error.reason}", err=True)
    if len(result.rejected) > 50:
        typer.echo(f"  {prefix}... and {len(result.rejected) - 50} more (use --json)", err=True)


@app.command()
@handles_errors
def resume() -> None:
    """Finish what a crash left half-way: batches, then every other anchored kind
    (access-log ranges, credit commitments, catalog versions); anchors each at most once."""
    from ledger_api.anchoring.kinds import DATA_BATCHES, resume_all
    from ledger_api.ingest.pipeline import Ingestor

    settings = _settings()
    with _database(settings) as engine, chain_anchorer(settings) as anchorer:
        results = Ingestor(engine, anchorer, settings).resume_pending()
        others = resume_all(engine, anchorer, skip=(DATA_BATCHES,))
    for result in results:
        typer.echo(f"batch {_hex(result.batch_id)}: {result.state}")
    typer.echo(f"{len(results)} pending batch(es) processed")
    for table, keys in others.items():
        if keys:
            typer.echo(f"{table}: {len(keys)} anchor(s) finished")


@app.command()
@handles_errors
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every leaf and root and compare with the chain. Exit 1 on any finding."""
    from ledger_api.verify.verifier import verify_database

    settings = _settings()
    with (
        _database(settings) as engine,
        chain_anchorer(settings) as anchorer,
        _progress("verify", not as_json) as progress,
    ):
        # Run alone, verification may fork one reader per CPU (env CCL_VERIFY_WORKERS wins).
        workers = workers_from_env("CCL_VERIFY_WORKERS", one_per_cpu())
        report = verify_database(engine, anchorer, progress=progress, workers=workers)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        for f in report.findings:
            where = f" record {_hex(f.record_uid)}" if f.record_uid else ""
            batch = f" batch {_hex(f.batch_id)}" if f.batch_id else ""
            leaf = f" leaf {f.leaf_index}" if f.leaf_index is not None else ""
            place = f"{where}{batch}{leaf}"
            typer.echo(f"{f.kind}:{place}: {f.detail}" if place else f"{f.kind}: {f.detail}")
        status = "clean" if report.clean else f"{len(report.findings)} finding(s)"
        typer.echo(
            f"verified {report.records} records in {report.batches} batches, "
            f"{report.catalog_versions} catalog version(s): {status}"
        )
    if not report.clean:
        raise typer.Exit(1)


@app.command()
@handles_errors
def synth(
    enterprises: Annotated[int, typer.Option("--enterprises", "-n", min=1, max=10_000_000)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    seed: Annotated[int, typer.Option("--seed", "-s")] = 0,
) -> None:
    """Write deterministic synthetic Henan records, one JSONL file per category."""
    from ledger_api.synth.generator import write_jsonl

    with _progress("synth") as progress:
        counts = write_jsonl(enterprises, seed, out, progress=progress)
    typer.echo(f"{sum(counts.values())} records for {enterprises} enterprises in {out}")


@catalog_app.command("publish")
@handles_errors
def catalog_publish(
    file: Annotated[Path | None, typer.Option("--file", help="Catalog file.")] = None,
) -> None:
    """Anchor the catalog version's canonical hash and record it."""
    from ledger_api.catalog.loader import DEFAULT_CATALOG, load_catalog
    from ledger_api.catalog.publish import publish_catalog

    settings = _settings()
    catalog = load_catalog(file or DEFAULT_CATALOG)
    with _database(settings) as engine, chain_anchorer(settings) as anchorer:
        published = publish_catalog(engine, anchorer, catalog)
    verb = "already published" if published.already_published else "published"
    typer.echo(f"catalog v{published.version} {verb}: hash {_hex(published.catalog_hash)}")


@db_app.command("upgrade")
@handles_errors
def db_upgrade(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Bring the database schema up to this version (run once before starting API workers
    and the indexer in production; safe to run while they run)."""
    from ledger_api.store.db import make_engine, migrate, schema_revisions

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        changed = migrate(engine)
        after, _heads = schema_revisions(engine)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({"upgraded": changed, "revisions": sorted(after)}))
        return
    state = "upgraded to" if changed else "already at"
    typer.echo(f"database schema {state} {', '.join(sorted(after))}")


@db_app.command("status")
@handles_errors
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Whether the database schema is the one this version needs (exit 1 if not)."""
    from ledger_api.store.db import make_engine, schema_revisions

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        current, heads = schema_revisions(engine)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {"current": current == heads, "revisions": sorted(current), "needs": sorted(heads)}
            )
        )
    else:
        have = ", ".join(sorted(current)) or "empty"
        verdict = "current" if current == heads else "behind: run `ccl db upgrade`"
        typer.echo(f"database schema {verdict} (has {have})")
    if current != heads:
        raise typer.Exit(1)


@keys_app.command("rotate-master")
@handles_errors
def keys_rotate_master(
    new_key_id: Annotated[str, typer.Option("--new-key-id", help="Id of the new master key.")],
) -> None:
    """Re-wrap every data key under a new master key (records are not re-encrypted).

    The new key (64 hex characters) comes from CCL_NEW_MASTER_KEY or a hidden prompt; the
    current one from CCL_MASTER_KEY / CCL_MASTER_KEY_ID. Afterwards set CCL_MASTER_KEY and
    CCL_MASTER_KEY_ID to the new values.
    """
    from ledger_api.crypto.keys import MasterKey, rotate_master_key

    settings = _settings()
    raw = os.environ.get("CCL_NEW_MASTER_KEY") or typer.prompt(
        "New master key (hex)", hide_input=True
    )
    try:
        new_key = bytes.fromhex(raw.strip().removeprefix("0x"))
    except ValueError:
        raise InputError("the new master key must be hex") from None
    new = MasterKey(key_id=new_key_id, key=new_key)
    old = MasterKey.from_settings(settings)
    if new.key_id == old.key_id:
        raise InputError("the new master key needs a new key id")
    with _database(settings) as engine, _progress("re-wrap") as progress, engine.begin() as conn:
        count = rotate_master_key(conn, old, new, progress=progress)
    typer.echo(f"re-wrapped {count} data key(s) under master key {new_key_id!r}")


@app.command()
@handles_errors
def shred(
    uscc: Annotated[str | None, typer.Argument(help="The enterprise's USCC.")] = None,
    subject: Annotated[str | None, typer.Option("--subject-id", help="Or its subject id.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Crypto-shred a subject: destroy its data key. Its records become unreadable forever;
    anchors keep verifying."""
    from ledger_api.crypto.keys import shred_subject
    from ledger_api.identity.uscc import subject_id as make_subject_id

    settings = _settings()
    if (uscc is None) == (subject is None):
        raise InputError("give either a USCC or --subject-id")
    if uscc is not None:
        sid = make_subject_id(uscc, settings.pseudonym_key_bytes)
    else:
        try:
            sid = bytes.fromhex((subject or "").removeprefix("0x"))
        except ValueError:
            raise InputError("--subject-id must be hex") from None
    if not yes and not typer.confirm(f"Destroy the data key of subject 0x{sid.hex()}?"):
        raise typer.Exit(1)
    with _database(settings) as engine:
        with engine.begin() as conn:
            changed = shred_subject(conn, sid)
        if engine.dialect.name == "sqlite":  # flush the old key bytes out of the WAL
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    typer.echo(f"subject 0x{sid.hex()} " + ("shredded" if changed else "was already shredded"))


@app.command()
@handles_errors
def stack(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8700,
) -> None:
    """Run the embedded stack (chain, database, indexer, API) on localhost until Ctrl-C.

    State persists under CCL_DATA_DIR (default ./var): stop and start again to continue.
    """
    import uvicorn

    from ledger_api.stack import EmbeddedStack

    settings = _settings()
    running = EmbeddedStack(settings)
    try:
        running.start()
        deployment = running.context.ledger.deployment
        _err.print(
            f"[bold]Credit Consent Ledger[/bold] ({settings.mode} mode, "
            f"data in {settings.data_dir})\n"
            f"  chain id {deployment.chain_id}, head block {running.w3.eth.block_number}\n"
            f"  ledger   {deployment.address}\n"
            f"  database {settings.resolved_database_url.split('@')[-1]}\n"
            f"  API      http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)\n"
            f"Point the wallet at it:  export CCL_WALLET_API_URL=http://{host}:{port}\n"
            "Stop with Ctrl-C; starting again continues where it stopped."
        )
        uvicorn.run(running.app(), host=host, port=port, log_level="warning")
    finally:
        running.close()


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8700,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes.")] = 1,
) -> None:
    """Run the API alone (production: beside one `ccl-indexer run`), after checking that the
    chain, the deployment record and the database schema are ready; if one is not, one line
    says which and nothing starts."""
    import uvicorn

    from ledger_api.stack import check_ready

    settings = _settings()
    check_ready(settings)
    _err.print(f"Credit Consent Ledger API: {workers} worker(s) on http://{host}:{port}")
    uvicorn.run(
        "ledger_api.stack:production_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        # uvicorn kills a worker that does not answer its supervisor's ping in time; a worker
        # still importing at start, or busy on a loaded machine, needs more than the 5 s default.
        timeout_worker_healthcheck=60,
    )


def main() -> None:
    try:
        app()
    except LedgerError as exc:  # raised outside a command (e.g. settings)
        print(f"error: {exc.detail} [{exc.code}]", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
