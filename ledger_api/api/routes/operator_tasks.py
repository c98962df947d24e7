"""Operator endpoints behind ``ccl`` commands run beside a ``ccl stack``.

The embedded chain lets one process in, so while the stack runs, ``ccl ingest``, ``resume``,
``verify``, ``catalog publish``, ``ccl-indexer status`` and the ``ccl admin`` listings send
their work here (signed with the operator key) instead of opening the chain themselves.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ledger_api.api.auth import ContextDep, OperatorDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.routes.operator import BATCH_BODY, read_batch, store_batch
from ledger_api.api.schemas import IngestOut
from ledger_api.errors import InputError, NotFoundError

router = APIRouter(prefix="/v1/operator", tags=["operator"], responses=PROBLEMS)

_ADDRESS = r"^0x[0-9a-fA-F]{40}$"


def _block_time(ctx: Any) -> Any:
    """A cached block -> UTC seconds lookup for one listing."""
    cache: dict[int, int] = {}

    def lookup(block: int) -> int:
        if block not in cache:
            cache[block] = ctx.ledger.block_time(block)
        return cache[block]

    return lookup


@router.post(
    "/batches",
    response_model=IngestOut,
    status_code=201,
    summary="Ingest a batch on a registered provider's behalf; the platform key anchors it",
    openapi_extra=BATCH_BODY,
)
async def ingest_for_provider(
    request: Request,
    ctx: ContextDep,
    actor: OperatorDep,
    provider: Annotated[str, Query(pattern=_ADDRESS)],
    category: Annotated[str, Query(max_length=64)],
    fmt: Annotated[str | None, Query(alias="format", pattern="^(jsonl|csv)$")] = None,
) -> IngestOut:
    from web3 import Web3

    from ledger_api.operator.providers import check_provider_roles

    data = await read_batch(request)
    if category not in ctx.catalog.category_names:
        raise InputError(f"not a catalog category: {category!r}", code="unknown_category")
    address = Web3.to_checksum_address(provider)
    await run_in_threadpool(check_provider_roles, ctx.ledger, address, ctx.relayer.address)
    return await store_batch(request, ctx, data, address, category, fmt)


@router.post("/batches/resume", summary="Finish batches a crash left half-way")
def resume_batches(ctx: ContextDep, actor: OperatorDep) -> list[dict[str, Any]]:
    from ledger_api.ingest.pipeline import resume_pending

    results = resume_pending(ctx.engine, ctx.data_anchorer, ctx.settings)
    return [{"batch_id": "0x" + r.batch_id.hex(), "state": r.state} for r in results]


@router.get("/verify", summary="Recompute every leaf and root and compare with the chain")
def verify(ctx: ContextDep, actor: OperatorDep) -> dict[str, Any]:
    from ledger_api.verify.verifier import verify_database

    return verify_database(ctx.engine, ctx.data_anchorer).as_dict()


@router.post("/catalog", summary="Anchor a catalog version's canonical hash and record it")
async def publish_catalog(request: Request, ctx: ContextDep, actor: OperatorDep) -> dict[str, Any]:
    from ledger_api.catalog.loader import parse_catalog
    from ledger_api.catalog.publish import publish_catalog as publish

    try:
        document = json.loads(await request.body())
    except ValueError as exc:
        raise InputError(f"the catalog is not valid JSON: {exc}") from None
    catalog = parse_catalog(document)
    published = await run_in_threadpool(publish, ctx.engine, ctx.data_anchorer, catalog)
    return {
        "version": published.version,
        "catalog_hash": "0x" + published.catalog_hash.hex(),
        "anchor_sequence": published.anchor_sequence,
        "already_published": published.already_published,
    }


@router.get("/indexer", summary="The stack's indexer: where the replica stands, its lag")
def indexer_status(request: Request, actor: OperatorDep) -> dict[str, Any]:
    status = getattr(request.app.state, "indexer_status", None)
    if status is None:
        raise NotFoundError(
            "this API runs no indexer of its own: ask `ccl-indexer status` where it runs",
            code="no_indexer",
        )
    return dict(status().as_dict())


@router.get("/disputes", summary="Disputes with the disputed record's category and key")
def list_disputes(
    ctx: ContextDep,
    actor: OperatorDep,
    all_disputes: Annotated[bool, Query(alias="all")] = False,
) -> list[dict[str, Any]]:
    from ledger_api.operator.listings import disputes

    with ctx.engine.connect() as conn:
        return disputes(
            conn, ctx.settings, ctx.catalog, _block_time(ctx), open_only=not all_disputes
        )


@router.get("/institutions", summary="Registered institutions: name, type, status")
def list_institutions(ctx: ContextDep, actor: OperatorDep) -> list[dict[str, Any]]:
    from ledger_api.operator.listings import institutions

    with ctx.engine.connect() as conn:
        return institutions(conn, _block_time(ctx))


@router.get("/catalog-versions", summary="Published catalog versions and their anchors")
def list_catalog_versions(ctx: ContextDep, actor: OperatorDep) -> list[dict[str, Any]]:
    from ledger_api.operator.listings import catalog_versions

    with ctx.engine.connect() as conn:
        return catalog_versions(conn)
