"""Verify the database against the chain and name exactly what changed outside the platform.

For every batch: recompute each record's salted leaf from its stored columns (no decryption:
the leaf commits to ``sha256(nonce || ciphertext)``), rebuild the tree, compare the root with the
one anchored on chain (and the anchored leaf count), and compare each stored proof with the
rebuilt tree. When a batch does not match, each record is checked on its own against the
anchored root and the batch manifest (record uids in leaf order) to name it:

``record_altered``  a stored row whose leaf no longer proves into the anchored root;
``record_removed``  a leaf position the chain counts but no row holds (named from the manifest);
``record_added``    a row that belongs to no anchored leaf position.

Crypto-shredded subjects' records verify like any other: their ciphertext is still there.

SQLite stores whatever type an UPDATE gives a column, so a hand edit can leave text or a number
where a blob or an integer belongs: such a row is named like any other altered row (its leaf
cannot be computed, so it proves nothing), and a finding shows the odd value's type in its
detail instead of the value.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import operator
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, select

from ledger_api.anchoring.anchorer import AnchoredRoot, Anchorer, AnchorKind
from ledger_api.anchoring.keccak import keccak256_hasher
from ledger_api.anchoring.merkle import MerkleTree, unpack_proof, verify_proof
from ledger_api.store.models import BATCHES, CATALOG_VERSIONS, RECORDS
from ledger_api.worker_count import balanced, workers_from_env

Progress = Callable[[int, int | None], None]


# A finding's place, and the type each part must have to be shown as one.
_PLACE_TYPES: tuple[tuple[str, type], ...] = (
    ("record_uid", bytes),
    ("batch_id", bytes),
    ("leaf_index", int),
)


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    record_uid: bytes | None = None
    batch_id: bytes | None = None
    leaf_index: int | None = None

    def __post_init__(self) -> None:
        # Values read from a hand-edited SQLite file may be of any type (see the module).
        odd = [
            (name, getattr(self, name))
            for name, kind in _PLACE_TYPES
            if not isinstance(getattr(self, name), kind | None)
        ]
        if odd:
            held = ", ".join(f"{name} holds {_type_name(value)}" for name, value in odd)
            object.__setattr__(self, "detail", f"{self.detail} ({held})")
            for name, _value in odd:
                object.__setattr__(self, name, None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "record_uid": None if self.record_uid is None else "0x" + self.record_uid.hex(),
            "batch_id": None if self.batch_id is None else "0x" + self.batch_id.hex(),
            "leaf_index": self.leaf_index,
            "detail": self.detail,
        }


@dataclass
class VerificationReport:
    batches: int = 0
    records: int = 0
    catalog_versions: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "batches": self.batches,
            "records": self.records,
            "catalog_versions": self.catalog_versions,
            "findings": [f.as_dict() for f in self.findings],
        }


_ROW_COLUMNS = (
    RECORDS.c.batch_id,
    RECORDS.c.leaf_index,
    RECORDS.c.record_uid,
    RECORDS.c.subject_id,
    RECORDS.c.category,
    RECORDS.c.salt,
    RECORDS.c.sealed,
    RECORDS.c.proof,
)
Row = tuple[bytes, int, bytes, bytes, int, bytes, bytes, bytes]


# Databases with at least this many records are verified by a process pool (SQLite files).
POOL_THRESHOLD = 5000
_IDS_PER_CHUNK = 2000  # batch ids per worker query: well under SQLite's variable limit


class _Batch(NamedTuple):
    batch_id: bytes
    state: str
    root: bytes | None
    leaf_count: int
    manifest: bytes | None


def default_workers() -> int:
    """``CCL_VERIFY_WORKERS`` if set, else 1 (no pool).

    The library stays single-process because it is also called from threaded servers (the
    demo, the API), where forking is best avoided; ``ccl verify`` and the benchmark, which
    run alone, ask for one worker per CPU.
    """
    return workers_from_env("CCL_VERIFY_WORKERS", 1)


def verify_database(
    engine: Engine,
    anchorer: Anchorer,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    pool_threshold: int = POOL_THRESHOLD,
) -> VerificationReport:
    """Check every record, batch and published catalog version against ``anchorer``.

    A large SQLite file is verified by ``workers`` processes (batches split between them, each
    reading through its own read-only connection; the parent asks the anchorer and merges the
    findings in batch order, so the report is the one the sequential pass gives).
    """
    report = VerificationReport()
    workers = default_workers() if workers is None else max(1, workers)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(RECORDS)).scalar_one()
        if progress is not None:
            progress(0, total)
        _verify_catalogs(conn, anchorer, report)
        batches = {row[0]: _Batch(*row) for row in _batch_list(conn)}
        path = _sqlite_file(engine)
        pooled = workers >= 2 and total >= pool_threshold and path is not None
        sizes = _batch_sizes(conn) if pooled else []
        if path is not None and sizes and all(isinstance(b, bytes) for b, _count in sizes):
            seen = _verify_in_pool(
                conn, path, batches, sizes, anchorer, report, workers, progress, total
            )
        else:  # also when a hand edit left a batch id that is not a blob (the pool sorts ids)
            seen = set()
            done = 0
            for batch_id, rows in _rows_by_batch(conn):
                seen.add(batch_id)
                batch = batches.get(batch_id)
                _verify_group(batch_id, batch, _anchored(batch, anchorer), rows, report)
                done += len(rows)
                if progress is not None:
                    progress(done, total)
        for batch_id, batch in batches.items():
            if batch_id not in seen and batch.root is not None:
                _verify_batch(batch, [], _anchored(batch, anchorer), report)
        report.batches = len(batches)
    return report


def _type_name(value: object) -> str:
    return {str: "text", int: "an integer", float: "a real"}.get(type(value), type(value).__name__)


def _anchored(batch: _Batch | None, anchorer: Anchorer) -> AnchoredRoot | None:
    if batch is None or not isinstance(batch.root, bytes):
        return None
    return anchorer.anchored(batch.root)


def _verify_group(
    batch_id: bytes,
    batch: _Batch | None,
    anchored: AnchoredRoot | None,
    rows: list[Row],
    report: VerificationReport,
) -> None:
    if batch is None:
        for row in rows:
            report.findings.append(
                Finding(
                    "record_added", "row of a batch that does not exist", row[2], batch_id, row[1]
                )
            )
    else:
        _verify_batch(batch, rows, anchored, report)
    report.records += len(rows)


def _sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None for other backends and memory databases)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def _batch_sizes(conn: Connection) -> list[tuple[bytes, int]]:
    quote = conn.dialect.identifier_preparer
    return [
        (batch_id, count)
        for batch_id, count in conn.exec_driver_sql(
            f"SELECT batch_id, count(*) FROM {quote.format_table(RECORDS)} "
            "GROUP BY batch_id ORDER BY batch_id"
        )
    ]


def _verify_in_pool(
    conn: Connection,
    path: str,
    batches: dict[bytes, _Batch],
    sizes: list[tuple[bytes, int]],
    anchorer: Anchorer,
    report: VerificationReport,
    workers: int,
    progress: Progress | None,
    total: int,
) -> set[bytes]:
    """Workers rebuild each batch's tree from its rows while this process asks the chain for
    the anchored roots; a batch whose tree matches its anchor needs nothing more, any other
    is verified here, row by row, exactly as the sequential pass does."""
    groups: list[list[bytes]] = balanced(sizes, workers)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    rebuilt: dict[bytes, _Rebuilt] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: list[Future[list[_Rebuilt]]] = [
            pool.submit(_rebuild_chunk, path, [(b, batches.get(b)) for b in group])
            for group in groups
        ]
        anchors = {batch_id: _anchored(batches.get(batch_id), anchorer) for batch_id, _c in sizes}
        done = 0
        for future in futures:
            for item in future.result():
                rebuilt[item.batch_id] = item
                done += item.records
            if progress is not None:
                progress(done, total)
    for batch_id, _count in sizes:  # batch order, as the sequential pass reports
        item, batch, anchored = rebuilt[batch_id], batches.get(batch_id), anchors[batch_id]
        if _matches_anchor(item, anchored):
            report.records += item.records
            report.findings.extend(
                Finding("proof_altered", "stored inclusion proof differs from the tree", uid,
                        batch_id, index)
                for index, uid in item.altered_proofs
            )  # fmt: skip
        else:
            _verify_group(batch_id, batch, anchored, _batch_rows(conn, batch_id), report)
    return {batch_id for batch_id, _count in sizes}


class _Rebuilt(NamedTuple):
    """A batch's tree rebuilt by a worker from its rows (root None: rows and manifest differ
    in number or order, or the batch has no root)."""

    batch_id: bytes
    records: int
    root: bytes | None
    altered_proofs: list[tuple[int, bytes]]  # leaf index, record uid


def _matches_anchor(item: _Rebuilt, anchored: AnchoredRoot | None) -> bool:
    """The conditions under which ``_verify_batch`` compares stored proofs and nothing else."""
    return (
        item.root is not None
        and anchored is not None
        and anchored.kind == AnchorKind.DATA_BATCH
        and anchored.leaf_count == item.records
        and anchored.root == item.root
    )


def _rebuild_chunk(path: str, chunk: Sequence[tuple[bytes, _Batch | None]]) -> list[_Rebuilt]:
    """In a pool worker: rebuild whole batches' trees, reading through a read-only connection."""
    wanted = dict(chunk)
    ids = list(wanted)
    table = RECORDS.name
    rebuilt: list[_Rebuilt] = []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        for start in range(0, len(ids), _IDS_PER_CHUNK):
            part = ids[start : start + _IDS_PER_CHUNK]
            cursor = connection.execute(
                f'SELECT {_ROW_SQL_COLUMNS} FROM "{table}" '
                f"WHERE batch_id IN ({','.join('?' * len(part))}) ORDER BY batch_id, leaf_index",
                part,
            )
            for batch_id, rows in _grouped(_fetch_all(cursor.fetchmany)):
                rebuilt.append(_rebuild(batch_id, wanted[batch_id], rows))
    finally:
        connection.close()
    return rebuilt


def _rebuild(batch_id: bytes, batch: _Batch | None, rows: list[Row]) -> _Rebuilt:
    uids = [] if batch is None or batch.root is None else _manifest_uids(batch)
    if not (
        uids
        and len(rows) == len(uids)
        and all(row[1] == i and row[2] == uids[i] for i, row in enumerate(rows))
    ):
        return _Rebuilt(batch_id, len(rows), None, [])
    leaves = _leaves(rows)
    if None in leaves:
        return _Rebuilt(batch_id, len(rows), None, [])
    tree = MerkleTree(leaves)  # type: ignore[arg-type]  # no None, checked above
    proofs = tree.packed_proofs()
    altered = [] if all(map(operator.eq, (row[7] for row in rows), proofs)) else [
        (i, row[2]) for i, row in enumerate(rows) if row[7] != proofs[i]
    ]  # fmt: skip
    return _Rebuilt(batch_id, len(rows), tree.root, altered)


def _manifest_uids(batch: _Batch) -> list[bytes]:
    """The batch's record uids in leaf order (none if a hand edit left no blob there)."""
    manifest = batch.manifest if isinstance(batch.manifest, bytes) else b""
    return [manifest[i : i + 32] for i in range(0, len(manifest), 32)]


def _batch_list(conn: Connection) -> list[tuple[Any, ...]]:
    """Every batch's id, state, root, leaf count and manifest; on SQLite as stored (see
    ``_stored_values``)."""
    columns = (
        BATCHES.c.batch_id,
        BATCHES.c.state,
        BATCHES.c.root,
        BATCHES.c.leaf_count,
        BATCHES.c.manifest,
    )
    if conn.dialect.name == "sqlite":
        table = conn.dialect.identifier_preparer.format_table(BATCHES)
        return _stored_values(conn, f"SELECT {', '.join(c.name for c in columns)} FROM {table}")
    return [tuple(row) for row in conn.execute(select(*columns))]


def _batch_rows(conn: Connection, batch_id: bytes) -> list[Row]:
    """One batch's rows, in leaf order (to verify a batch that does not match its anchor)."""
    if conn.dialect.name == "sqlite":
        table = conn.dialect.identifier_preparer.format_table(RECORDS)
        return _stored_values(
            conn,
            f"SELECT {_ROW_SQL_COLUMNS} FROM {table} WHERE batch_id = ? ORDER BY leaf_index",
            (batch_id,),
        )
    result = conn.execute(
        select(*_ROW_COLUMNS).where(RECORDS.c.batch_id == batch_id).order_by(RECORDS.c.leaf_index)
    )
    return [tuple(r) for r in result]


def _stored_values(conn: Connection, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
    """Rows through SQLite's own cursor: values exactly as stored, of whatever type a hand
    edit left (the models' column types would convert or refuse them)."""
    cursor = conn.connection.driver_connection.execute(sql, parameters)  # type: ignore[union-attr]
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


_ROW_SQL_COLUMNS = ", ".join(c.name for c in _ROW_COLUMNS)
_FETCH = 5000


def _rows_by_batch(conn: Connection) -> Iterator[tuple[bytes, list[Row]]]:
    """Every record row as a plain tuple, grouped by batch, in leaf order.

    SQLite is read through the driver's own cursor (no per-value result processing: the
    columns are bytes and ints as stored); other backends stream through SQLAlchemy.
    """
    rows: Iterator[Row]
    if conn.dialect.name == "sqlite":
        rows = _sqlite_rows(conn)
    else:
        result = conn.execution_options(stream_results=True, yield_per=_FETCH).execute(
            select(*_ROW_COLUMNS).order_by(RECORDS.c.batch_id, RECORDS.c.leaf_index)
        )
        rows = (tuple(r) for r in result)
    return _grouped(rows)


def _grouped(rows: Iterator[Row]) -> Iterator[tuple[bytes, list[Row]]]:
    current: bytes | None = None
    group: list[Row] = []
    for row in rows:
        if row[0] != current:
            if current is not None:
                yield current, group
            current, group = row[0], []
        group.append(row)
    if current is not None:
        yield current, group


def _sqlite_rows(conn: Connection) -> Iterator[Row]:
    quote = conn.dialect.identifier_preparer
    cursor = conn.exec_driver_sql(
        f"SELECT {_ROW_SQL_COLUMNS} FROM {quote.format_table(RECORDS)} "
        "ORDER BY batch_id, leaf_index"
    )
    yield from _fetch_all(cursor.cursor.fetchmany)  # the DB-API cursor itself: rows as tuples
    cursor.close()


def _fetch_all(fetch: Callable[[int], Sequence[Any]]) -> Iterator[Row]:
    while True:
        chunk = fetch(_FETCH)
        if not chunk:
            break
        yield from chunk


def _verify_batch(
    batch: _Batch, rows: list[Row], anchored: AnchoredRoot | None, report: VerificationReport
) -> None:
    batch_id: bytes = batch.batch_id
    if batch.root is None:
        for row in rows:
            report.findings.append(
                Finding(
                    "record_added",
                    f"row of a batch with no leaves ({batch.state})",
                    row[2],
                    batch_id,
                    row[1],
                )
            )
        return
    if anchored is None or anchored.kind != AnchorKind.DATA_BATCH:
        root = (
            f"0x{batch.root.hex()}"
            if isinstance(batch.root, bytes)
            else f"holding {_type_name(batch.root)}"
        )
        report.findings.append(
            Finding(
                "batch_not_anchored",
                f"root {root} ({batch.state}) is not anchored as a data batch; "
                f"its {len(rows)} records cannot be verified",
                batch_id=batch_id,
            )
        )
        return
    count = anchored.leaf_count
    uids = _manifest_uids(batch)
    if len(uids) != count:
        report.findings.append(
            Finding(
                "batch_altered",
                f"manifest lists {len(uids)} records, chain counts {count}",
                batch_id=batch_id,
            )
        )
    leaves = _leaves(rows)
    if (
        len(rows) == count
        and len(uids) == count
        and all(row[1] == i and row[2] == uids[i] for i, row in enumerate(rows))
        and None not in leaves
    ):
        tree = MerkleTree(leaves)  # type: ignore[arg-type]  # no None, checked above
        if tree.root == anchored.root:
            proofs = tree.packed_proofs()
            if all(map(operator.eq, (row[7] for row in rows), proofs)):
                return
            for i, row in enumerate(rows):
                if row[7] != proofs[i]:
                    report.findings.append(
                        Finding(
                            "proof_altered",
                            "stored inclusion proof differs from the tree",
                            row[2],
                            batch_id,
                            i,
                        )
                    )
            return
    # Something differs: judge each row on its own against the anchored root.
    present: set[int] = set()
    for row, leaf in zip(rows, leaves, strict=True):
        index, uid, proof = row[1], row[2], row[7]
        listed = isinstance(index, int) and 0 <= index < len(uids) and uids[index] == uid
        proves = (
            leaf is not None
            and isinstance(proof, bytes)
            and len(proof) % 32 == 0
            and verify_proof(unpack_proof(proof), anchored.root, leaf)
        )
        if proves and listed and index < count:
            present.add(index)
        elif listed and index < count:
            present.add(index)
            report.findings.append(
                Finding(
                    "record_altered",
                    "leaf does not prove into the anchored root",
                    uid,
                    batch_id,
                    index,
                )
            )
        else:
            report.findings.append(
                Finding(
                    "record_added",
                    "row is not one of the batch's anchored leaves",
                    uid,
                    batch_id,
                    index,
                )
            )
    for index in range(count):
        if index not in present:
            report.findings.append(
                Finding(
                    "record_removed",
                    "anchored leaf has no row",
                    uids[index] if index < len(uids) else None,
                    batch_id,
                    index,
                )
            )


def _leaves(rows: list[Row]) -> list[bytes | None]:
    """Each row's salted leaf; None for a row whose hashed columns a hand edit left holding
    values of other types (the fast pass fails on the first, then each row is tried alone)."""
    try:
        return _well_typed_leaves(rows)  # type: ignore[return-value]  # list is invariant
    except _UNHASHABLE:
        return [_leaf_or_none(row) for row in rows]


# What hashing a row raises when a hashed column holds a value of another type.
_UNHASHABLE = (TypeError, AttributeError, OverflowError)


def _leaf_or_none(row: Row) -> bytes | None:
    try:
        return _well_typed_leaves([row])[0]
    except _UNHASHABLE:
        return None


def _well_typed_leaves(rows: list[Row]) -> list[bytes]:
    k = keccak256_hasher
    sha256 = hashlib.sha256
    words = {c: c.to_bytes(32, "big") for c in {row[4] for row in rows} if 0 <= c < 2**256}
    return [
        k(
            k(
                salt
                + uid
                + subject
                + (words.get(category) or category.to_bytes(32, "big"))
                + sha256(sealed).digest()
            ).digest()
        ).digest()
        for (_b, _i, uid, subject, category, salt, sealed, _p) in rows
    ]


def _verify_catalogs(conn: Connection, anchorer: Anchorer, report: VerificationReport) -> None:
    for row in conn.execute(
        select(
            CATALOG_VERSIONS.c.version, CATALOG_VERSIONS.c.catalog_hash, CATALOG_VERSIONS.c.document
        )
    ):
        report.catalog_versions += 1
        if hashlib.sha256(row.document.encode()).digest() != row.catalog_hash:
            report.findings.append(
                Finding(
                    "catalog_altered", f"catalog v{row.version} document does not match its hash"
                )
            )
        anchored = anchorer.anchored(row.catalog_hash)
        if anchored is None or anchored.kind != AnchorKind.CATALOG_VERSION:
            report.findings.append(
                Finding("catalog_not_anchored", f"catalog v{row.version} hash is not anchored")
            )
