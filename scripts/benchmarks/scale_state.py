"""A province's state at N enterprises, computed by the database itself from a generated series
(SQLite: INSERT .. SELECT; PostgreSQL: COPY, see ``load``), for ``benchmarks.scale``.

Replaying millions of grant transactions through a chain and the indexer would take days, so
the rows the indexer would have built are written directly, by the same tables and the same
versioning rules (``indexer/tables.py``):

* ``chain_institutions`` / ``chain_agreements``: INSTITUTIONS banks, each with one active
  agreement covering every catalog category and purpose (one version each, live);
* ``chain_subjects``: enterprise i bound to account 0x<i in 40 digits>, subject id
  ``printf('%032d', i)`` (32 bytes), one version;
* ``chain_grants``: three grants per enterprise, grant g of enterprise (g-1)//3+1 to
  institution (7g mod INSTITUTIONS)+1, issued in block 1000+(g-1)//50 (one version, as
  GrantIssued projects it); 15% revoked in the next block (the issued version closed at the
  revocation block and a revoked version opened there, as GrantRevoked projects it); 10%
  expire inside the log's window; a quarter capped at 10 uses;
* ``chain_blocks`` / ``chain_checkpoint``: every block holding those events, two seconds
  apart, and the checkpoint at the last one;
* ``access_log``: about one entry per grant, evenly over DAYS days ending now, oldest first,
  each checked at its grant's issue block (the grant live there); "allowed" when the grant
  was usable at that time, else "denied" with the reason; one entry in 100,000 forged
  (allowed under another institution's grant) so the violations view has something to find.
  Hashes are placeholders: the chain of entry hashes is not what this benchmark measures.
* ``access_log_recheck`` / ``access_log_violations``: the verdicts the indexer's re-check
  (``indexer.log_recheck``) records, computed here from the shape instead of judged: the mark
  is where ``recheck_pass`` stops, before the first allowed entry checked at a block less than
  ``reorg_window`` below the checkpoint (refused entries do not hold it back), and the
  violations below it are exactly the forged entries (the log's only violations, as
  tests/indexer/test_scale_state.py proves with the Python re-check; it also runs the re-check
  from scratch on a loaded state and finds these very rows).

Records (encrypted per enterprise) are not loaded: see docs/benchmarks.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.pool import PoolProxiedConnection

from benchmarks import scale_indexes
from indexer.gate_rows import rebuild_gate_rows
from indexer.tables import (
    AGREEMENTS,
    CHECKPOINT,
    GATE_GRANTS,
    INSTITUTIONS,
    LOG_VIOLATIONS,
    RECHECK_MARK,
)
from ledger_api.chain.types import AgreementStatus, InstitutionType

INSTITUTIONS_N = 50
CHAIN_ID = 31337
DAY = 86_400
DAYS = 30
GRANTS_PER_BLOCK = 50
FIRST_BLOCK = 1000
FORGED_EVERY = 100_000
ALL_CATEGORIES = (1 << 15) - 1
ALL_PURPOSES = (1 << 6) - 1
# Grant category masks (g mod 4): every one holds tax (bit 2), the category entries read.
MASKS = (0b0101, 0b1100, 0b1111, 0b0100)
TAX = 2


@dataclass(frozen=True)
class Shape:
    enterprises: int
    log_entries: int
    t0: int  # the log's first second (UTC); the window is [t0, t0 + DAYS days)

    @property
    def grants(self) -> int:
        return 3 * self.enterprises

    @property
    def last_block(self) -> int:
        return FIRST_BLOCK + (self.grants - 1) // GRANTS_PER_BLOCK + 1


def institution_address(index: int) -> str:
    return "0x" + f"{9_000_000 + index:040d}"  # digits only: its own checksum form


def institution_of(grant: int) -> int:
    return grant * 7 % INSTITUTIONS_N + 1


def revoked(grant: int) -> bool:
    return grant % 20 in (1, 2, 3)


def expires_in_window(grant: int) -> bool:
    return grant % 10 == 7


def subject_id(index: int) -> bytes:
    return f"{index:032d}".encode()


# Where a step's SELECT names its series s(i); each database's own source replaces it.
SERIES = "__series__"
LOADED_TABLES = (
    "chain_subjects", "chain_grants", "chain_blocks", "access_log", "chain_gate_grants"
)  # fmt: skip
SMALL_TABLES = ("chain_institutions", "chain_agreements", "chain_checkpoint")
# The re-check's verdicts reference access-log entries: emptied with them (TRUNCATE).
VERDICT_TABLES = ("access_log_violations", "access_log_recheck")
REORG_WINDOW = 64  # the indexer's default (CCL_REORG_WINDOW_BLOCKS)


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, conn: Connection) -> None:
        self.pg = conn.dialect.name == "postgresql"

    def series(self, n: int) -> tuple[str, str]:
        """(prefix before INSERT, FROM clause) giving rows i = 1..n."""
        if self.pg:
            return "", f"generate_series(1::bigint, {n}::bigint) AS s(i)"
        return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})", "s"

    def pad(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(({expr})::text, {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def blob32(self, expr: str) -> str:
        if self.pg:
            return f"convert_to({self.pad(expr, 32)}, 'UTF8')"
        return f"CAST({self.pad(expr, 32)} AS BLOB)"

    def timestamp(self, epoch: str) -> str:
        if self.pg:
            return f"to_timestamp({epoch})"
        return f"strftime('%Y-%m-%d %H:%M:%S', {epoch}, 'unixepoch') || '.000000'"


def _grant_terms(g: str, t0: int) -> dict[str, str]:
    """SQL expressions of grant ``g``'s terms (the Python twins above say the same)."""
    inst = f"({g} * 7 % {INSTITUTIONS_N} + 1)"
    mask = f"(CASE {g} % 4 " + " ".join(f"WHEN {k} THEN {m}" for k, m in enumerate(MASKS)) + " END)"
    expires = (
        f"(CASE WHEN {g} % 10 = 7 THEN {t0} + ({g} % {DAYS}) * {DAY} ELSE {t0 + 400 * DAY} END)"
    )
    return {
        "inst": inst,
        "mask": mask,
        "purpose": f"(CASE WHEN {g} % 5 = 0 THEN 4 ELSE 0 END)",
        "level": f"({g} % 3)",
        "not_after": expires,
        "max_uses": f"(CASE WHEN {g} % 4 = 1 THEN 10 ELSE 0 END)",
        "block": f"({FIRST_BLOCK} + ({g} - 1) / {GRANTS_PER_BLOCK})",
        "revoked": f"({g} % 20 IN (1, 2, 3))",
    }


@dataclass(frozen=True)
class _Rows:
    """Rows for ``table``: ``select`` (its columns in order) over the series ``s(i)``, 1..n."""

    table: str
    columns: str
    n: int
    select: str


def load(
    engine: Engine, shape: Shape, *, unlogged: bool = False, reorg_window: int = REORG_WINDOW
) -> dict[str, float]:
    """Write the state; seconds per step.

    The five large tables lose their secondary indexes (and PostgreSQL's primary keys) while
    they fill and get them back afterwards from the definitions the migrations left in the
    catalog, verbatim: the same indexes, built by one sort each instead of row by row.
    PostgreSQL streams each table's rows, generated by one backend (``COPY (SELECT ..) TO
    STDOUT``, binary), into another (``COPY .. FROM STDIN .. FREEZE``) in one transaction that
    truncates the tables first, so the rows arrive frozen and the first reads need not rewrite
    them to set hint bits; after its commit two sessions build the indexes at once
    (``benchmarks.scale_indexes``) while a third reads the gate's rows from the loaded
    versions (``indexer.gate_rows.rebuild_gate_rows``), whose own indexes come last. ``unlogged``
    loads PostgreSQL's tables UNLOGGED and sets them LOGGED at the end (a lever measured in
    docs/benchmarks.md; slower there). SQLite loads in one transaction with its journal off.
    """
    if engine.dialect.name == "postgresql":
        took = _load_postgres(engine, shape, unlogged)
    else:
        took = _load_sqlite(engine, shape)
        with engine.begin() as conn:  # the gate's rows of those versions, as the indexer does
            _timed(took, "gate_rows", lambda: rebuild_gate_rows(conn))
    with engine.begin() as conn:
        _verdicts(conn, shape, reorg_window)
    return took


def _block_of(grant: int) -> int:
    return FIRST_BLOCK + (grant - 1) // GRANTS_PER_BLOCK


def _allowed(shape: Shape, entry: int) -> bool:
    """Whether entry ``entry`` is logged "allowed" (the Python twin of ``_access_log``)."""
    grant = (entry - 1) % shape.grants + 1
    at = shape.t0 + (entry - 1) * DAYS * DAY // shape.log_entries
    not_after = (
        shape.t0 + (grant % DAYS) * DAY if expires_in_window(grant) else shape.t0 + 400 * DAY
    )
    return at < not_after or entry % FORGED_EVERY == 0


def recheck_mark(shape: Shape, reorg_window: int) -> int:
    """Where ``indexer.log_recheck`` stops on the loaded log: before the first allowed entry
    checked above ``last_block - reorg_window`` (each entry is checked at its grant's block)."""
    final = shape.last_block - reorg_window
    first_late = max(1, (final - FIRST_BLOCK + 1) * GRANTS_PER_BLOCK + 1)  # first grant above
    for wrap in range(0, shape.log_entries, shape.grants):  # the log cycles through the grants
        for entry in range(wrap + first_late, min(wrap + shape.grants, shape.log_entries) + 1):
            if _allowed(shape, entry):
                return entry - 1
    return shape.log_entries


def _verdicts(conn: Connection, shape: Shape, reorg_window: int) -> None:
    mark = recheck_mark(shape, reorg_window)
    now = datetime.now(UTC)
    conn.execute(insert(RECHECK_MARK).values(id=1, checked_through_id=mark, updated_at=now))
    forged = [
        {"entry_id": i, "checked_block": _block_of((i - 1) % shape.grants + 1), "found_at": now}
        for i in range(FORGED_EVERY, mark + 1, FORGED_EVERY)
    ]
    if forged:
        conn.execute(insert(LOG_VIOLATIONS), forged)


def _steps(sql: _Sql, shape: Shape) -> list[tuple[str, list[_Rows]]]:
    return [
        ("subjects", [_subjects(sql, shape)]),
        ("grants", _grants(sql, shape)),
        ("blocks", [_blocks(sql, shape)]),
        ("access_log", [_access_log(sql, shape)]),
    ]


def _load_sqlite(engine: Engine, shape: Shape) -> dict[str, float]:
    took: dict[str, float] = {}
    with engine.connect() as conn:
        # No rollback journal while loading: a failed load leaves a file the benchmark drops.
        conn.exec_driver_sql("PRAGMA journal_mode=OFF")
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        indexes = _drop_indexes(conn)
        _small_tables(conn, shape)
        sql = _Sql(conn)
        for name, parts in _steps(sql, shape):
            started = time.perf_counter()
            for rows in parts:
                prefix, source = sql.series(rows.n)
                conn.exec_driver_sql(
                    f"{prefix} INSERT INTO {rows.table} ({rows.columns}) "
                    + rows.select.replace(SERIES, source)
                )
            took[name] = round(time.perf_counter() - started, 2)
        _timed(took, "indexes", lambda: _execute(conn, indexes))
        conn.commit()
        _timed(took, "analyze", lambda: conn.exec_driver_sql("ANALYZE"))
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        conn.commit()
    return took


def _load_postgres(engine: Engine, shape: Shape, unlogged: bool) -> dict[str, float]:
    took: dict[str, float] = {}
    generator = engine.raw_connection()  # a second backend computes the rows meanwhile
    try:
        with engine.begin() as conn:
            # This session only: nothing here needs to be durable before the commit.
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            indexes = _drop_indexes(conn)
            # Truncating enables FREEZE.
            conn.exec_driver_sql("TRUNCATE " + ", ".join((*LOADED_TABLES, *VERDICT_TABLES)))
            if unlogged:
                for table in LOADED_TABLES:
                    conn.exec_driver_sql(f"ALTER TABLE {table} SET UNLOGGED")
            _small_tables(conn, shape)
            sql = _Sql(conn)
            for name, parts in _steps(sql, shape):
                started = time.perf_counter()
                for rows in parts:
                    _copy(generator, conn, rows, sql)
                took[name] = round(time.perf_counter() - started, 2)
            if unlogged:
                sets = [f"ALTER TABLE {t} SET LOGGED" for t in LOADED_TABLES]
                _timed(took, "set_logged", lambda: _execute(conn, sets))
    finally:
        generator.close()
    # Committed first: two sessions build the indexes at once (``scale_indexes``), while a
    # third computes the gate's rows (one backend's hash join, which would leave a core idle);
    # the gate rows' own indexes come last.
    gate_table = GATE_GRANTS.name
    others = [s for s in indexes if scale_indexes.table_of(s) != gate_table]
    with ThreadPoolExecutor(1) as pool:
        gate_rows = pool.submit(_gate_rows, engine)
        _timed(took, "indexes", lambda: scale_indexes.rebuild(engine, others))
        took["gate_rows"] = gate_rows.result()
    gate_indexes = [s for s in indexes if scale_indexes.table_of(s) == gate_table]
    _timed(took, "gate_indexes", lambda: scale_indexes.rebuild(engine, gate_indexes))
    with engine.begin() as conn:
        # The loaded tables only: a bare ANALYZE takes every schema of the database, other
        # users' too, and deadlocked with another session's ANALYZE on the catalogs.
        analyze = "ANALYZE " + ", ".join((*LOADED_TABLES, *SMALL_TABLES))
        _timed(took, "analyze", lambda: conn.exec_driver_sql(analyze))
    return took


def _gate_rows(engine: Engine) -> float:
    """The gate's rows of the loaded versions by the indexer's own statement, into the table
    before its indexes exist: one hash join held in memory (into the indexed table with the
    default work_mem it spilled and took over 10 minutes at 10^7). Seconds."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '1GB'")
        rebuild_gate_rows(conn)
    return round(time.perf_counter() - started, 2)


def _timed(took: dict[str, float], name: str, step: Callable[[], object]) -> None:
    started = time.perf_counter()
    step()
    took[name] = round(time.perf_counter() - started, 2)


def _copy(generator: PoolProxiedConnection, conn: Connection, rows: _Rows, sql: _Sql) -> None:
    """Stream ``rows`` from the generating backend into ``conn``'s transaction, binary."""
    types = conn.execute(
        text("""SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
        WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"""),
        {"table": rows.table},
    ).all()
    typed: dict[str, str] = {name: kind for name, kind in types}
    names = [c.strip() for c in rows.columns.split(",")]
    # Binary COPY carries no types: each generated value is cast to its column's own type.
    casts = ", ".join(f"CAST(q.c{k} AS {typed[c]})" for k, c in enumerate(names))
    aliases = ", ".join(f"c{k}" for k in range(len(names)))
    _, source = sql.series(rows.n)
    out_sql = (
        f"COPY (SELECT {casts} FROM ({rows.select.replace(SERIES, source)}) AS q({aliases}))"
        " TO STDOUT (FORMAT BINARY)"
    )
    in_sql = f"COPY {rows.table} ({rows.columns}) FROM STDIN (FORMAT BINARY, FREEZE)"
    target = cast(psycopg.Connection[Any], conn.connection.driver_connection)
    source_conn = cast(psycopg.Connection[Any], generator.driver_connection)
    with (
        source_conn.cursor() as out_cur,
        target.cursor() as in_cur,
        out_cur.copy(out_sql) as out,
        in_cur.copy(in_sql) as into,
    ):
        for chunk in out:
            into.write(chunk)
    source_conn.commit()


def _drop_indexes(conn: Connection) -> list[str]:
    """Drop the large tables' indexes (and PostgreSQL primary keys); the statements that make
    them again, read from the catalog the migrations wrote."""
    if conn.dialect.name == "postgresql":
        keys = conn.execute(text("""
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c WHERE c.contype = 'p'
              AND c.conrelid = ANY(CAST(:tables AS regclass[]))"""),
            {"tables": list(LOADED_TABLES)},
        ).all()  # fmt: skip
        others = conn.execute(text("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
                              AND c.connamespace = CAST(current_schema() AS regnamespace))"""),
            {"tables": list(LOADED_TABLES)},
        ).all()  # fmt: skip
        # Foreign keys onto those tables depend on their primary keys: dropped first.
        referring = conn.execute(text("""
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c WHERE c.contype = 'f'
              AND c.confrelid = ANY(CAST(:tables AS regclass[]))"""),
            {"tables": list(LOADED_TABLES)},
        ).all()  # fmt: skip
        for table, name, _ in referring:
            conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in others:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        for table, name, _ in keys:
            conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        constraints = [*keys, *referring]  # keys first: the foreign keys need them
        return [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in constraints] + [
            d for _, d in others
        ]
    # SQLite: the indexes CREATE INDEX made; those behind primary keys cannot be dropped.
    created = conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
             " AND tbl_name IN (" + ", ".join(f"'{t}'" for t in LOADED_TABLES) + ")")
    ).all()  # fmt: skip
    for name, _ in created:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [d for _, d in created]


def _execute(conn: Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.exec_driver_sql(statement)


def _small_tables(conn: Connection, shape: Shape) -> None:
    live = {"valid_from_block": FIRST_BLOCK - 10, "valid_from_log": 0, "valid_to_block": None}
    conn.execute(insert(INSTITUTIONS), [
        {**live, "address": institution_address(k), "institution_index": k,
         "kind": int(InstitutionType.BANK), "name": f"银行 {k}", "suspended": False,
         "agreement_id": k, "registered_block": FIRST_BLOCK - 10}
        for k in range(1, INSTITUTIONS_N + 1)
    ])  # fmt: skip
    conn.execute(insert(AGREEMENTS), [
        {**live, "agreement_id": k, "institution": institution_address(k),
         "categories": ALL_CATEGORIES, "purposes": ALL_PURPOSES, "not_before": 0,
         "not_after": shape.t0 + 400 * DAY, "document_hash": b"\x02" * 32,
         "status": int(AgreementStatus.ACTIVE), "proposed_block": FIRST_BLOCK - 10}
        for k in range(1, INSTITUTIONS_N + 1)
    ])  # fmt: skip
    conn.execute(insert(CHECKPOINT), [{
        "chain_id": CHAIN_ID, "contract": "0x" + "22" * 20, "deployment_block": 1,
        "block_number": shape.last_block, "block_hash": b"\x01" * 32,
        "block_timestamp": int(time.time()), "event_count": shape.grants,
        "updated_at": datetime.now(UTC),
    }])  # fmt: skip


def _subjects(sql: _Sql, shape: Shape) -> _Rows:
    return _Rows(
        "chain_subjects",
        "valid_from_block, valid_from_log, valid_to_block, subject_index, subject_id, account",
        shape.enterprises,
        f"""SELECT {FIRST_BLOCK - 5}, 0, NULL, i, {sql.blob32("i")}, '0x' || {sql.pad("i", 40)}
        FROM {SERIES}""",
    )


def _grants(sql: _Sql, shape: Shape) -> list[_Rows]:
    t = _grant_terms("i", shape.t0)
    revoke_block = f"({t['block']} + 1)"  # after the block its log entry was checked at
    columns = """valid_from_block, valid_from_log, valid_to_block, grant_id, subject_index,
        institution_index, institution, categories, purpose, level, not_before, not_after,
        max_uses, revoked, issued_block, issued_tx"""
    terms = f"""i, (i - 1) / 3 + 1, {t["inst"]}, '0x' || {sql.pad(f"9000000 + {t['inst']}", 40)},
        {t["mask"]}, {t["purpose"]}, {t["level"]}, {shape.t0 - 30 * DAY}, {t["not_after"]},
        {t["max_uses"]}"""
    issued = f"{t['block']}, {sql.blob32('i')}"
    return [
        _Rows("chain_grants", columns, shape.grants, f"""
            SELECT {t["block"]}, 0, CASE WHEN {t["revoked"]} THEN {revoke_block} END, {terms},
                false, {issued}
            FROM {SERIES}"""),
        _Rows("chain_grants", columns, shape.grants, f"""
            SELECT {revoke_block}, 0, NULL, {terms}, true, {issued}
            FROM {SERIES} WHERE {t["revoked"]}"""),
    ]  # fmt: skip


def _blocks(sql: _Sql, shape: Shape) -> _Rows:
    number = f"({FIRST_BLOCK} - 1 + i)"
    return _Rows(
        "chain_blocks",
        "chain_id, number, hash, parent_hash, timestamp, event_count",
        shape.last_block - FIRST_BLOCK + 1,
        f"""SELECT {CHAIN_ID}, {number}, {sql.blob32(number)}, {sql.blob32(f"{number} - 1")},
            {shape.t0 - 30 * DAY} + 2 * i, {GRANTS_PER_BLOCK}
        FROM {SERIES}""",
    )


def _access_log(sql: _Sql, shape: Shape) -> _Rows:
    n = shape.log_entries
    g = f"((i - 1) % {shape.grants} + 1)"
    t = _grant_terms(g, shape.t0)
    at = f"({shape.t0} + (i - 1) * {DAYS * DAY} / {n})"
    forged = f"(i % {FORGED_EVERY} = 0)"
    # A forged entry claims grant g for an institution that is not g's.
    actor_index = (
        f"(CASE WHEN {forged} THEN {t['inst']} % {INSTITUTIONS_N} + 1 ELSE {t['inst']} END)"
    )
    usable = f"({at} < {t['not_after']})"
    return _Rows(
        "access_log",
        """id, at, actor, actor_role, action, subject_id, category, categories, purpose, level,
        grant_id, checked_block, decision, reason, response_hash, prev_hash, entry_hash,
        anchor_id""",
        n,
        f"""SELECT i, {sql.timestamp(at)}, '0x' || {sql.pad(f"9000000 + {actor_index}", 40)},
            'institution', 'records', {sql.blob32(f"({g} - 1) / 3 + 1")}, {TAX}, NULL,
            {t["purpose"]}, {t["level"]}, {g}, {t["block"]},
            CASE WHEN {usable} OR {forged} THEN 'allowed' ELSE 'denied' END,
            CASE WHEN {usable} OR {forged} THEN 'ok' ELSE 'expired' END,
            NULL, {sql.blob32("i - 1")}, {sql.blob32("i")}, NULL
        FROM {SERIES}""",
    )
