from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from sqlalchemy import delete, event, func, inspect, select, update

import ledger_api.store.models_registry as registry
from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.api.reading import read_records
from ledger_api.catalog.loader import DEFAULT_CATALOG, default_catalog, parse_catalog
from ledger_api.crypto.envelope import (
    new_data_keys,
    open_record,
    open_uscc,
    seal_record,
    unwrap_data_key,
)
from ledger_api.crypto.keys import (
    MasterKey,
    SubjectKeyring,
    read_key_epoch,
    rotate_master_key,
    shred_subject,
)
from ledger_api.errors import CryptoError, NotFoundError
from ledger_api.identity.uscc import subject_id
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.operator.master_key import check_master_key
from ledger_api.settings import Settings
from ledger_api.store.db import alembic_config, downgrade, make_engine, migrate
from ledger_api.store.models import RECORDS, SUBJECTS
from ledger_api.store.records import read_record, read_subject_records, record_proof, subject_uscc
from ledger_api.synth.generator import iter_all_records
from ledger_api.verify.verifier import verify_database

from .conftest import USCC_A, USCC_B, jsonl, tax_row


def test_migration_matches_the_models_and_sqlite_runs_in_wal_mode(engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), registry.metadata) == []
        applied = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        script = ScriptDirectory.from_config(alembic_config(engine))
        assert applied == set(script.get_heads())  # other packages' migrations branch from 0001
        assert script.get_revision("0001_data_plane").down_revision is None
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_records_stored_before_the_subject_index_migration_are_kept_and_found(
    engine, settings, anchorer
) -> None:
    # The database as 0001 left it (unique uid, plain subject index), with records in it.
    ingestor = Ingestor(engine, anchorer, settings)
    first = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key=f"T-{i}") for i in range(5)]))
    downgrade(engine, "0001_data_plane")
    with engine.connect() as conn:
        old_indexes = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(records)")}
    migrate(engine)
    with engine.connect() as conn:
        indexes = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(records)")}
        stored = conn.execute(select(RECORDS.c.record_uid, RECORDS.c.subject_id)).all()
        assert all(record_proof(conn, uid, sid).verifies() for uid, sid in stored)
    assert "ix_records_subject_category" in old_indexes
    assert indexes == {
        "sqlite_autoindex_records_1",  # batch and leaf
        "sqlite_autoindex_records_2",  # category, subject and uid
    }
    assert len(stored) == 5 and verify_database(engine, anchorer).clean
    again = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key=f"T-{i}") for i in range(6)]))
    assert (again.accepted, again.duplicates) == (1, 5)  # the stored five are found again
    assert first.state == again.state == "anchored"


def _unique_columns(conn) -> set[tuple[str, ...]]:
    """The records table's unique constraints, as their column lists in order."""
    return {tuple(u["column_names"]) for u in inspect(conn).get_unique_constraints("records")}


def test_category_first_index_migration_keeps_records_both_ways(engine, settings, anchorer) -> None:
    ingestor = Ingestor(engine, anchorer, settings)
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key=f"T-{i}") for i in range(3)]))
    downgrade(engine, "0005_records_one_subject_index")
    with engine.connect() as conn:
        before = _unique_columns(conn)
    migrate(engine)
    with engine.connect() as conn:
        after = _unique_columns(conn)
        stored = conn.execute(select(RECORDS.c.record_uid, RECORDS.c.subject_id)).all()
        assert all(record_proof(conn, uid, sid).verifies() for uid, sid in stored)
    downgrade(engine, "0005_records_one_subject_index")
    with engine.connect() as conn:
        assert _unique_columns(conn) == before
        assert conn.execute(select(func.count()).select_from(RECORDS)).scalar_one() == 3
    assert before == {("batch_id", "leaf_index"), ("subject_id", "category", "record_uid")}
    assert after == {("batch_id", "leaf_index"), ("category", "subject_id", "record_uid")}
    assert len(stored) == 3


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_reads_by_subject_seek_the_unique_index_instead_of_scanning(engine, settings) -> None:
    """Every read by subject names its categories, so the (category, subject, uid) index
    finds its rows: no read walks the whole records table."""
    statements: list[str] = []  # as SQLite ran them, parameters expanded
    sid, uid = b"s" * 32, b"u" * 32
    catalog = default_catalog()
    keyring = SubjectKeyring(MasterKey.from_settings(settings))
    with engine.connect() as conn:
        conn.connection.driver_connection.set_trace_callback(statements.append)
        read_subject_records(conn, settings, sid)
        read_subject_records(conn, settings, sid, categories=["tax", "judicial"])
        with pytest.raises(NotFoundError):
            read_record(conn, settings, uid, sid)
        with pytest.raises(NotFoundError):
            record_proof(conn, uid, sid)
        read_records(conn, keyring, catalog, sid, None)
        read_records(conn, keyring, catalog, sid, [catalog.category("tax").bit])
        conn.connection.driver_connection.set_trace_callback(None)
        reads = [sql for sql in statements if re.search(r"\bFROM records\b", sql)]
        plans = [
            " | ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            for sql in reads
        ]
    assert len(plans) == 6
    for plan in plans:
        assert "INDEX sqlite_autoindex_records_2 (category=? AND subject_id=?" in plan, plan
        assert "SCAN records" not in plan, plan


def test_a_record_stays_provable_when_a_later_catalog_drops_its_category(
    engine, settings, anchorer
) -> None:
    document = json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    tax = next(c for c in document["categories"] if c["name"] == "tax")
    document["categories"].append({**tax, "name": "tax_pilot", "bit": 200})
    pilot = parse_catalog(document)
    ingestor = Ingestor(engine, anchorer, settings, catalog=pilot)
    ingestor.ingest("henan-tax", "tax_pilot", jsonl([tax_row(key="P-1")]))
    with engine.connect() as conn:
        uid, sid, bit = conn.execute(
            select(RECORDS.c.record_uid, RECORDS.c.subject_id, RECORDS.c.category)
        ).one()
        proof = record_proof(conn, uid, sid)  # no catalog: the default one has no bit 200
    assert bit == 200 and 200 not in {c.bit for c in default_catalog().categories}
    assert proof.verifies() and proof.anchored and proof.category_bit == 200


def test_ciphertext_copied_to_another_row_or_subject_fails_to_decrypt() -> None:
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    uid, other_uid, subject, other_subject = b"u" * 32, b"v" * 32, b"s" * 32, b"t" * 32
    sealed = seal_record(aead, uid, subject, b'{"x":1}')
    assert open_record(aead, uid, subject, sealed) == b'{"x":1}'
    for args in ((other_uid, subject), (uid, other_subject)):
        with pytest.raises(CryptoError):
            open_record(aead, *args, sealed)


def test_new_data_keys_unwrap_under_the_master_and_each_has_its_own_key_and_nonces() -> None:
    master = AESGCM.generate_key(bit_length=256)
    subjects = [(bytes([n]) * 32, f"9141010{n}MA0000000X") for n in range(3)]
    created = new_data_keys(master, "k1", subjects)
    for (sid, uscc), (raw, aead, wrapped, uscc_sealed) in zip(subjects, created, strict=True):
        assert unwrap_data_key(master, "k1", sid, wrapped) == raw
        assert open_uscc(aead, sid, uscc_sealed) == uscc
        with pytest.raises(CryptoError):  # bound to its subject and master key id
            unwrap_data_key(master, "k2", sid, wrapped)
    drawn = [part for raw, _aead, w, u in created for part in (raw, w[:12], u[:12])]
    assert len(set(drawn)) == len(drawn) == 9


def test_row_swapped_in_the_database_fails_to_decrypt(ingestor, engine, settings) -> None:
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(key="2")]), fmt="jsonl")
    with engine.begin() as conn:
        (uid1, sealed1), (uid2, _s) = conn.execute(select(RECORDS.c.record_uid, RECORDS.c.sealed))
        conn.execute(update(RECORDS).where(RECORDS.c.record_uid == uid2).values(sealed=sealed1))
    sid = subject_id(USCC_A, settings.pseudonym_key_bytes)
    with engine.connect() as conn:
        assert read_record(conn, settings, uid1, sid).record_key in ("1", "2")
        with pytest.raises(CryptoError):
            read_record(conn, settings, uid2, sid)


_TIMESTAMP_TEXT = re.compile(
    rb"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
)


def test_no_plaintext_field_value_or_uscc_appears_in_the_database_file(tmp_path, settings) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    rows_by_category: dict[str, list[dict[str, object]]] = {}
    for category, row in iter_all_records(40, seed=11):
        rows_by_category.setdefault(category, []).append(row)
    ingestor = Ingestor(engine, InMemoryAnchorer(), settings)
    for category, rows in rows_by_category.items():
        assert ingestor.ingest("prov", category, jsonl(rows), fmt="jsonl").rejected == []
    engine.dispose()  # checkpoint the WAL into the file
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger"))
    # Timestamps are stored as text ("2026-11-24 04:02:17.411302"): their digits can spell a
    # six-digit field value (a district code) by chance. No field holds a time of day.
    blob = _TIMESTAMP_TEXT.sub(b"", blob)
    values = {str(v) for rows in rows_by_category.values() for r in rows for v in r.values()
              if not isinstance(v, bool)}  # fmt: skip
    # Short values ("B", "12", "vat") occur in any binary file by chance; all identifiers,
    # names, amounts, dates, keys and USCCs are longer than 5 characters.
    leaked = sorted(v for v in values if len(v) > 5 and v.encode() in blob)
    assert leaked == []
    usccs = {r["uscc"] for rows in rows_by_category.values() for r in rows}
    assert usccs and not any(str(u).encode() in blob for u in usccs)


def test_subject_records_read_back_decrypted_and_uscc_from_the_directory(
    ingestor, engine, settings
) -> None:
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]), fmt="jsonl"
    )
    sid = subject_id(USCC_A, settings.pseudonym_key_bytes)
    with engine.connect() as conn:
        [record] = read_subject_records(conn, settings, sid, categories=["tax"])
        assert subject_uscc(conn, settings, sid) == USCC_A
        assert read_subject_records(conn, settings, sid, categories=["judicial"]) == []
    assert record.fields == {
        "uscc": USCC_A, "record_key": "1", "period": "2025-03", "tax_type": "vat",
        "tax_paid": "1200.50", "arrears_amount": "0.00", "paid_on_time": True, "tax_grade": "B",
    }  # fmt: skip


def test_record_proof_verifies_against_the_anchored_root(ingestor, anchorer, engine) -> None:
    result = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key=str(i)) for i in range(7)]),
                             fmt="jsonl")  # fmt: skip
    with engine.connect() as conn:
        stored = conn.execute(select(RECORDS.c.record_uid, RECORDS.c.subject_id)).all()
        proofs = [record_proof(conn, uid, sid) for uid, sid in stored]
        other_subject = b"\x00" * 32
        with pytest.raises(NotFoundError):  # found only with its own subject
            record_proof(conn, stored[0][0], other_subject)
    assert all(p.verifies() and p.anchored and p.root == result.root for p in proofs)
    assert anchorer.anchored(result.root) is not None


def test_master_key_rotation_rewraps_keys_without_touching_records(
    ingestor, engine, settings
) -> None:
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]), fmt="jsonl"
    )
    with engine.connect() as conn:
        before = conn.execute(select(RECORDS.c.sealed).order_by(RECORDS.c.id)).scalars().all()
        wrapped_before = conn.execute(select(SUBJECTS.c.wrapped_key)).scalars().all()
    new = MasterKey("prod-2", bytes(range(32)))
    with engine.begin() as conn:
        assert rotate_master_key(conn, MasterKey.from_settings(settings), new) == 2
    with engine.connect() as conn:
        assert (
            conn.execute(select(RECORDS.c.sealed).order_by(RECORDS.c.id)).scalars().all() == before
        )
        assert conn.execute(select(SUBJECTS.c.wrapped_key)).scalars().all() != wrapped_before
        rotated = Settings(master_key=SecretStr(bytes(range(32)).hex()), master_key_id="prod-2")
        sid = subject_id(USCC_A, settings.pseudonym_key_bytes)
        assert read_subject_records(conn, rotated, sid)[0].record_key == "1"
        with pytest.raises(CryptoError) as old_key:
            read_subject_records(conn, settings, sid)
        assert old_key.value.code == "wrong_master_key"


@pytest.mark.parametrize("stray", ["a-older", "z-newer"])  # sorting below and above "dev-1"
def test_start_up_refuses_the_master_key_while_any_data_key_is_wrapped_under_another(
    ingestor, engine, settings, stray: str
) -> None:
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]), fmt="jsonl"
    )
    master = MasterKey.from_settings(settings)
    check_master_key(engine, master)  # every data key under it: starts
    one = subject_id(USCC_B, settings.pseudonym_key_bytes)
    with engine.begin() as conn:
        conn.execute(update(SUBJECTS).where(SUBJECTS.c.subject_id == one).values(key_id=stray))
    with pytest.raises(CryptoError) as caught:
        check_master_key(engine, master)
    assert caught.value.code == "wrong_master_key" and repr(stray) in str(caught.value)


def test_crypto_shredding_makes_records_unreadable_and_verification_still_passes(
    ingestor, anchorer, engine, settings
) -> None:
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]), fmt="jsonl"
    )
    sid = subject_id(USCC_A, settings.pseudonym_key_bytes)
    with engine.begin() as conn:
        assert shred_subject(conn, sid)
        assert not shred_subject(conn, sid)
    with engine.connect() as conn:
        with pytest.raises(CryptoError) as shredded:
            read_subject_records(conn, settings, sid)
        assert shredded.value.code == "subject_shredded"
        with pytest.raises(CryptoError):
            subject_uscc(conn, settings, sid)
        other = subject_id(USCC_B, settings.pseudonym_key_bytes)
        assert read_subject_records(conn, settings, other)[0].record_key == "2"
    assert verify_database(engine, anchorer).clean


def test_keyring_caches_unwrapped_keys(ingestor, engine, settings) -> None:
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row()]), fmt="jsonl")
    keyring = SubjectKeyring(MasterKey.from_settings(settings))
    sid = subject_id(USCC_A, settings.pseudonym_key_bytes)
    with engine.connect() as conn:
        assert keyring.aead(conn, sid) is keyring.aead(conn, sid)


def test_pipeline_subject_id_is_the_identity_module_pseudonym(ingestor, engine, settings) -> None:
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row()]), fmt="jsonl")
    with engine.connect() as conn:
        stored = conn.execute(select(SUBJECTS.c.subject_id)).scalar_one()
    assert stored == subject_id(USCC_A, settings.pseudonym_key_bytes)


def test_catalog_file_is_data_not_code() -> None:
    path = Path(__file__).parents[2] / "ledger_api" / "catalog" / "catalog-v1.json"
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


def test_data_key_cache_serves_unchanged_keys_and_never_shredded_or_rotated_ones(
    engine, anchorer, settings
) -> None:
    ingestor = Ingestor(engine, anchorer, settings)
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]))
    cache = ingestor._data_keys
    assert len(cache) == 2  # the keys the committed batch created
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="3"), tax_row(USCC_B, "4")]))
    assert len(cache) == 2
    sid_a = subject_id(USCC_A, settings.pseudonym_key_bytes)
    sid_b = subject_id(USCC_B, settings.pseudonym_key_bytes)

    with engine.begin() as conn:
        shred_subject(conn, sid_a)
    result = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="5"), tax_row(USCC_B, "6")]))
    assert [e.row for e in result.rejected] == [1] and result.accepted == 1
    assert len(cache) == 1  # the shredded subject's key is dropped from memory too

    new = MasterKey("prod-2", bytes(range(32)))
    with engine.begin() as conn:
        rotate_master_key(conn, MasterKey.from_settings(settings), new)
    with pytest.raises(CryptoError) as stale:  # the cached key is not used behind the rotation
        ingestor.ingest("henan-tax", "tax", jsonl([tax_row(USCC_B, "7")]))
    assert stale.value.code == "wrong_master_key"
    rotated = Settings(master_key=SecretStr(bytes(range(32)).hex()), master_key_id="prod-2")
    fresh = Ingestor(engine, anchorer, rotated)
    assert fresh.ingest("henan-tax", "tax", jsonl([tax_row(USCC_B, "8")])).accepted == 1
    with engine.connect() as conn:
        keyring = SubjectKeyring(new, fresh._data_keys)
        assert {r.record_key for r in read_subject_records(conn, rotated, sid_b)} >= {"2", "8"}
        assert keyring.aead(conn, sid_b) is fresh._data_keys.get(
            sid_b, "prod-2", conn.execute(
                select(SUBJECTS.c.wrapped_key).where(SUBJECTS.c.subject_id == sid_b)
            ).scalar_one()
        )  # fmt: skip


def test_every_change_to_a_subjects_key_bumps_the_key_epoch_and_new_subjects_do_not(
    ingestor, engine, settings
) -> None:
    def epoch() -> int:
        with engine.connect() as conn:
            return read_key_epoch(conn)

    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]))
    assert epoch() == 0  # two subjects created
    with engine.begin() as conn:
        shred_subject(conn, subject_id(USCC_A, settings.pseudonym_key_bytes))
    assert epoch() == 1
    with engine.begin() as conn:
        rotate_master_key(conn, MasterKey.from_settings(settings), MasterKey("k2", bytes(32)))
    assert epoch() == 2  # one live key re-wrapped
    with engine.begin() as conn:  # any writer, not only this package's functions
        conn.execute(update(SUBJECTS).values(key_id="k3"))
    assert epoch() > 2
    before = epoch()
    with engine.begin() as conn:
        conn.execute(update(SUBJECTS).values(created_at=SUBJECTS.c.created_at))
    assert epoch() == before  # keys untouched
    with engine.begin() as conn:
        conn.execute(delete(RECORDS))
        conn.execute(delete(SUBJECTS))
    assert epoch() > before


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_later_batches_use_cached_keys_without_reading_their_subjects_rows(
    engine, anchorer, settings
) -> None:
    ingestor = Ingestor(engine, anchorer, settings)
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]))
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        second = ingestor.ingest(
            "henan-tax", "tax", jsonl([tax_row(key="3"), tax_row(USCC_B, "4")])
        )
        read_by_second = list(statements)
        with engine.begin() as conn:
            shred_subject(conn, subject_id(USCC_B, settings.pseudonym_key_bytes))
        statements.clear()
        third = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="5"), tax_row(USCC_B, "6")]))
    finally:
        event.remove(engine, "before_cursor_execute", record)

    def reads_subjects(sqls: list[str]) -> bool:
        return any(re.search(r"\bFROM subjects\b", sql) for sql in sqls)

    assert second.accepted == 2
    assert any(re.search(r"\bFROM key_epoch\b", sql) for sql in read_by_second)
    assert not reads_subjects(read_by_second)
    # The shred started a new epoch: the third batch read the rows, and refused the row of
    # the shredded subject.
    assert reads_subjects(statements)
    assert [e.row for e in third.rejected] == [2] and third.accepted == 1


def test_a_key_shredded_between_sealing_and_storing_is_caught_and_its_rows_refused(
    engine, anchorer, settings, monkeypatch
) -> None:
    ingestor = Ingestor(engine, anchorer, settings)
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]))
    sid_a = subject_id(USCC_A, settings.pseudonym_key_bytes)
    seal = Ingestor.seal_finish
    seals: list[object] = []

    def seal_then_shred(self, *args, **kwargs):
        sealed = seal(self, *args, **kwargs)  # under A's key, read from the cache
        if not seals:
            with engine.begin() as conn:  # as another process would, before the batch commits
                shred_subject(conn, sid_a)
        seals.append(sealed)
        return sealed

    monkeypatch.setattr(Ingestor, "seal_finish", seal_then_shred)
    result = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="3"), tax_row(USCC_B, "4")]))
    assert len(seals) == 2  # the first seal was not stored: sealed again after the shred
    assert [e.row for e in result.rejected] == [1] and result.accepted == 1
    with engine.connect() as conn:
        stored_a = conn.execute(
            select(func.count()).select_from(RECORDS).where(RECORDS.c.subject_id == sid_a)
        ).scalar_one()
    assert stored_a == 1  # only the record from before the shred
    assert verify_database(engine, anchorer).clean


def test_keys_of_a_batch_that_failed_to_store_are_not_cached(
    engine, anchorer, settings, monkeypatch
) -> None:
    ingestor = Ingestor(engine, anchorer, settings)

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Ingestor, "write", fail)
    with pytest.raises(RuntimeError):
        ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]))
    assert len(ingestor._data_keys) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SUBJECTS)).scalar_one() == 0
    monkeypatch.undo()
    result = ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="1"), tax_row(USCC_B, "2")]))
    assert result.accepted == 2 and len(ingestor._data_keys) == 2
    assert verify_database(engine, anchorer).clean


def test_data_key_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    from ledger_api.crypto.keys import DataKeyCache

    master = MasterKey("k", bytes(32))
    cache = DataKeyCache(master, max_keys=2)
    ciphers = [AESGCM(AESGCM.generate_key(bit_length=256)) for _ in range(3)]
    cache.put(b"a", "k", b"wa", ciphers[0])
    cache.put(b"b", "k", b"wb", ciphers[1])
    assert cache.get(b"a", "k", b"wa") is ciphers[0]  # "b" is now the least recently used
    cache.put(b"c", "k", b"wc", ciphers[2])
    assert cache.get(b"b", "k", b"wb") is None and len(cache) == 2
    assert cache.get(b"a", "k", b"other") is None  # re-wrapped: dropped, not served
    assert cache.get(b"a", "k", b"wa") is None


def test_a_bytes_column_holding_another_type_is_refused_not_converted() -> None:
    # SQLite keeps whatever type a hand edit stores; bytes(42) would silently be 42 zero bytes.
    from sqlalchemy.dialects import sqlite

    from ledger_api.errors import IntegrityError
    from ledger_api.store.types import Bytes

    column = Bytes()
    dialect = sqlite.dialect()
    assert column.process_result_value(b"\x00\x01", dialect) == b"\x00\x01"
    assert column.process_result_value(memoryview(b"ab"), dialect) == b"ab"
    assert column.process_result_value(None, dialect) is None
    for odd in (42, "text", 2.5):
        with pytest.raises(IntegrityError, match="edited outside the platform"):
            column.process_result_value(odd, dialect)
