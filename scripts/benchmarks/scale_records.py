"""Records for the scale state (``benchmarks.scale_state``), written at database level in the
tables and the encrypted form ingestion writes, for the scale benchmark's reads.

Ingesting tens of millions of rows through the pipeline would take hours, so the rows the
pipeline would have stored are built here directly, with its own functions and formulas:

* ``subjects``: one per enterprise of the state (its subject id as ``scale_state`` writes it),
  with a fresh random AES-256 data key wrapped under the benchmark's master key and the USCC
  sealed under that key (``crypto.envelope.new_data_keys``, what ingestion calls for a new
  subject). Enterprise i's USCC is ``make_uscc(division, i)``, its division the template's.
* ``records``: RECORDS_LARGE per enterprise up to LARGE (10^6) enterprises (2 tax, 1
  registration, 9 social-insurance and 8 utilities records), RECORDS_HUGE (the 2 tax records)
  beyond, so that 10^7 fits the run's 30 minutes (and the disk). Their contents
  come from TEMPLATES template enterprises (names, amounts, months as ``ledger_api.synth``
  makes them, each row checked by the catalog's validator): an enterprise's records are its
  template's with its own USCC, in the canonical form the validator gives (the USCC is
  substituted in the canonical bytes; a test checks they equal the validator's output). Per
  record, as ``ingest.workers`` computes it: the keyed record-key and content hashes, the
  record uid, a random 32-byte salt and 12-byte nonce, AES-256-GCM under the subject's data
  key with the record's associated data, the salted leaf.
* ``ingest_batches``: one batch per category per BATCH_ENTERPRISES consecutive enterprises
  (leaves in subject order, as ingestion sorts them), its Merkle root, each record's proof and
  the manifest of uids; the batch id is ``ingest.batch.batch_id_of`` over the batch's rows as
  a JSON-lines file in normal form (the canonical payloads, one a line). State ``anchored``.
* ``chain_anchors``: each batch's root anchored (kind DATA_BATCH, submitted by the platform's
  key), one anchor per block from the state's first block, as the indexer projects an
  ``Anchored`` event; those blocks' ``event_count`` and the checkpoint's count include them.

What differs from ingestion, on purpose: the subject ids are the state's synthetic ones, not
HMAC-SHA256 of the USCC under the pseudonym key (``scale_state`` binds them on its chain
replica); transaction hashes of the anchors are placeholders, as the state's are; every
subject's data key is new (no key is reused across subjects). Nothing on the read path
depends on either: a read finds the records by subject id, unwraps the data key and opens
every record with its associated data, which fails on any record not sealed as above.

Rows are built in worker processes (WORKERS, one block of enterprises a task) and written by
this process: PostgreSQL by binary ``COPY``, SQLite by ``executemany``, in one transaction.
On PostgreSQL the records' unique constraints and foreign key are dropped for the load and
added again at its end, with the definitions the migrations gave them, and the rows of the
empty tables are written frozen (``TRUNCATE`` then ``COPY .. FREEZE`` in that transaction).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

from eth_account import Account
from sqlalchemy import Connection, Engine, insert, text

from benchmarks import scale_indexes
from benchmarks import scale_state as state_rows
from indexer.tables import ANCHORS, BLOCKS, CHECKPOINT
from ledger_api.anchoring.keccak import keccak256_hasher
from ledger_api.anchoring.kinds import AnchorKind
from ledger_api.anchoring.merkle import MerkleTree
from ledger_api.catalog.loader import default_catalog
from ledger_api.crypto.envelope import new_data_keys
from ledger_api.devnodes import ANVIL_KEY
from ledger_api.identity.uscc import CHARSET, WEIGHTS
from ledger_api.ingest.batch import batch_id_of
from ledger_api.ingest.validate import RowValidator
from ledger_api.store.models import BATCHES, BatchState
from ledger_api.store.types import utcnow
from ledger_api.synth.generator import iter_enterprises, iter_records

# The benchmark's own secrets (never a deployment's): the API serving the reads gets the same.
MASTER_KEY = hashlib.sha256(b"ccl-bench-scale-master-key").digest()
MASTER_KEY_ID = "bench-scale-1"
PSEUDONYM_KEY = hashlib.sha256(b"ccl-bench-scale-pseudonym-key").digest()
# The platform's key that anchored the batches (anvil's first account: the reads' operator).
PLATFORM_KEY = ANVIL_KEY

TEMPLATES = 64
BATCH_ENTERPRISES = 1024
RECORDS_LARGE = 20  # per enterprise, up to LARGE enterprises
RECORDS_HUGE = 2  # beyond
LARGE = 1_000_000  # 20 records an enterprise up to 10^6: see records_per_enterprise
WORKERS = int(os.environ.get("CCL_BENCH_SCALE_RECORD_WORKERS", str(min(2, os.cpu_count() or 1))))
SEED = 32
PROVIDERS = {
    "tax": "henan-tax",
    "registration": "henan-samr",
    "social_insurance": "henan-hrss",
    "utilities": "henan-utilities",
}
_RECORD_AD = b"ccl/record/v1"
_MONTHS = tuple(f"{2025 - (n + 6) // 12:04d}-{12 - (n + 6) % 12:02d}" for n in range(12))
# The batch id, leaf index and proof last: they are known once the whole batch is sealed.
_RECORD_COLUMNS = ("record_uid", "provider", "category", "subject_id", "record_key_hash",
                   "content_digest", "salt", "sealed", "batch_id", "leaf_index",
                   "proof")  # fmt: skip
_SUBJECT_COLUMNS = ("subject_id", "key_id", "wrapped_key", "uscc_sealed", "created_at")
_ANALYZED = ("subjects", "records", "ingest_batches", "chain_anchors", "chain_blocks")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)


def records_per_enterprise(enterprises: int, full_max: int = LARGE) -> int:
    """RECORDS_LARGE up to ``full_max`` enterprises (LARGE, 10^6, by default), RECORDS_HUGE
    beyond: 2x10^7 records at 10^6 and at 10^7, as the issue's shape asks; the whole run fits
    its 30 minutes with them (docs/benchmarks.md). ``--records-full-max`` lowers it."""
    return RECORDS_LARGE if enterprises <= full_max else RECORDS_HUGE


@dataclass(frozen=True)
class TemplateRow:
    """One record of a template enterprise, its USCC cut out: the bytes between its
    occurrences in the record key and in the canonical payload."""

    category: str
    bit: int
    provider: str
    key_parts: tuple[bytes, ...]
    payload_parts: tuple[bytes, ...]

    def record_key(self, uscc: bytes) -> bytes:
        return uscc.join(self.key_parts)

    def payload(self, uscc: bytes) -> bytes:
        return uscc.join(self.payload_parts)


@dataclass(frozen=True)
class Template:
    division: str
    rows: tuple[TemplateRow, ...]


def template_source_rows(index: int) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Template ``index``'s USCC and its RECORDS_LARGE rows as a provider would send them
    (tax first: an enterprise beyond LARGE keeps the first RECORDS_HUGE)."""
    enterprise = next(islice(iter_enterprises(index + 1, SEED), index, None))
    u = enterprise.uscc
    generated = list(iter_records(enterprise, SEED))
    tax = [row for category, row in generated if category == "tax"][:2]
    registration = next(row for category, row in generated if category == "registration")
    rng = random.Random(f"{SEED}/{index}/scale")
    heads = max(1, enterprise.size)
    account = f"{enterprise.division}{rng.randrange(10**8):08d}"
    rows: list[tuple[str, dict[str, Any]]] = [("tax", r) for r in tax]
    rows.append(("registration", registration))
    rows += [("social_insurance", {
        "uscc": u, "record_key": f"SI-{u}-{month}", "month": month, "insured_headcount": heads,
        "contribution_base_total": f"{heads * 4500:.2f}", "paid_amount": f"{heads * 1350:.2f}",
        "arrears_months": 0, "arrears_amount": "0.00",
    }) for month in _MONTHS[:9]]  # fmt: skip
    rows += [("utilities", {
        "uscc": u, "record_key": f"UT-{u}-{month}", "month": month, "account_no": account,
        "water_arrears": "0.00", "electricity_arrears": "0.00", "gas_arrears": "0.00",
        "electricity_kwh": rng.randrange(500, 200_000),
    }) for month in _MONTHS[:8]]  # fmt: skip
    cleaned = [(c, {k: v for k, v in r.items() if v is not None}) for c, r in rows]
    assert len(cleaned) == RECORDS_LARGE
    return u, cleaned


def build_templates() -> list[Template]:
    """Every template's rows, validated and canonicalised by the catalog's validators."""
    catalog = default_catalog()
    validators = {name: RowValidator(catalog, catalog.category(name)) for name in PROVIDERS}
    templates = []
    for index in range(TEMPLATES):
        uscc, rows = template_source_rows(index)
        cut = uscc.encode()
        made = []
        for category, raw in rows:
            validator = validators[category]
            normal = validator.normalise(raw)
            payload = validator.canonical(normal)
            key = str(normal["record_key"]).encode()
            # The USCC must appear only as itself and in the record key, else the
            # substitution would change more than the enterprise.
            assert payload.count(cut) == 2 and key.count(cut) == 1, (category, raw)
            made.append(TemplateRow(category, validator.category.bit, PROVIDERS[category],
                                    tuple(key.split(cut)), tuple(payload.split(cut))))  # fmt: skip
        templates.append(Template(uscc[2:8], tuple(made)))
    return templates


def enterprise_uscc(templates: list[Template], index: int) -> str:
    """``make_uscc(division, index)`` with the template's division (see ``fast_uscc``)."""
    return fast_uscc(templates[index % TEMPLATES].division, index)


_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_VALUE = {ch: i for i, ch in enumerate(CHARSET)}


@lru_cache(maxsize=TEMPLATES)
def _division_sum(division: str) -> int:
    return sum(_USCC_VALUE[c] * w for c, w in zip("91" + division, WEIGHTS[:8], strict=True))


@lru_cache(maxsize=1)
def _serial_sums() -> tuple[list[int], list[int], list[int], list[int]]:
    """Weighted digit sums of every 4-digit half of a serial, for the organisation code's
    check (high, low) and the USCC's (high, low)."""

    def table(weights: tuple[int, ...]) -> list[int]:
        w0, w1, w2, w3 = weights
        ten = range(10)
        return [a * w0 + b * w1 + c * w2 + d * w3
                for a in ten for b in ten for c in ten for d in ten]  # fmt: skip

    return (table(_ORG_WEIGHTS[:4]), table(_ORG_WEIGHTS[4:]), table(WEIGHTS[8:12]),
            table(WEIGHTS[12:16]))  # fmt: skip


_ORG_CHECK = tuple("X" if c == 10 else "0" if c == 11 else str(c) for c in range(12))


def fast_uscc(division: str, serial: int) -> str:
    """``synth.generator.make_uscc(division, serial)`` for a numeric serial below 10^8, in a
    tenth of the time (10^7 of them are made at the largest size; a test compares the two):
    the kind and division's share of the check sum is computed once per division, each
    4-digit half of the serial's once for all (table look-ups)."""
    org_high, org_low, high, low = _serial_sums()
    h, lo = divmod(serial, 10_000)
    last = _ORG_CHECK[11 - (org_high[h] + org_low[lo]) % 11]
    total = _division_sum(division) + high[h] + low[lo] + _USCC_VALUE[last] * WEIGHTS[16]
    return f"91{division}{serial:08d}{last}{CHARSET[(31 - total % 31) % 31]}"


# -- the workers -------------------------------------------------------------------------------

_templates: list[Template] = []


def _init_worker() -> None:
    _templates[:] = build_templates()


@dataclass
class BlockRows:
    """One block of enterprises: its subjects' and records' rows (``COPY`` data or tuples)
    and its batches ``(sequence, category bit, provider, batch id, root, leaf count,
    manifest)``."""

    subjects: Any
    records: Any
    batches: list[tuple[int, int, str, bytes, bytes, int, bytes]]
    count: int


def _block(first: int, last: int, per: int, first_sequence: int, binary: bool) -> BlockRows:
    """Enterprises ``first..last`` (inclusive): keys, sealed records, batches.

    The hot loop runs once per record (2x10^7 at the largest sizes): it calls the hashes and
    the cipher directly, and on PostgreSQL packs each row's ``COPY`` bytes as soon as its
    values are known (all but the batch id and the proof, which come last in the column
    list), so no per-record tuple or dict is kept."""
    templates = _templates
    sids = [state_rows.subject_id(i) for i in range(first, last + 1)]
    usccs = [enterprise_uscc(templates, i) for i in range(first, last + 1)]
    keys = new_data_keys(MASTER_KEY, MASTER_KEY_ID, list(zip(sids, usccs, strict=True)))
    now = utcnow()
    if binary:
        subjects: Any = _copy_subjects(sids, keys, now)
    else:  # the timestamp as SQLAlchemy stores it in SQLite (text)
        created = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        subjects = [
            (sid, MASTER_KEY_ID, k[2], k[3], created) for sid, k in zip(sids, keys, strict=True)
        ]
    by_category: dict[int, list[int]] = {}
    for slot, row in enumerate(templates[0].rows[:per]):
        by_category.setdefault(row.bit, []).append(slot)
    out = bytearray()
    records: list[tuple[Any, ...]] = []
    batches = []
    sha256 = hashlib.sha256
    k = keccak256_hasher
    blake2b = hashlib.blake2b
    content_mac = blake2b(key=PSEUDONYM_KEY, digest_size=32, person=b"ccl/content").copy
    catalog_version = default_catalog().version
    encrypts = [key[1].encrypt for key in keys]
    encoded = [u.encode() for u in usccs]
    count = 0
    for n, (bit, slots) in enumerate(sorted(by_category.items())):
        provider = templates[0].rows[slots[0]].provider
        rk_mac = blake2b(f"rk\x00{provider}\x00{bit}\x00".encode(), key=PSEUDONYM_KEY,
                         digest_size=32).copy  # fmt: skip
        prefix_uid = f"uid\x00{provider}\x00{bit}\x00".encode()
        bit_word = bit.to_bytes(32, "big")
        # Each template's (key parts, payload parts) of this category's slots.
        parts = [[(t.rows[s].key_parts, t.rows[s].payload_parts) for s in slots] for t in templates]
        head = _record_head(provider)
        name, fields = provider.encode(), len(_RECORD_COLUMNS)
        heads: list[bytes] = []  # PostgreSQL: each row's COPY bytes up to the batch id
        rows: list[tuple[Any, ...]] = []  # SQLite: each row's values up to the batch id
        uids: list[bytes] = []
        payloads: list[bytes] = []
        leaves: list[bytes] = []
        randomness = os.urandom(44 * len(sids) * len(slots))
        off = 0
        for e, sid in enumerate(sids):
            uscc = encoded[e]
            encrypt = encrypts[e]
            for key_parts, payload_parts in parts[(first + e) % TEMPLATES]:
                payload = uscc.join(payload_parts)
                mac = rk_mac()
                mac.update(uscc.join(key_parts))
                key_hash = mac.digest()
                mac = content_mac()
                mac.update(payload)
                content = mac.digest()
                uid = sha256(prefix_uid + key_hash + content).digest()
                salt = randomness[off : off + 32]
                nonce = randomness[off + 32 : off + 44]
                off += 44
                ids = uid + sid
                sealed = nonce + encrypt(nonce, payload, _RECORD_AD + ids)
                leaves.append(
                    k(k(salt + ids + bit_word + sha256(sealed).digest()).digest()).digest()
                )
                if binary:
                    fixed = head(fields, 32, uid, len(name), name, 2, bit, 32, sid, 32, key_hash,
                                 32, content, 32, salt, len(sealed))  # fmt: skip
                    heads.append(fixed + sealed)
                else:
                    rows.append((uid, provider, bit, sid, key_hash, content, salt, sealed))
                uids.append(uid)
                payloads.append(payload)
        tree = MerkleTree(leaves)
        batch_id = batch_id_of(
            provider, _category(bit), catalog_version, b"\n".join(payloads) + b"\n"
        )
        batches.append(
            (first_sequence + n, bit, provider, batch_id, tree.root, len(uids), b"".join(uids))
        )
        proofs = tree.packed_proofs()
        if binary:
            tail = _TAIL.pack
            for leaf_index, row_head in enumerate(heads):
                proof = proofs[leaf_index]
                out += row_head
                out += tail(32, batch_id, 4, leaf_index, len(proof))
                out += proof
        else:
            records += [(*row, batch_id, leaf_index, proofs[leaf_index])
                        for leaf_index, row in enumerate(rows)]  # fmt: skip
        count += len(uids)
    return BlockRows(subjects, bytes(out) if binary else records, batches, count)


def _category(bit: int) -> Any:
    return default_catalog().category(bit)


# A record's COPY row (``_RECORD_COLUMNS`` order) is the field count, then each field's length
# and value: ``_record_head`` up to the sealed value, the sealed value, ``_TAIL``, the proof.
_TAIL = struct.Struct(">i32sii i")  # batch id, leaf index, then the proof's length


@lru_cache(maxsize=8)
def _record_head(provider: str) -> Any:
    """The ``pack`` of a row's COPY bytes up to its sealed value: (field count, 32, uid,
    len(name), name, 2, bit, 32, subject id, 32, key hash, 32, content digest, 32, salt,
    len(sealed))."""
    return struct.Struct(f">hi32si{len(provider.encode())}s ih i32si32si32si32s i").pack


_PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01, PostgreSQL's timestamp origin


def _copy_subjects(sids: list[bytes], keys: list[tuple[bytes, Any, bytes, bytes]], now: Any
                   ) -> bytes:  # fmt: skip
    """The subjects' rows in binary ``COPY`` form: the key id and timestamp are the block's,
    every other field has one length (a test loads them), so a row is one ``pack``."""
    if not sids:
        return b""
    key_id = MASTER_KEY_ID.encode()
    micros = int(now.timestamp() * 1_000_000) - _PG_EPOCH_US
    sizes = (len(sids[0]), len(keys[0][2]), len(keys[0][3]))
    row = struct.Struct(f">h i{sizes[0]}s i{len(key_id)}s i{sizes[1]}s i{sizes[2]}s iq").pack
    out = bytearray()
    for sid, (_, _, wrapped, sealed) in zip(sids, keys, strict=True):
        assert (len(sid), len(wrapped), len(sealed)) == sizes
        out += row(len(_SUBJECT_COLUMNS), len(sid), sid, len(key_id), key_id, len(wrapped),
                   wrapped, len(sealed), sealed, 8, micros)  # fmt: skip
    return bytes(out)


# -- the writer --------------------------------------------------------------------------------


def categories_loaded(per: int) -> int:
    """How many categories (so batches per block) the first ``per`` records of each
    enterprise span."""
    return len({category for category, _ in template_source_rows(0)[1][:per]})


def _blocks(enterprises: int, per: int) -> Iterator[tuple[int, int, int]]:
    """(first, last, first anchor sequence) per block of enterprises."""
    categories = categories_loaded(per)
    for n, first in enumerate(range(1, enterprises + 1, BATCH_ENTERPRISES)):
        yield first, min(first + BATCH_ENTERPRISES - 1, enterprises), 1 + n * categories


def _results(enterprises: int, per: int, binary: bool) -> Iterator[BlockRows]:
    """Every block's rows in order, built by WORKERS processes (at most two blocks each in
    flight, so memory stays bounded whatever the size)."""
    if WORKERS < 2:
        _init_worker()
        for first, last, sequence in _blocks(enterprises, per):
            yield _block(first, last, per, sequence, binary)
        return
    pending: deque[Future[BlockRows]] = deque()
    with ProcessPoolExecutor(WORKERS, initializer=_init_worker) as pool:
        for first, last, sequence in _blocks(enterprises, per):
            pending.append(pool.submit(_block, first, last, per, sequence, binary))
            if len(pending) >= 2 * WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def load(
    engine: Engine, shape: state_rows.Shape, progress: bool = True, full_max: int = LARGE
) -> dict[str, Any]:
    """Write the state's records (after ``scale_state.load``); seconds and counts."""
    per = records_per_enterprise(shape.enterprises, full_max)
    started = time.perf_counter()
    steps = dict.fromkeys(("wait", "write", "constraints", "analyze"), 0.0)
    records = batches = 0
    with engine.connect() as conn:
        pg = conn.dialect.name == "postgresql"
        constraints: list[tuple[str, str]] = []
        freeze = False
        if pg:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            constraints = _drop_constraints(conn)
            freeze = _truncate_if_empty(conn)
        else:
            _sqlite_loading(conn, True)
        blocks = _anchor_blocks(conn, shape, per)
        platform = Account.from_key(PLATFORM_KEY).address
        results = _results(shape.enterprises, per, binary=pg)
        done = 0
        while True:
            waited = time.perf_counter()
            block = next(results, None)
            writing = time.perf_counter()
            steps["wait"] += writing - waited
            if block is None:
                break
            _write_batches(conn, block, blocks, platform)
            if pg:
                _copy(conn, "subjects", _SUBJECT_COLUMNS, block.subjects, freeze)
                _copy(conn, "records", _RECORD_COLUMNS, block.records, freeze)
            else:
                _insert(conn, "subjects", _SUBJECT_COLUMNS, block.subjects)
                _insert(conn, "records", _RECORD_COLUMNS, block.records)
            records += block.count
            batches += len(block.batches)
            steps["write"] += time.perf_counter() - writing
            done += 1
            if progress and done % 100 == 0:
                rate = records / (time.perf_counter() - started)
                print(f"  records: {records:,} ({rate:,.0f}/s)", file=sys.stderr, flush=True)
        _count_anchors(conn, shape, batches)
        mark = time.perf_counter()
        if not pg and conn.exec_driver_sql("PRAGMA foreign_key_check(records)").first():
            raise RuntimeError("a loaded record names a batch that is not there")
        conn.commit()
        if not pg:
            _sqlite_loading(conn, False)
    # Committed first: two sessions build the unique indexes at once (``scale_indexes``).
    scale_indexes.rebuild(
        engine, [f"ALTER TABLE records ADD CONSTRAINT {n} {d}" for n, d in constraints]
    )
    steps["constraints"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with engine.begin() as conn:
        # These tables only: a bare ANALYZE on PostgreSQL takes every schema of the database.
        for table in _ANALYZED:  # SQLite's ANALYZE takes one name
            conn.execute(text(f"ANALYZE {table}"))
    steps["analyze"] = time.perf_counter() - mark
    took = {name: round(seconds, 1) for name, seconds in steps.items()}
    if progress:
        print(f"  records: {records:,} in {time.perf_counter() - started:.1f} s {took}",
              file=sys.stderr, flush=True)  # fmt: skip
    return {
        "records": records,
        "records_per_enterprise": per,
        "batches": batches,
        "records_load_s": round(time.perf_counter() - started, 1),
        "records_steps_s": took,
    }


def _sqlite_loading(conn: Connection, loading: bool) -> None:
    """SQLite's settings for the load (outside its transaction), then back to ``make_engine``'s.

    The records' unique constraints are part of the table there, so they are kept; instead:
    no rollback journal nor syncs (a failed load leaves a file the benchmark drops), a 256 MB
    page cache for the two indexes' insertions (the default 2 MB made them re-read pages),
    and the foreign key checked once at the end (``PRAGMA foreign_key_check``) instead of
    per row."""
    if loading:
        pragmas = ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144", "foreign_keys=OFF")
    else:
        pragmas = ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-2000", "foreign_keys=ON")
    for pragma in pragmas:
        conn.exec_driver_sql(f"PRAGMA {pragma}")
    conn.commit()


def _drop_constraints(conn: Connection) -> list[tuple[str, str]]:
    """Drop the empty records table's constraints but its primary key, for ``load`` to add
    them again, as they were, once the rows are in: one sort per index and one join for the
    foreign key cost far less than checking and inserting into each, row by row."""
    found = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'records'::regclass AND contype <> 'p' ORDER BY conname"
    ).all()
    if conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM records)").scalar_one():
        return []  # not empty: keep checking row by row
    for name, _ in found:
        conn.exec_driver_sql(f"ALTER TABLE records DROP CONSTRAINT {name}")
    return [(str(name), str(definition)) for name, definition in found]


def _truncate_if_empty(conn: Connection) -> bool:
    """Truncate the records and subjects tables if both are empty, so that ``COPY .. FREEZE``
    may write their rows frozen in this transaction (as the state's loader does): the index
    builds, ANALYZE and the first reads then need not set hint bits on, so write again,
    every page of the largest table (2x10^7 rows, 22 GB at 10^7)."""
    for table in ("records", "subjects"):
        if conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {table})").scalar_one():
            return False
    conn.exec_driver_sql("TRUNCATE records, subjects")
    return True


def _anchor_blocks(conn: Connection, shape: state_rows.Shape, per: int) -> dict[int, int]:
    """The blocks the anchors go in (number -> timestamp): the state's, from its first."""
    wanted = -(-shape.enterprises // BATCH_ENTERPRISES) * categories_loaded(per)
    rows = conn.execute(
        text("SELECT number, timestamp FROM chain_blocks WHERE number >= :a AND number < :b"),
        {"a": state_rows.FIRST_BLOCK, "b": state_rows.FIRST_BLOCK + wanted},
    ).all()
    if len(rows) < wanted:
        raise RuntimeError(f"the state has {len(rows)} blocks for {wanted} anchors")
    return {int(r.number): int(r.timestamp) for r in rows}


def _write_batches(conn: Connection, block: BlockRows, blocks: dict[int, int], platform: str
                   ) -> None:  # fmt: skip
    now = utcnow()
    batch_rows, anchor_rows = [], []
    for sequence, bit, provider, batch_id, root, count, manifest in block.batches:
        number = state_rows.FIRST_BLOCK + sequence - 1
        tx = hashlib.sha256(b"ccl-bench-scale-anchor" + sequence.to_bytes(8, "big")).digest()
        batch_rows.append({
            "batch_id": batch_id, "provider": provider, "category": bit,
            "catalog_version": default_catalog().version, "state": BatchState.ANCHORED,
            "rows_total": count, "rows_accepted": count, "rows_duplicate": 0,
            "rows_rejected": 0, "root": root, "leaf_count": count, "manifest": manifest,
            "tx_hash": tx, "anchor_sequence": sequence, "block_number": number,
            "anchored_at": blocks[number], "created_at": now, "updated_at": now,
        })  # fmt: skip
        anchor_rows.append({
            "sequence": sequence, "root": root, "kind": int(AnchorKind.DATA_BATCH),
            "submitter": platform, "leaf_count": count, "ref": batch_id,
            "block_number": number, "log_index": state_rows.GRANTS_PER_BLOCK, "tx_hash": tx,
        })  # fmt: skip
    conn.execute(insert(BATCHES), batch_rows)
    conn.execute(insert(ANCHORS), anchor_rows)


def _count_anchors(conn: Connection, shape: state_rows.Shape, batches: int) -> None:
    """The anchors' blocks hold one event more each; the checkpoint counts them."""
    last = state_rows.FIRST_BLOCK + batches - 1
    conn.execute(
        BLOCKS.update()
        .where(BLOCKS.c.number.between(state_rows.FIRST_BLOCK, last))
        .values(event_count=BLOCKS.c.event_count + 1)
    )
    conn.execute(CHECKPOINT.update().values(event_count=CHECKPOINT.c.event_count + batches))


def _copy(conn: Connection, table: str, columns: tuple[str, ...], data: bytes, freeze: bool
          ) -> None:  # fmt: skip
    options = "FORMAT BINARY, FREEZE" if freeze else "FORMAT BINARY"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN ({options})") as copy:
            copy.write(_COPY_HEADER)
            copy.write(data)
            copy.write(_COPY_TRAILER)
    finally:
        cursor.close()


def _insert(conn: Connection, table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
    marks = ", ".join("?" * len(columns))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def enterprise_rows(index: int, per: int) -> list[tuple[str, dict[str, Any]]]:
    """Enterprise ``index``'s first ``per`` records as a provider would send them: its
    template's rows with its USCC (tests ingest them and compare)."""
    templates = build_templates()
    uscc = enterprise_uscc(templates, index)
    source, rows = template_source_rows(index % TEMPLATES)
    return [
        (category, {k: v.replace(source, uscc) if isinstance(v, str) else v
                    for k, v in row.items()})
        for category, row in rows[:per]
    ]  # fmt: skip
