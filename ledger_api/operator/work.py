"""The work of `ccl ingest`, `resume`, `verify` and `catalog publish`, done here when the chain
is free or sent to the running `ccl stack` that holds it (``stack_link``); both return the same
JSON-ready dicts, so each command reports them one way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ledger_api.cli_support import chain_anchorer, database, hex_or_none, progress_bar
from ledger_api.errors import InputError
from ledger_api.worker_count import one_per_cpu, workers_from_env

if TYPE_CHECKING:
    from ledger_api.ingest.pipeline import IngestResult
    from ledger_api.settings import Settings


def note_stack(api_url: str) -> None:
    """Say where the work goes: the chain is held by `ccl stack`, so through its API."""
    typer.echo(f"`ccl stack` holds the chain: sending through its API at {api_url}", err=True)


# ---------------------------------------------------------------------------- commands


def ingest_here(
    settings: Settings,
    provider: str,
    categories: list[str],
    files: list[Path],
    fmt: str | None,
    as_json: bool,
) -> list[dict[str, Any]]:
    """Ingest in this process (the chain is free): roles are checked before anything is
    stored, so nothing is stored that could not be anchored."""
    from ledger_api.ingest.pipeline import Ingestor
    from ledger_api.operator.providers import check_provider_roles

    # Run alone, a large batch is validated and sealed by one worker per CPU (env
    # CCL_INGEST_WORKERS wins); the library default stays one process (threaded servers).
    workers = workers_from_env("CCL_INGEST_WORKERS", one_per_cpu())
    with database(settings) as engine, chain_anchorer(settings) as anchorer:
        check_provider_roles(anchorer.ledger, provider, anchorer.transactor.address)  # type: ignore[attr-defined]
        ingestor = Ingestor(engine, anchorer, settings, workers=workers)
        results: list[IngestResult]
        if len(files) == 1:  # progress by rows
            with progress_bar(f"ingest {files[0].name}", not as_json) as progress:
                results = [
                    ingestor.ingest(provider, categories[0], files[0], fmt=fmt, progress=progress)  # type: ignore[arg-type]
                ]
        else:  # progress by files
            with progress_bar(f"ingest {len(files)} files", not as_json) as progress:
                results = ingestor.ingest_many(
                    provider,
                    list(zip(categories, files, strict=True)),
                    fmt=fmt,  # type: ignore[arg-type]
                    progress=progress,
                )
    return [result.as_dict() for result in results]


def ingest_through_stack(
    api_url: str,
    settings: Settings,
    provider: str,
    categories: list[str],
    files: list[Path],
    fmt: str | None,
) -> list[dict[str, Any]]:
    """Send each file to the running stack, in order; a file over the API's body limit is
    refused before any is sent."""
    from ledger_api.operator.remote import stack_api

    for file in files:
        if file.stat().st_size > settings.max_body_bytes:
            raise InputError(
                f"{file} is over the API's {settings.max_body_bytes}-byte limit "
                "(CCL_MAX_BODY_BYTES): split it, or stop `ccl stack` and ingest again"
            )
    note_stack(api_url)
    with stack_api(api_url) as api:
        return [
            api.ingest(provider, name, file.read_bytes(), fmt or format_of(file))
            for name, file in zip(categories, files, strict=True)
        ]


def format_of(file: Path) -> str:
    return "csv" if file.suffix.lower() == ".csv" else "jsonl"


def resume_here(settings: Settings) -> list[dict[str, Any]]:
    from ledger_api.ingest.pipeline import Ingestor

    with database(settings) as engine, chain_anchorer(settings) as anchorer:
        results = Ingestor(engine, anchorer, settings).resume_pending()
    return [{"batch_id": hex_or_none(r.batch_id), "state": r.state} for r in results]


def resume_other_kinds_here(settings: Settings) -> dict[str, int]:
    """Access-log ranges, credit commitments and catalog versions a crash left unanchored:
    how many of each were finished (the journal asks the chain first, so none twice)."""
    from ledger_api.anchoring.kinds import DATA_BATCHES, resume_all

    with database(settings) as engine, chain_anchorer(settings) as anchorer:
        others = resume_all(engine, anchorer, skip=(DATA_BATCHES,))
    return {table: len(keys) for table, keys in others.items()}


def resume_through_stack(api_url: str) -> list[dict[str, Any]]:
    from ledger_api.operator.remote import stack_api

    note_stack(api_url)
    with stack_api(api_url) as api:
        return api.resume()


def verify_here(settings: Settings, as_json: bool) -> dict[str, Any]:
    from ledger_api.verify.verifier import verify_database

    with (
        database(settings) as engine,
        chain_anchorer(settings) as anchorer,
        progress_bar("verify", not as_json) as progress,
    ):
        # Run alone, verification may fork one reader per CPU (env CCL_VERIFY_WORKERS wins).
        workers = workers_from_env("CCL_VERIFY_WORKERS", one_per_cpu())
        return verify_database(engine, anchorer, progress=progress, workers=workers).as_dict()


def verify_through_stack(api_url: str) -> dict[str, Any]:
    from ledger_api.operator.remote import stack_api

    note_stack(api_url)
    with stack_api(api_url) as api:
        return api.verify()


def publish_here(settings: Settings, catalog: Any) -> dict[str, Any]:
    from ledger_api.catalog.publish import publish_catalog

    with database(settings) as engine, chain_anchorer(settings) as anchorer:
        published = publish_catalog(engine, anchorer, catalog)
    return {
        "version": published.version,
        "catalog_hash": hex_or_none(published.catalog_hash),
        "anchor_sequence": published.anchor_sequence,
        "already_published": published.already_published,
    }


def publish_through_stack(api_url: str, path: Path) -> dict[str, Any]:
    from ledger_api.operator.remote import stack_api

    note_stack(api_url)
    with stack_api(api_url) as api:
        return api.publish_catalog(path.read_bytes())
