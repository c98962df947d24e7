from __future__ import annotations

import gc
import json
import sqlite3
import warnings
from pathlib import Path

import pytest
from operator_setup import init_platform, register_provider
from typer.testing import CliRunner

from ledger_api.cli import app

from .conftest import USCC_A, jsonl, tax_row


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CCL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CCL_DATABASE_URL", raising=False)
    init_platform(tmp_path / "var")
    register_provider(tmp_path / "var", "henan-tax", "prov")
    runner = CliRunner()

    def run(*args: str, **kwargs: object):
        return runner.invoke(app, list(args), **kwargs)  # type: ignore[arg-type]

    return run


def test_ingest_then_verify_clean_then_tampered(cli, tmp_path: Path) -> None:
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(jsonl([tax_row(key=f"K{i}") for i in range(5)]))
    result = cli("ingest", str(batch), "--category", "tax", "--provider", "henan-tax", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 5

    clean = cli("verify", "--json")
    assert clean.exit_code == 0 and json.loads(clean.stdout)["clean"] is True

    db = sqlite3.connect(tmp_path / "var" / "ledger.sqlite")
    victim = db.execute("SELECT record_uid FROM records LIMIT 1").fetchone()[0]
    db.execute("UPDATE records SET salt = zeroblob(32) WHERE record_uid = ?", (victim,))
    db.commit()
    db.close()
    tampered = cli("verify", "--json")
    assert tampered.exit_code == 1
    [finding] = json.loads(tampered.stdout)["findings"]
    assert finding["kind"] == "record_altered" and finding["record_uid"] == "0x" + victim.hex()


def test_verify_prints_each_finding_on_a_line_naming_where_it_is(cli, tmp_path: Path) -> None:
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(jsonl([tax_row(key=f"K{i}") for i in range(3)]))
    assert cli("ingest", str(batch), "-c", "tax", "-p", "henan-tax").exit_code == 0
    assert cli("catalog", "publish").exit_code == 0
    db = sqlite3.connect(tmp_path / "var" / "ledger.sqlite")
    victim, batch_id = db.execute("SELECT record_uid, batch_id FROM records LIMIT 1").fetchone()
    # A hand edit may store text where a blob belongs (SQLite keeps it): still a named row.
    db.execute("UPDATE records SET salt = 'not a salt' WHERE record_uid = ?", (victim,))
    db.execute("UPDATE catalog_versions SET document = document || ' '")
    db.commit()
    db.close()
    result = cli("verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-3] == "catalog_altered: catalog v1 document does not match its hash"
    assert lines[-2].startswith(
        f"record_altered: record 0x{victim.hex()} batch 0x{batch_id.hex()} leaf "
    )
    assert lines[-1].endswith("2 finding(s)")


def test_ingest_with_bad_rows_lists_them_and_exits_1(cli, tmp_path: Path) -> None:
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(jsonl([tax_row(key="ok"), tax_row(key="bad", tax_grade="Q")]))
    result = cli("ingest", str(batch), "-c", "tax", "-p", "henan-tax")
    assert result.exit_code == 1
    assert "1 stored" in result.stdout and "row 2: tax_grade" in result.stderr


def test_ingest_of_several_files_stores_each_as_a_batch_in_order(cli, tmp_path: Path) -> None:
    files = []
    for day, keys in enumerate((["A1", "A2"], ["B1"], ["C1", "C2", "C3"]), start=1):
        path = tmp_path / f"tax-day{day}.jsonl"
        path.write_bytes(jsonl([tax_row(key=k) for k in keys]))
        files.append(path)
    files[1].write_bytes(jsonl([tax_row(key="B1"), tax_row(key="B2", tax_grade="Q")]))
    args = [*map(str, files), "-c", "tax", "-p", "henan-tax", "--json"]

    first = cli("ingest", *args)
    assert first.exit_code == 1, first.output  # one row was rejected
    results = [json.loads(line) for line in first.stdout.splitlines()]
    assert [r["file"] for r in results] == [str(f) for f in files]
    assert [r["accepted"] for r in results] == [2, 1, 3]
    assert [len(r["rejected"]) for r in results] == [0, 1, 0]
    assert results[1]["rejected"][0]["row"] == 2
    assert all(r["state"] == "anchored" for r in results)
    assert len({r["batch_id"] for r in results}) == 3

    again = cli("ingest", *args)
    assert [json.loads(line)["accepted"] for line in again.stdout.splitlines()] == [0, 0, 0]
    report = json.loads(cli("verify", "--json").stdout)
    assert report["clean"] is True and report["records"] == 6 and report["batches"] == 3


def test_ingest_of_several_files_names_each_file_in_its_report(cli, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_bytes(jsonl([tax_row(key="G1")]))
    bad.write_bytes(jsonl([tax_row(key="X1", tax_grade="Q")]))
    result = cli("ingest", str(good), str(bad), "-c", "tax", "-p", "henan-tax")
    assert result.exit_code == 1
    assert "good.jsonl: batch 0x" in result.stdout and "1 stored" in result.stdout
    assert "bad.jsonl: row 1: tax_grade" in result.stderr


def test_ingest_checks_every_file_exists_before_storing_any(cli, tmp_path: Path) -> None:
    present = tmp_path / "present.jsonl"
    present.write_bytes(jsonl([tax_row(key="P1")]))
    missing = tmp_path / "missing.jsonl"
    result = cli("ingest", str(present), str(missing), "-c", "tax", "-p", "henan-tax")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert f"cannot read {missing}: not a file" in line
    assert json.loads(cli("verify", "--json").stdout)["records"] == 0


def test_errors_are_one_line_without_traceback(cli, tmp_path: Path) -> None:
    result = cli("ingest", str(tmp_path / "missing.jsonl"), "-c", "tax", "-p", "x")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output, (
        result.stderr
    )
    unknown = cli("ingest", str(tmp_path / "missing.jsonl"), "-c", "nope", "-p", "x")
    assert unknown.exit_code != 0 and "Traceback" not in unknown.output


def test_synth_then_ingest_every_category_and_publish_catalog(cli, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    assert cli("synth", "--enterprises", "30", "--seed", "7", "--out", str(out)).exit_code == 0
    assert cli("catalog", "publish").exit_code == 0
    again = cli("catalog", "publish")
    assert again.exit_code == 0 and "already published" in again.stdout
    for path in sorted(out.glob("*.jsonl")):
        if path.stat().st_size:
            result = cli("ingest", str(path), "-c", path.stem, "-p", "prov")
            assert result.exit_code == 0, result.output
    report = cli("verify", "--json")
    assert report.exit_code == 0 and json.loads(report.stdout)["catalog_versions"] == 1


def test_ingest_takes_each_files_category_from_its_name(cli, tmp_path: Path) -> None:
    # What `ccl synth` writes (one file per category, named after it) goes in with one command.
    out = tmp_path / "synth"
    assert cli("synth", "--enterprises", "30", "--seed", "7", "--out", str(out)).exit_code == 0
    files = sorted(str(path) for path in out.glob("*.jsonl") if path.stat().st_size)
    assert len(files) >= 10
    result = cli("ingest", *files, "-p", "prov", "--json")
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["category"] for r in results] == [Path(f).stem for f in files]
    assert all(r["state"] == "anchored" and r["accepted"] > 0 for r in results)
    assert json.loads(cli("verify", "--json").stdout)["clean"] is True


def test_ingest_refuses_a_file_named_after_no_category_before_storing_any(
    cli, tmp_path: Path
) -> None:
    good, odd = tmp_path / "tax.jsonl", tmp_path / "tax-march.jsonl"
    good.write_bytes(jsonl([tax_row(key="M1")]))
    odd.write_bytes(jsonl([tax_row(key="M2")]))
    result = cli("ingest", str(good), str(odd), "-p", "henan-tax")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert f"the name of {odd} is not a catalog category: 'tax-march'" in line
    assert json.loads(cli("verify", "--json").stdout)["records"] == 0
    named = cli("ingest", str(good), str(odd), "-c", "tax", "-p", "henan-tax")
    assert named.exit_code == 0, named.output


def test_rotate_master_key_and_shred(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(jsonl([tax_row()]))
    assert cli("ingest", str(batch), "-c", "tax", "-p", "henan-tax").exit_code == 0
    monkeypatch.setenv("CCL_NEW_MASTER_KEY", "11" * 32)
    rotated = cli("keys", "rotate-master", "--new-key-id", "k2")
    assert rotated.exit_code == 0 and "re-wrapped 1" in rotated.stdout
    assert ("11" * 32) not in rotated.output
    monkeypatch.setenv("CCL_MASTER_KEY", "11" * 32)
    monkeypatch.setenv("CCL_MASTER_KEY_ID", "k2")
    shredded = cli("shred", USCC_A, "--yes")
    assert shredded.exit_code == 0 and "shredded" in shredded.stdout
    assert cli("verify").exit_code == 0


def test_a_command_closes_its_database_connections(cli, tmp_path: Path) -> None:
    # SQLite removes the write-ahead log when the last connection to the file closes; left
    # open until the process died, the log stayed next to the database.
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(jsonl([tax_row(key=f"K{i}") for i in range(3)]))
    database = tmp_path / "var" / "ledger.sqlite"
    assert cli("ingest", str(batch), "-c", "tax", "-p", "henan-tax").exit_code == 0
    assert database.exists()
    assert not Path(f"{database}-wal").exists()
    assert cli("verify").exit_code == 0
    assert not Path(f"{database}-wal").exists()


def test_a_command_closes_the_embedded_chain_it_opened(cli) -> None:
    # Left to the garbage collector, the chain's lock file was closed with a ResourceWarning
    # (printed on stderr where warnings show, e.g. python -X dev).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert cli("catalog", "publish").exit_code == 0
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_resume_finishes_every_anchored_kind_a_crash_left_behind_once(cli, tmp_path: Path) -> None:
    assert cli("catalog", "publish").exit_code == 0  # the ledger and its database exist
    db = sqlite3.connect(tmp_path / "var" / "ledger.sqlite")
    db.execute(  # a credit commitment stored, its anchor not sent: the API process died
        "INSERT INTO subject_statements (subject_id, account, text, signature, leaf, status,"
        " created_at) VALUES (?, ?, 't', ?, ?, 'pending', '2026-12-07 00:00:00.000000')",
        (b"\x05" * 32, "0x" + "05" * 20, b"\x01" * 65, b"\x06" * 32),
    )
    db.commit()
    resumed = cli("resume")
    assert resumed.exit_code == 0, resumed.output
    assert "subject_statements: 1 anchor(s) finished" in resumed.stdout
    status, sequence, block = db.execute(
        "SELECT status, anchor_sequence, block_number FROM subject_statements"
    ).fetchone()
    assert status == "anchored" and sequence is not None and block is not None
    again = cli("resume")
    assert again.exit_code == 0 and "anchor(s) finished" not in again.stdout
    db.close()
