from __future__ import annotations

import gc
import json
import sqlite3
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger_api.cli import app

from .conftest import USCC_A, jsonl, tax_row


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CCL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CCL_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), **kwargs)  # type: ignore[arg-type]

    return run


def test_ingest_then_verify_clean_then_tampered(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


def test_ingest_with_bad_rows_lists_them_and_exits_1(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(jsonl([tax_row(key="ok"), tax_row(key="bad", tax_grade="Q")]))
    result = cli("ingest", str(batch), "-c", "tax", "-p", "henan-tax")
    assert result.exit_code == 1
    assert "1 stored" in result.stdout and "row 2: tax_grade" in result.stderr


def test_errors_are_one_line_without_traceback(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("ingest", str(tmp_path / "missing.jsonl"), "-c", "tax", "-p", "x")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output, (
        result.stderr
    )
    unknown = cli("ingest", str(tmp_path / "missing.jsonl"), "-c", "nope", "-p", "x")
    assert unknown.exit_code != 0 and "Traceback" not in unknown.output


def test_synth_then_ingest_every_category_and_publish_catalog(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


def test_rotate_master_key_and_shred(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
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


def test_a_command_closes_its_database_connections(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


def test_a_command_closes_the_embedded_chain_it_opened(cli) -> None:  # type: ignore[no-untyped-def]
    # Left to the garbage collector, the chain's lock file was closed with a ResourceWarning
    # (printed on stderr where warnings show, e.g. python -X dev).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert cli("catalog", "publish").exit_code == 0
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
