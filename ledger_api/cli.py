"""``ccl``: the operator / provider command line.

Errors are one line on stderr and a non-zero exit code (``--debug`` shows the traceback).
Secrets are read from the environment (``CCL_*``) or a hidden prompt, never from arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger_api.admin_cli import admin_app
from ledger_api.cli_errors import one_line_errors
from ledger_api.cli_support import chain_anchorer as chain_anchorer
from ledger_api.cli_support import database as _database
from ledger_api.cli_support import load_settings as _settings
from ledger_api.cli_support import progress_bar as _progress
from ledger_api.cli_support import stderr_console as _stderr
from ledger_api.deploy_cli import deploy, governance_app
from ledger_api.errors import InputError, LedgerError
from ledger_api.operator import start_checks, work
from ledger_api.regulator_cli import regulator_app

# Only what `ccl --help` needs is imported here; each command imports its own machinery, so
# help and simple commands start in a fraction of a second (scripts/bench.py cli).
if TYPE_CHECKING:
    from ledger_api.settings import Settings

app = typer.Typer(
    name="ccl", help="Credit Consent Ledger operator CLI.", no_args_is_help=True,
    pretty_exceptions_enable=False, rich_markup_mode=None,
)  # fmt: skip
catalog_app = typer.Typer(help="Credit-information catalog.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
db_app = typer.Typer(help="The platform's database schema.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(governance_app, name="governance")
app.add_typer(regulator_app, name="regulator")
app.command("deploy")(deploy)

_state: dict[str, bool] = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


handles_errors = one_line_errors(lambda: _state["debug"])


def _require_initialised(settings: Settings) -> None:
    from ledger_api.operator.setup import require_initialised

    require_initialised(settings)


def _resolve_provider(settings: Settings, given: str) -> str:
    from ledger_api.operator.providers import resolve_provider

    return resolve_provider(settings, given)


def _running_stack(settings: Settings) -> str | None:
    from ledger_api.operator.stack_link import running_stack_url

    return running_stack_url(settings)


@app.command("init")
@handles_errors
def init_ledger(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Set up the embedded platform under CCL_DATA_DIR: deploy the ledger on its chain and
    write the deployment record (run once; run again, it only says where the ledger is)."""
    from ledger_api.operator.setup import initialise

    settings = _settings()
    done = initialise(settings)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "created": done.created,
                    "address": done.address,
                    "chain_id": done.chain_id,
                    "deployment_block": done.deployment_block,
                    "record": str(done.record),
                }
            )
        )
    elif done.created:
        typer.echo(
            f"deployed a new ledger at {done.address} on chain {done.chain_id} "
            f"(block {done.deployment_block}); deployment record written to {done.record}"
        )
    else:
        typer.echo(
            f"already set up: ledger {done.address} on chain {done.chain_id} "
            f"(record {done.record}); nothing deployed"
        )


@app.command()
@handles_errors
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="JSON lines (.jsonl) or CSV (.csv) files, a batch each.")
    ],
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            "-p",
            help="The registered provider: its address, or its name in the provider directory.",
        ),
    ],
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
    rejected. The provider must hold PROVIDER_ROLE; the platform's key anchors its batches on
    its behalf (docs/operators.md). While `ccl stack` runs, the files go through its API.
    """
    from ledger_api.catalog.loader import default_catalog

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
    _require_initialised(settings)
    address = _resolve_provider(settings, provider)
    stack_url = _running_stack(settings)
    if stack_url is not None:
        results = work.ingest_through_stack(stack_url, settings, address, categories, files, fmt)
    else:
        results = work.ingest_here(settings, address, categories, files, fmt, as_json)
    for file, result in zip(files, results, strict=True):
        _report_batch(file, result, as_json=as_json, named=len(files) > 1)
    if any(result["rejected"] for result in results):
        raise typer.Exit(1)


def _report_batch(file: Path, result: dict[str, Any], *, as_json: bool, named: bool) -> None:
    """One batch's result: a line of JSON, or a summary line and its rejected rows (the file
    named on each line when there are several)."""
    if as_json:
        typer.echo(json.dumps({"file": str(file), **result}, ensure_ascii=False))
        return
    prefix = f"{file.name}: " if named else ""
    rejected = result["rejected"]
    typer.echo(
        f"{prefix}batch {result['batch_id']}: {result['state']}; {result['accepted']} stored, "
        f"{result['duplicates']} already stored, {len(rejected)} rejected"
        + (f"; root {result['root']}" if result["root"] else "")
    )
    for error in rejected[:50]:
        typer.echo(f"  {prefix}row {error['row']}: {error['reason']}", err=True)
    if len(rejected) > 50:
        typer.echo(f"  {prefix}... and {len(rejected) - 50} more (use --json)", err=True)


@app.command()
@handles_errors
def resume(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Finish what a crash left half-way: batches, then every other anchored kind
    (access-log ranges, credit commitments, catalog versions); anchors each at most once."""
    settings = _settings()
    _require_initialised(settings)
    stack_url = _running_stack(settings)
    results = (
        work.resume_here(settings) if stack_url is None else work.resume_through_stack(stack_url)
    )
    # A running stack finishes the other kinds itself when it starts.
    others = work.resume_other_kinds_here(settings) if stack_url is None else {}
    if as_json:
        typer.echo(json.dumps({"processed": len(results), "batches": results, "others": others}))
        return
    for result in results:
        typer.echo(f"batch {result['batch_id']}: {result['state']}")
    typer.echo(f"{len(results)} pending batch(es) processed")
    for table, finished in others.items():
        if finished:
            typer.echo(f"{table}: {finished} anchor(s) finished")


@app.command()
@handles_errors
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every leaf and root and compare with the chain. Exit 1 on any finding."""
    settings = _settings()
    _require_initialised(settings)
    stack_url = _running_stack(settings)
    if stack_url is not None:
        report = work.verify_through_stack(stack_url)
    else:
        report = work.verify_here(settings, as_json)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        for f in report["findings"]:
            where = f" record {f['record_uid']}" if f["record_uid"] else ""
            batch = f" batch {f['batch_id']}" if f["batch_id"] else ""
            leaf = f" leaf {f['leaf_index']}" if f["leaf_index"] is not None else ""
            place = f"{where}{batch}{leaf}"
            kind, detail = f["kind"], f["detail"]
            typer.echo(f"{kind}:{place}: {detail}" if place else f"{kind}: {detail}")
        status = "clean" if report["clean"] else f"{len(report['findings'])} finding(s)"
        typer.echo(
            f"verified {report['records']} records in {report['batches']} batches, "
            f"{report['catalog_versions']} catalog version(s): {status}"
        )
    if not report["clean"]:
        raise typer.Exit(1)


@app.command()
@handles_errors
def synth(
    enterprises: Annotated[int, typer.Option("--enterprises", "-n", min=1, max=10_000_000)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    seed: Annotated[int, typer.Option("--seed", "-s")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write deterministic synthetic Henan records, one JSONL file per category."""
    from ledger_api.synth.generator import write_jsonl

    with _progress("synth", not as_json) as progress:
        counts = write_jsonl(enterprises, seed, out, progress=progress)
    if as_json:
        typer.echo(json.dumps({"out": str(out), "enterprises": enterprises, "records": counts}))
        return
    typer.echo(f"{sum(counts.values())} records for {enterprises} enterprises in {out}")


@catalog_app.command("publish")
@handles_errors
def catalog_publish(
    file: Annotated[Path | None, typer.Option("--file", help="Catalog file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Anchor the catalog version's canonical hash and record it."""
    from ledger_api.catalog.loader import DEFAULT_CATALOG, load_catalog

    settings = _settings()
    path = file or DEFAULT_CATALOG
    catalog = load_catalog(path)  # a bad file is refused here, before anything is sent
    _require_initialised(settings)
    stack_url = _running_stack(settings)
    if stack_url is not None:
        published = work.publish_through_stack(stack_url, path)
    else:
        published = work.publish_here(settings, catalog)
    if as_json:
        typer.echo(json.dumps(published))
        return
    verb = "already published" if published["already_published"] else "published"
    typer.echo(f"catalog v{published['version']} {verb}: hash {published['catalog_hash']}")


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
    new_key_file: Annotated[
        Path | None,
        typer.Option("--new-key-file", help="Read the new key (64 hex characters) from a file."),
    ] = None,
    new_key_env: Annotated[
        str | None,
        typer.Option("--new-key-env", help="Read the new key from this environment variable."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-wrap every data key under a new master key (records are not re-encrypted).

    The new key (64 hex characters) comes from --new-key-file, --new-key-env, the environment
    variable CCL_NEW_MASTER_KEY, or else a hidden prompt that asks for it twice; the current
    one from CCL_MASTER_KEY / CCL_MASTER_KEY_ID. Afterwards set CCL_MASTER_KEY and
    CCL_MASTER_KEY_ID to the new values: the stack refuses to start with the old ones.
    """
    from ledger_api.crypto.keys import MasterKey, rotate_master_key
    from ledger_api.operator.master_key import read_new_master_key

    settings = _settings()
    start_checks.refuse_rotation_beside_a_running_stack(settings)
    new = MasterKey(key_id=new_key_id, key=read_new_master_key(new_key_file, new_key_env))
    old = MasterKey.from_settings(settings)
    if new.key_id == old.key_id:
        raise InputError("the new master key needs a new key id")
    with _database(settings) as engine, _progress("re-wrap") as progress, engine.begin() as conn:
        count = rotate_master_key(conn, old, new, progress=progress)
    if as_json:
        typer.echo(json.dumps({"rewrapped": count, "master_key_id": new_key_id}))
        return
    typer.echo(
        f"re-wrapped {count} data key(s) under master key {new_key_id!r}; now set "
        f"CCL_MASTER_KEY to the new key and CCL_MASTER_KEY_ID={new_key_id}"
    )


@app.command("subject-id")
@handles_errors
def subject_id_of(
    uscc: Annotated[str, typer.Argument(help="The enterprise's USCC, from its licence.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The subject id the platform derives from a USCC: a real-name check compares it with a
    registration's subject id (`ccl admin registrations`)."""
    from ledger_api.identity.uscc import subject_id as make_subject_id
    from ledger_api.identity.uscc import validate_uscc

    settings = _settings()
    sid = "0x" + make_subject_id(uscc, settings.pseudonym_key_bytes).hex()
    typer.echo(json.dumps({"uscc": validate_uscc(uscc), "subject_id": sid}) if as_json else sid)


@app.command()
@handles_errors
def shred(
    uscc: Annotated[str | None, typer.Argument(help="The enterprise's USCC.")] = None,
    subject: Annotated[str | None, typer.Option("--subject-id", help="Or its subject id.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
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
    if as_json:
        typer.echo(json.dumps({"subject_id": f"0x{sid.hex()}", "shredded_now": changed}))
        return
    typer.echo(f"subject 0x{sid.hex()} " + ("shredded" if changed else "was already shredded"))


@app.command()
@handles_errors
def stack(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8700,
) -> None:
    """Run the embedded stack (chain, database, indexer, API) on localhost until Ctrl-C.

    State persists under CCL_DATA_DIR (default ./var, set up by `ccl init`): stop and start
    again to continue. A busy port, a missing ledger or a master key that no longer opens the
    data keys is one line, before anything starts.
    """
    import uvicorn

    from ledger_api.operator.stack_link import announced
    from ledger_api.stack import EmbeddedStack

    settings = _settings()
    start_checks.check_port_free(host, port)
    _require_initialised(settings)
    start_checks.check_master_key(settings)
    running = EmbeddedStack(settings)
    try:
        running.start()
        deployment = running.context.ledger.deployment
        _stderr().print(
            f"[bold]Credit Consent Ledger[/bold] ({settings.mode} mode, "
            f"data in {settings.data_dir})\n"
            f"  chain id {deployment.chain_id}, head block {running.w3.eth.block_number}\n"
            f"  ledger   {deployment.address}\n"
            f"  database {settings.resolved_database_url.split('@')[-1]}\n"
            f"  API      http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)\n"
            f"Point the wallet at it:  export CCL_WALLET_API_URL=http://{host}:{port}\n"
            "Stop with Ctrl-C; starting again continues where it stopped."
        )
        with announced(settings, f"http://{start_checks.client_host(host)}:{port}"):
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
    start_checks.check_port_free(host, port)
    start_checks.check_master_key(settings)
    _stderr().print(f"Credit Consent Ledger API: {workers} worker(s) on http://{host}:{port}")
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
