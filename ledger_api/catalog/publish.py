"""Publishing a catalog version: a row written ``pending``, then its canonical hash anchored
(kind CATALOG_VERSION) through the anchor journal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.anchoring.journal import AnchorJournal, FaultHook
from ledger_api.anchoring.kinds import CATALOG_VERSION_HASHES
from ledger_api.catalog.loader import Catalog
from ledger_api.errors import ConflictError, IntegrityError
from ledger_api.store.models import CATALOG_VERSIONS
from ledger_api.store.types import utcnow


@dataclass(frozen=True)
class PublishedCatalog:
    version: int
    catalog_hash: bytes
    anchor_sequence: int
    already_published: bool


def publish_catalog(
    engine: Engine, anchorer: Anchorer, catalog: Catalog, *, fault_hook: FaultHook | None = None
) -> PublishedCatalog:
    """Record the version and anchor ``catalog``'s hash; idempotent, safe to re-run after a
    crash (the journal asks the chain before sending again).

    Refuses (ConflictError) to publish a different document under an already published version.
    """
    row = _version_row(engine, catalog.version)
    if row is not None and row.catalog_hash != catalog.hash:
        raise ConflictError(
            f"catalog version {catalog.version} is already published with hash "
            f"0x{row.catalog_hash.hex()}; a changed catalog needs a new version",
            code="catalog_version_exists",
        )
    if row is not None and row.state == CATALOG_VERSION_HASHES.states[2]:
        return PublishedCatalog(catalog.version, catalog.hash, row.anchor_sequence, True)
    if row is None:
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(CATALOG_VERSIONS).values(
                        version=catalog.version,
                        catalog_hash=catalog.hash,
                        document=catalog.canonical.decode(),
                        published_at=utcnow(),
                        state=CATALOG_VERSION_HASHES.states[0],
                    )
                )
        except SQLIntegrityError:
            raise ConflictError(
                f"catalog version {catalog.version} is being published concurrently; retry",
                code="catalog_in_progress",
            ) from None
    AnchorJournal(engine, anchorer, CATALOG_VERSION_HASHES, fault_hook=fault_hook).anchor(
        catalog.version
    )
    done = _version_row(engine, catalog.version)
    if done is None or done.anchor_sequence is None:
        raise IntegrityError(f"catalog hash 0x{catalog.hash.hex()} is not anchored as a catalog")
    return PublishedCatalog(catalog.version, catalog.hash, done.anchor_sequence, False)


def _version_row(engine: Engine, version: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(CATALOG_VERSIONS).where(CATALOG_VERSIONS.c.version == version)
        ).first()
