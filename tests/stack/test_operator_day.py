"""The operator's day beside a running `ccl stack`: the commands that open the chain go
through the stack's API, and `ccl admin` lists what the operator must act on, with dates."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from nodes import free_port
from operator_setup import init_platform
from typer.testing import CliRunner

from indexer.cli import app as indexer_app
from ledger_api.chain.embedded import open_embedded
from ledger_api.chain.types import DisputeKind
from ledger_api.cli import app
from ledger_api.client import LedgerClient
from ledger_api.errors import InputError
from ledger_api.operator.providers import DIRECTORY_FILE
from ledger_api.operator.stack_link import announced
from ledger_api.settings import Settings
from ledger_api.stack import EmbeddedStack

pytestmark = pytest.mark.slow

USCC_A = "91350100M000100Y43"
USCC_B = "91110000600037341L"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
T = TypeVar("T")


@dataclass
class Day:
    stack: EmbeddedStack
    api_url: str
    data_dir: Path
    provider: str

    def ccl(self, *args: str, api: bool = False) -> Any:
        # The API is found through the stack's announcement, not CCL_API_URL (admin needs it).
        env = {"CCL_DATA_DIR": str(self.data_dir), "CCL_API_URL": self.api_url if api else None}
        return CliRunner().invoke(app, list(args), env=env)

    def client(self, account: LocalAccount) -> LedgerClient:
        return LedgerClient(self.api_url, account)


def wait_for(condition: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    data_dir = tmp_path_factory.mktemp("operator-day") / "var"
    init_platform(data_dir)
    settings = Settings(data_dir=data_dir, indexer_poll_interval_s=0.05)
    stack = EmbeddedStack(settings)
    stack.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(stack.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    api_url = f"http://127.0.0.1:{port}"
    provider = Account.create().address
    try:
        with announced(settings, api_url):
            today = Day(stack, api_url, data_dir, provider)
            granted = today.ccl("admin", "grant-role", "provider", provider, api=True)
            assert granted.exit_code == 0, granted.output
            (data_dir / DIRECTORY_FILE).write_text(json.dumps({"henan-tax": provider}))
            yield today
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        stack.close()


def tax_rows(uscc: str, *keys: str) -> bytes:
    rows = [
        {"uscc": uscc, "record_key": key, "period": "2025-03", "tax_type": "vat",
         "tax_paid": "1200.50", "arrears_amount": "0", "paid_on_time": True, "tax_grade": "B"}
        for key in keys
    ]  # fmt: skip
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def test_while_the_stack_runs_ingest_verify_resume_and_publish_go_through_its_api(
    day: Day, tmp_path: Path
) -> None:
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(tax_rows(USCC_A, "S1", "S2"))
    ingested = day.ccl("ingest", str(batch), "-p", "henan-tax", "--json")
    assert ingested.exit_code == 0, ingested.output
    result = json.loads(ingested.stdout)
    assert result["accepted"] == 2 and result["state"] == "anchored"
    assert result["provider"] == day.provider
    assert f"sending through its API at {day.api_url}" in ingested.stderr
    again = day.ccl("ingest", str(batch), "-p", day.provider.lower(), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["accepted"] == 0
    stranger = Account.create().address
    refused = day.ccl("ingest", str(batch), "-p", stranger)
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines()[-1].endswith("[not_a_provider]")

    verified = day.ccl("verify", "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["clean"] is True and report["records"] >= 2

    resumed = day.ccl("resume", "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["processed"] == 0

    published = day.ccl("catalog", "publish", "--json")
    assert published.exit_code == 0, published.output
    assert json.loads(published.stdout)["version"] == 1
    republished = day.ccl("catalog", "publish", "--json")
    assert json.loads(republished.stdout)["already_published"] is True


def test_while_the_stack_runs_the_indexer_status_comes_from_its_api(day: Day) -> None:
    result = CliRunner().invoke(
        indexer_app, ["status", "--json"], env={"CCL_DATA_DIR": str(day.data_dir)}
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["contract"] == day.stack.context.ledger.address
    assert status["indexed_block"] is not None


def test_a_chain_held_by_a_process_announcing_no_api_is_one_line_saying_what_to_do(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    init_platform(data_dir)
    with open_embedded(data_dir / "chain"):
        result = CliRunner().invoke(
            app, ["verify"], env={"CCL_DATA_DIR": str(data_dir), "CCL_API_URL": None}
        )
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("[chain_locked]") and "set CCL_API_URL" in line


def _request_registration(day: Day, uscc: str) -> tuple[LocalAccount, int]:
    enterprise = Account.create()
    client = day.client(enterprise)
    try:
        registration = client.request_registration(uscc)
        client.sign_registration(registration)
    finally:
        client.close()
    return enterprise, registration.id


def test_operator_lists_signed_registrations_by_the_documented_name_with_dates(
    day: Day,
) -> None:
    enterprise, registration_id = _request_registration(day, USCC_A)
    listed = day.ccl("admin", "registrations", "--status", "signed", "--json", api=True)
    assert listed.exit_code == 0, listed.output
    [row] = [r for r in json.loads(listed.stdout) if r["id"] == registration_id]
    assert row["status"] == "pending_approval" and row["account"] == enterprise.address
    assert row["uscc"].startswith("91") and "*" in row["uscc"]
    assert ISO_UTC.match(row["requested"]) and ISO_UTC.match(row["approve_before"])
    # The real-name check: the USCC on the licence gives the registration's subject id.
    derived = day.ccl("subject-id", USCC_A)
    assert derived.exit_code == 0 and derived.stdout.strip() == row["subject_id"]
    table = day.ccl("admin", "registrations", "--status", "signed", api=True)
    assert table.stdout.splitlines()[0].split()[:3] == ["id", "status", "account"]
    assert enterprise.address in table.stdout
    unknown = day.ccl("admin", "registrations", "--status", "done", api=True)
    assert unknown.exit_code == 2 and "known: unsigned, signed, bound" in unknown.stderr


def test_operator_lists_open_disputes_with_the_records_category_and_key(
    day: Day, tmp_path: Path
) -> None:
    batch = tmp_path / "tax.jsonl"
    batch.write_bytes(tax_rows(USCC_B, "D1"))
    assert day.ccl("ingest", str(batch), "-p", "henan-tax").exit_code == 0
    enterprise, registration_id = _request_registration(day, USCC_B)
    approved = day.ccl("admin", "approve", str(registration_id), api=True)
    assert approved.exit_code == 0, approved.output
    client = day.client(enterprise)
    try:
        me = wait_for(lambda: _or_none(client.me), "the binding to be indexed")
        assert me.account == enterprise.address
        [record] = client.my_records("tax").records
        proof = client.record_proof(record.record_uid)
        reason = "the arrears were paid in March"
        reason_hash = keccak(text=reason)
        root, leaf = bytes.fromhex(proof.root[2:]), bytes.fromhex(proof.leaf[2:])
        deadline, signature = day.stack.context.ledger.sign_dispute(
            enterprise, DisputeKind.OBJECTION, root, leaf, reason_hash
        )
        args = (record.record_uid, int(DisputeKind.OBJECTION), reason_hash, deadline, signature)
        with pytest.raises(InputError) as mismatch:  # a text other than the one signed
            client.open_dispute(*args, reason="the arrears were paid in April")
        assert mismatch.value.code == "reason_mismatch"
        dispute = client.open_dispute(*args, reason=reason)
    finally:
        client.close()

    def listed() -> list[dict[str, Any]] | None:
        result = day.ccl("admin", "disputes", "--json", api=True)
        assert result.exit_code == 0, result.output
        rows = [r for r in json.loads(result.stdout) if r["dispute_id"] == dispute.dispute_id]
        return rows or None

    [row] = wait_for(listed, "the dispute to be indexed")
    assert row["kind"] == "objection" and row["status"] == "open"
    assert row["category"] == "tax" and row["record_key"] == "D1"
    assert row["record_uid"] == record.record_uid and row["provider"] == day.provider
    assert row["reason_hash"] == "0x" + reason_hash.hex() and ISO_UTC.match(row["opened"])
    assert row["reason"] == reason
    table = day.ccl("admin", "disputes", api=True)
    assert "objection" in table.stdout and " D1 " in f" {table.stdout} "
    assert reason in table.stdout


def _or_none(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception:
        return None


def test_operator_lists_institutions_and_catalog_versions_with_dates(day: Day) -> None:
    bank = Account.create().address
    registered = day.ccl(
        "admin", "register-institution", bank, "--type", "bank", "--name", "Bank Zhengzhou",
        api=True,
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output

    def listed() -> list[dict[str, Any]] | None:
        result = day.ccl("admin", "institutions", "--json", api=True)
        return [r for r in json.loads(result.stdout) if r["address"] == bank] or None

    [row] = wait_for(listed, "the institution to be indexed")
    assert row["name"] == "Bank Zhengzhou" and row["type"] == "bank"
    assert row["suspended"] is False and ISO_UTC.match(row["registered"])
    assert "Bank Zhengzhou" in day.ccl("admin", "institutions", api=True).stdout

    assert day.ccl("catalog", "publish").exit_code == 0
    versions = day.ccl("admin", "catalog-versions", "--json", api=True)
    assert versions.exit_code == 0, versions.output
    [v1] = json.loads(versions.stdout)
    assert v1["version"] == 1 and ISO_UTC.match(v1["published"]) and v1["tx_hash"]


def test_beside_a_running_stack_indexer_runs_and_key_rotation_are_refused_saying_what_to_do(
    day: Day,
) -> None:
    caught_up = CliRunner().invoke(
        indexer_app, ["catch-up"], env={"CCL_DATA_DIR": str(day.data_dir)}
    )
    assert caught_up.exit_code == 1
    [line] = caught_up.stderr.strip().splitlines()
    assert "`ccl-indexer status` shows it" in line and line.endswith("[chain_locked]")
    rotated = day.ccl("keys", "rotate-master", "--new-key-id", "k2", "--new-key-env", "UNSET")
    assert rotated.exit_code == 2
    [line] = rotated.stderr.strip().splitlines()
    assert "stop it, rotate, then start it" in line and line.endswith("[stack_running]")
