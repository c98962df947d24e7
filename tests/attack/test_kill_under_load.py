"""kill -9 of the API under load, then a restart on the same data dir (a file-based SQLite
database and the persistent embedded chain, as ``ccl stack`` runs): every receipt a client got
before the kill has its access-log entry, no request seen before the kill can be replayed, the
access log's hash chain verifies and ``ccl verify`` finds the data clean."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from attack_client import Signed
from attack_server import Cast, LiveServer, Response, live_server, server_env

pytestmark = [pytest.mark.xdist_group("attack-fault"), pytest.mark.slow]

READERS = 4


@dataclass
class Load:
    """Signed reads sent by several threads until told to stop; what came back."""

    served: list[tuple[Signed, dict]] = field(default_factory=list)  # (request, receipt)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)


def _reader(server: LiveServer, cast: Cast, load: Load) -> None:
    path = f"/v1/institution/subjects/{cast.subject_ids[0]}/records"
    query = [("purpose", "loan_application"), ("grant_id", str(cast.grant_a)), ("category", "tax")]
    while not load.stop.is_set():
        signed = cast.bank.sign("GET", path, query)
        try:
            response = server.send(signed)
        except OSError:  # the server was killed mid-request
            return
        if response.status != 200:
            with load.lock:
                load.failures.append(f"{response.status} {response.body[:200]!r}")
            return
        body = response.json()
        with load.lock:
            load.served.append((signed, body))


@pytest.fixture(scope="module")
def killed_and_restarted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, Cast, Load]]:
    """One kill and restart for the module's checks (the last one stops the server)."""
    with live_server(tmp_path_factory.mktemp("fault")) as (server, cast):
        load = Load()
        threads = [
            threading.Thread(target=_reader, args=(server, cast, load), daemon=True)
            for _ in range(READERS)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60  # a bound on the load phase, not a timing assertion
        while len(load.served) < 150 and time.monotonic() < deadline and not load.failures:
            time.sleep(0.02)
        server.kill()  # SIGKILL, with requests in flight
        load.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not load.failures, load.failures[:3]
        assert len(load.served) >= 150
        server.start()
        yield server, cast, load


def _entries(server: LiveServer) -> dict[int, sqlite3.Row]:
    uri = f"file:{server.data_dir / 'ledger.sqlite'}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT id, actor, decision, response_hash FROM access_log").fetchall()
        return {int(r["id"]): r for r in rows}
    finally:
        conn.close()


def _response_hash(body: dict) -> bytes:
    payload = {k: v for k, v in body.items() if k not in ("receipt", "signed_receipt")}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def test_a_kill_under_load_loses_no_receipted_entry_and_allows_no_replay(
    killed_and_restarted: tuple[LiveServer, Cast, Load],
) -> None:
    server, cast, load = killed_and_restarted
    entries = _entries(server)
    for _signed, body in load.served:
        receipt = body["receipt"]
        entry = entries.get(int(receipt["access_log_id"]))
        assert entry is not None, f"receipt {receipt} has no access-log entry after the restart"
        assert entry["actor"] == cast.bank.address and entry["decision"] == "allowed"
        assert "0x" + bytes(entry["response_hash"]).hex() == receipt["response_hash"]
        assert bytes(entry["response_hash"]) == _response_hash(body)
    # Every request that was served before the kill is a replay now.
    for signed, _body in load.served:
        again: Response = server.send(signed)
        assert again.status == 401 and again.code == "nonce_replayed", again.body[:200]


def test_after_a_kill_under_load_the_hash_chain_and_the_data_verify(
    killed_and_restarted: tuple[LiveServer, Cast, Load],
) -> None:
    server, cast, _load = killed_and_restarted
    response = server.send(cast.operator.sign("GET", "/v1/operator/access-log/verify"))
    assert response.status == 200, response.body[:300]
    report = response.json()
    assert report["clean"], report["findings"][:5]
    assert report["entries_checked"] >= 150
    server.stop()  # the embedded chain belongs to one process: `ccl verify` opens it next
    ccl = Path(sys.executable).parent / "ccl"
    result = subprocess.run(
        [str(ccl), "verify", "--json"],
        env={**os.environ, **server_env(server.data_dir), "CCL_VERIFY_WORKERS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-500:] + result.stderr[-500:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["clean"]
