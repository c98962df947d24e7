"""The real server for the attack suite: a populated embedded chain + SQLite under a data dir,
served by uvicorn in a subprocess on a free port, exactly as ``ccl stack`` serves it.

``seed_platform`` populates the data dir before the server starts (the embedded chain belongs to
one process at a time): the usual cast of ``tests/world.py``, both banks with agreements, two
subjects with records (subject B's values are distinctive so a leak of them is easy to spot),
and one grant from each subject to a different bank.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from attack_client import Signed, Signer
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr
from world import ALL_CATEGORIES, ALL_PURPOSES, PSEUDONYM_KEY, USCCS, build_world

from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.embedded import open_embedded
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate

TAX_BIT = 1 << 2
SERVER_CODE = (
    "import sys, uvicorn\n"
    "from ledger_api.settings import Settings\n"
    "from ledger_api.stack import EmbeddedStack\n"
    "stack = EmbeddedStack(Settings())\n"
    "stack.start()\n"
    "try:\n"
    "    uvicorn.run(stack.app(), host='127.0.0.1', port=int(sys.argv[1]),\n"
    "                log_level='warning', access_log=False)\n"
    "finally:\n"
    "    stack.close()\n"
)


def _month(offset: int) -> str:
    today = date.today()
    total = today.year * 12 + today.month - 1 - offset
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def subject_rows(uscc: str, marker: str) -> dict[str, list[dict[str, Any]]]:
    """Records whose values carry ``marker`` digits, so a leaked value can be searched for."""
    return {
        "registration": [
            {
                "uscc": uscc,
                "record_key": f"reg-{marker}",
                "enterprise_name": f"郑州{marker}科技有限公司",
                "enterprise_type": "limited_company",
                "industry_section": "C",
                "division_code": "410100",
                "registered_capital": f"{marker}000.00",
                "established_on": "2015-03-01",
                "business_status": "active",
                "legal_representative": "张三丰",
                "legal_rep_id_number": f"41010119900101{marker}",
                "contact_phone": f"1380013{marker}",
            }
        ],
        "tax": [
            {
                "uscc": uscc,
                "record_key": f"tax-{marker}-{i}",
                "period": _month(i),
                "tax_type": "vat",
                "taxable_sales": f"{marker}1.23",
                "tax_paid": f"{marker}2.34",
                "arrears_amount": "0.00",
                "paid_on_time": True,
                "tax_grade": "A",
            }
            for i in range(1, 3)
        ],
    }


@dataclass
class Cast:
    operator: Signer
    regulator: Signer
    provider: Signer
    bank: Signer  # institution A: subject A's grant
    bank_b: Signer  # institution B: subject B's grant
    insurer: Signer  # registered, no agreement
    subject_a: Signer
    subject_b: Signer
    stranger: Signer  # a key the platform does not know
    subject_ids: list[str]  # 0x hex of A, B
    grant_a: int  # subject A -> bank, tax, QUERY, loan_application
    grant_b: int  # subject B -> bank_b, tax, QUERY, loan_application
    secrets_of_b: list[str] = field(default_factory=list)  # values and keys of B's records

    def roles(self) -> dict[str, Signer]:
        return {
            "operator": self.operator,
            "regulator": self.regulator,
            "provider": self.provider,
            "institution": self.bank,
            "subject": self.subject_a,
            "unknown": self.stranger,
        }


def server_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, pseudonym_key=SecretStr(PSEUDONYM_KEY.hex()))


def server_env(data_dir: Path) -> dict[str, str]:
    return {
        "CCL_MODE": "embedded",
        "CCL_DATA_DIR": str(data_dir),
        "CCL_PSEUDONYM_KEY": PSEUDONYM_KEY.hex(),  # the tests' public development key
        "CCL_STATE_CACHE_TTL_S": "0",
        "CCL_KEYRING_CACHE_TTL_S": "0",
        "CCL_RATE_LIMIT_PER_MINUTE": "100000000",
        "CCL_RATE_LIMIT_BURST": "1000000",
        "CCL_ACCESS_LOG_ANCHOR_EVERY_S": "3600",
        "CCL_ACCESS_LOG_ANCHOR_EVERY_ENTRIES": "1000000",
        "CCL_INDEXER_POLL_INTERVAL_S": "0.05",
    }


def seed_platform(data_dir: Path) -> Cast:
    settings = server_settings(data_dir)
    chain = open_embedded(data_dir / "chain")
    try:
        world = build_world(chain.w3)
        world.ledger.deployment.save(settings.resolved_deployment_file)
        ledger, operator = world.ledger, world.operator
        now = int(time.time())
        agreement = ledger.propose_agreement(
            operator,
            world.bank_b.address,
            ALL_CATEGORIES,
            ALL_PURPOSES,
            now - 60,
            now + 365 * 86400,
            b"\x02" * 32,
        )
        ledger.transact(world.bank_b, "acceptAgreement", agreement)
        migrate(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        ingestor = Ingestor(engine, ChainAnchorer(ledger, world.provider), settings)
        for uscc, marker in ((USCCS[0], "1111"), (USCCS[1], "7777")):
            for category, rows in subject_rows(uscc, marker).items():
                data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
                result = ingestor.ingest("henan-tax", category, data, fmt="jsonl")
                assert not result.rejected, result.rejected
        engine.dispose()

        def grant(subject: int, institution: str) -> int:
            terms = GrantTerms(
                institution,
                TAX_BIT,
                Purpose.LOAN_APPLICATION,
                AccessLevel.QUERY,
                now - 60,
                now + 86400,
            )
            (grant_id,) = ledger.relay_grants(
                operator, [ledger.sign_grant(world.subject_keys[subject], terms)]
            )
            return grant_id

        grant_a = grant(0, world.bank.address)
        grant_b = grant(1, world.bank_b.address)
        b_rows = subject_rows(USCCS[1], "7777")
        secrets_of_b = sorted(
            {str(v) for rows in b_rows.values() for r in rows for k, v in r.items() if k != "uscc"}
            - {str(v) for r in subject_rows(USCCS[0], "1111")["tax"] for v in r.values()}
            - {"True", "0.00", "vat", "A", "C", "410100", "active", "limited_company"}
            - {"2015-03-01", "张三丰"}
        )

        def signer(account: LocalAccount) -> Signer:
            return Signer(account)

        from eth_account import Account

        return Cast(
            operator=signer(world.operator.account),
            regulator=signer(world.regulator.account),
            provider=signer(world.provider.account),
            bank=signer(world.bank.account),
            bank_b=signer(world.bank_b.account),
            insurer=signer(world.insurer.account),
            subject_a=signer(world.subject_keys[0]),
            subject_b=signer(world.subject_keys[1]),
            stranger=signer(Account.create()),
            subject_ids=["0x" + sid.hex() for sid in world.subject_ids[:2]],
            grant_a=grant_a,
            grant_b=grant_b,
            secrets_of_b=secrets_of_b,
        )
    finally:
        chain.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            value = self.json()
        except ValueError:
            return None
        return value.get("code") if isinstance(value, dict) else None


class LiveServer:
    """The API served by uvicorn in a subprocess; requests over real sockets."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base, timeout=60)

    def start(self) -> None:
        env = {**os.environ, **server_env(self.data_dir)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER_CODE, str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(self.data_dir / "server.stderr").open("ab"),
        )
        deadline = time.monotonic() + 120  # a bound on start-up, not a timing assertion
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the API server did not start")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.http.close()

    # -- requests -----------------------------------------------------------------------------

    def send(self, signed: Signed, **overrides: Any) -> Response:
        """Send ``signed``; ``headers=`` / ``target=`` / ``body=`` / ``method=`` replace parts
        of it after signing (tampering)."""
        headers = overrides.get("headers", signed.headers)
        raw = self.raw_request(
            overrides.get("method", signed.method),
            overrides.get("target", signed.target).encode("latin-1"),
            {k: v.encode("latin-1") for k, v in headers.items()},
            overrides.get("body", signed.body),
        )
        return raw

    def raw_request(
        self, method: str, target: bytes, headers: dict[str, bytes], body: bytes = b""
    ) -> Response:
        lines = [f"{method} ".encode() + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
        lines += [k.encode() + b": " + v for k, v in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d" % len(body))
        return self.raw(b"\r\n".join(lines) + b"\r\n\r\n" + body)

    def raw(self, data: bytes | Iterator[bytes], timeout: float = 60) -> Response:
        """Write ``data`` (or each chunk of it) on a new connection; read one response."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            try:
                if isinstance(data, bytes):
                    sock.sendall(data)
                else:
                    for chunk in data:
                        sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading everything
            received = b""
            while b"\r\n\r\n" not in received:
                part = sock.recv(65536)
                if not part:
                    raise ConnectionError(f"connection closed; got {received[:200]!r}")
                received += part
            head, _, rest = received.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                length = int(headers["content-length"])
                while len(rest) < length:
                    part = sock.recv(65536)
                    if not part:
                        break
                    rest += part
                body = rest[:length]
            elif headers.get("transfer-encoding") == "chunked":
                body = _dechunk(sock, rest)
            else:
                body = rest
            return Response(status, headers, body)

    # -- the audit trail, read from the server's database ------------------------------------

    def log_rows(self, actor: str) -> list[dict[str, Any]]:
        """Access-log entries whose actor is ``actor`` (read-only; the server keeps writing)."""
        uri = f"file:{self.data_dir / 'ledger.sqlite'}?mode=ro"
        with contextlib_closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT id, actor, actor_role, action, decision, reason, subject_id, grant_id "
                "FROM access_log WHERE actor = ? ORDER BY id",
                (actor,),
            ).fetchall()
            return [dict(r) for r in rows]


@contextmanager
def contextlib_closing(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        yield conn
    finally:
        conn.close()


def _dechunk(sock: socket.socket, data: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in data:
            data += sock.recv(65536)
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        while len(data) < size + 2:
            data += sock.recv(65536)
        out += data[:size]
        data = data[size + 2 :]


@contextmanager
def live_server(data_dir: Path) -> Iterator[tuple[LiveServer, Cast]]:
    cast = seed_platform(data_dir)
    server = LiveServer(data_dir)
    try:
        server.start()
        yield server, cast
    finally:
        server.stop()
