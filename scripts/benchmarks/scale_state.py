"""A province's state at N enterprises, written by the database itself (INSERT .. SELECT over
a generated series), for the scale benchmark (``benchmarks.scale``).

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

Records (encrypted per enterprise) are not loaded: see docs/benchmarks.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, text

from indexer.tables import AGREEMENTS, CHECKPOINT, INSTITUTIONS
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


def load(engine: Engine, shape: Shape, progress: bool = False) -> dict[str, float]:
    """Write the state; seconds per table."""
    took: dict[str, float] = {}
    with engine.begin() as conn:
        sql = _Sql(conn)
        started = time.perf_counter()
        _small_tables(conn, shape)
        took["institutions"] = time.perf_counter() - started
        for name, step in (("subjects", _subjects), ("grants", _grants), ("blocks", _blocks),
                           ("access_log", _access_log)):  # fmt: skip
            started = time.perf_counter()
            step(conn, sql, shape)
            took[name] = round(time.perf_counter() - started, 2)
    with engine.begin() as conn:  # planner statistics, as autovacuum / a DBA would keep them
        conn.execute(text("ANALYZE"))
    return took


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


def _subjects(conn: Connection, sql: _Sql, shape: Shape) -> None:
    prefix, source = sql.series(shape.enterprises)
    conn.execute(
        text(f"""{prefix}
        INSERT INTO chain_subjects (valid_from_block, valid_from_log, valid_to_block,
            subject_index, subject_id, account)
        SELECT {FIRST_BLOCK - 5}, 0, NULL, i, {sql.blob32("i")}, '0x' || {sql.pad("i", 40)}
        FROM {source}""")
    )


def _grants(conn: Connection, sql: _Sql, shape: Shape) -> None:
    prefix, source = sql.series(shape.grants)
    t = _grant_terms("i", shape.t0)
    revoke_block = f"({t['block']} + 1)"  # after the block its log entry was checked at
    columns = """valid_from_block, valid_from_log, valid_to_block, grant_id, subject_index,
        institution_index, institution, categories, purpose, level, not_before, not_after,
        max_uses, revoked, issued_block, issued_tx"""
    terms = f"""i, (i - 1) / 3 + 1, {t["inst"]}, '0x' || {sql.pad(f"9000000 + {t['inst']}", 40)},
        {t["mask"]}, {t["purpose"]}, {t["level"]}, {shape.t0 - 30 * DAY}, {t["not_after"]},
        {t["max_uses"]}"""
    issued = f"{t['block']}, {sql.blob32('i')}"
    conn.execute(
        text(f"""{prefix}
        INSERT INTO chain_grants ({columns})
        SELECT {t["block"]}, 0, CASE WHEN {t["revoked"]} THEN {revoke_block} END, {terms},
            false, {issued}
        FROM {source}""")
    )
    prefix, source = sql.series(shape.grants)
    conn.execute(
        text(f"""{prefix}
        INSERT INTO chain_grants ({columns})
        SELECT {revoke_block}, 0, NULL, {terms}, true, {issued}
        FROM {source} WHERE {t["revoked"]}""")
    )


def _blocks(conn: Connection, sql: _Sql, shape: Shape) -> None:
    count = shape.last_block - FIRST_BLOCK + 1
    prefix, source = sql.series(count)
    number = f"({FIRST_BLOCK} - 1 + i)"
    conn.execute(
        text(f"""{prefix}
        INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp, event_count)
        SELECT {CHAIN_ID}, {number}, {sql.blob32(number)}, {sql.blob32(f"{number} - 1")},
            {shape.t0 - 30 * DAY} + 2 * i, {GRANTS_PER_BLOCK}
        FROM {source}""")
    )


def _access_log(conn: Connection, sql: _Sql, shape: Shape) -> None:
    n = shape.log_entries
    prefix, source = sql.series(n)
    g = f"((i - 1) % {shape.grants} + 1)"
    t = _grant_terms(g, shape.t0)
    at = f"({shape.t0} + (i - 1) * {DAYS * DAY} / {n})"
    forged = f"(i % {FORGED_EVERY} = 0)"
    # A forged entry claims grant g for an institution that is not g's.
    actor_index = (
        f"(CASE WHEN {forged} THEN {t['inst']} % {INSTITUTIONS_N} + 1 ELSE {t['inst']} END)"
    )
    usable = f"({at} < {t['not_after']})"
    conn.execute(
        text(f"""{prefix}
        INSERT INTO access_log (id, at, actor, actor_role, action, subject_id, category,
            categories, purpose, level, grant_id, checked_block, decision, reason,
            response_hash, prev_hash, entry_hash, anchor_id)
        SELECT i, {sql.timestamp(at)}, '0x' || {sql.pad(f"9000000 + {actor_index}", 40)},
            'institution', 'records', {sql.blob32(f"({g} - 1) / 3 + 1")}, {TAX}, NULL,
            {t["purpose"]}, {t["level"]}, {g}, {t["block"]},
            CASE WHEN {usable} OR {forged} THEN 'allowed' ELSE 'denied' END,
            CASE WHEN {usable} OR {forged} THEN 'ok' ELSE 'expired' END,
            NULL, {sql.blob32("i - 1")}, {sql.blob32("i")}, NULL
        FROM {source}""")
    )
