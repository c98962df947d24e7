"""Publishing a catalog version = anchoring its canonical hash (kind CATALOG_VERSION) + a DB row."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from ledger_api.anchoring.anchorer import Anchorer, AnchorKind, AnchorReceipt
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


def publish_catalog(engine: Engine, anchorer: Anchorer, catalog: Catalog) -> PublishedCatalog:
    """Anchor ``catalog``'s hash and record the version; idempotent, safe to re-run after a crash.

    Refuses (ConflictError) to publish a different document under an already published version.
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(CATALOG_VERSIONS).where(CATALOG_VERSIONS.c.version == catalog.version)
        ).first()
    if row is not None:
        if row.catalog_hash != catalog.hash:
            raise ConflictError(
                f"catalog version {catalog.version} is already published with hash "
                f"0x{row.catalog_hash.hex()}; a changed catalog needs a new version",
                code="catalog_version_exists",
            )
        return PublishedCatalog(catalog.version, catalog.hash, row.anchor_sequence, True)
    receipt: AnchorReceipt | None = None
    on_chain = anchorer.anchored(catalog.hash)
    if on_chain is None:
        try:
            receipt = anchorer.anchor(
                AnchorKind.CATALOG_VERSION,
                catalog.hash,
                1,
                catalog.version.to_bytes(32, "big"),
            )
        except ConflictError:
            receipt = None
        on_chain = anchorer.anchored(catalog.hash)
    if on_chain is None or on_chain.kind != AnchorKind.CATALOG_VERSION:
        raise IntegrityError(f"catalog hash 0x{catalog.hash.hex()} is not anchored as a catalog")
    with engine.begin() as conn:
        conn.execute(
            insert(CATALOG_VERSIONS).values(
                version=catalog.version,
                catalog_hash=catalog.hash,
                document=catalog.canonical.decode(),
                published_at=utcnow(),
                anchor_sequence=on_chain.sequence,
                block_number=None if receipt is None else receipt.block_number,
                tx_hash=None if receipt is None else receipt.tx_hash,
            )
        )
    return PublishedCatalog(catalog.version, catalog.hash, on_chain.sequence, False)
