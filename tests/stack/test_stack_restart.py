"""The embedded stack (chain + database + indexer + API in one process) keeps everything across
a stop and a start: members, grants, anchors, records and the access log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ledger_api.accesslog import ACCESS_LOG
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AccessLevel, InstitutionType, Purpose
from ledger_api.client import LedgerClient
from ledger_api.settings import Settings
from ledger_api.stack import EmbeddedStack
from ledger_api.store.models import Record
from ledger_api.synth.generator import iter_all_records, iter_enterprises

pytestmark = pytest.mark.slow

BANK = Account.from_key((2).to_bytes(32, "big"))
PROVIDER = Account.from_key((3).to_bytes(32, "big"))
ENTERPRISE = Account.from_key((7).to_bytes(32, "big"))


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, access_log_anchor_every_s=3600, indexer_poll_interval_s=0.05)


def _client(app_client: TestClient, account: object) -> LedgerClient:
    return LedgerClient("http://stack", account, transport=app_client)  # type: ignore[arg-type]


def _wait_for(condition, what: str):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # the replica may not have caught up yet
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _stored(stack: EmbeddedStack) -> tuple[int, list[bytes]]:
    """Record count and the access log's hash chain, straight from the database."""
    with stack.engine.connect() as conn:
        records = conn.execute(select(func.count()).select_from(Record)).scalar_one()
        chain = conn.execute(select(ACCESS_LOG.c.entry_hash).order_by(ACCESS_LOG.c.id))
        return int(records), [bytes(row[0]) for row in chain]


def test_stopping_and_starting_the_stack_keeps_grants_anchors_records_and_access_log(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "platform")
    enterprise = next(iter_enterprises(1, seed=7))
    stack = EmbeddedStack(settings)
    stack.start()
    try:
        with TestClient(stack.app()) as http:
            operator = _client(http, Account.from_key(settings.operator_key.get_secret_value()))
            operator.register_institution(BANK.address, int(InstitutionType.BANK), "Bank A")
            operator.grant_role("PROVIDER_ROLE", PROVIDER.address)
            now = int(time.time())
            agreement = operator.propose_agreement(
                BANK.address,
                ["tax", "social_insurance"],
                ["loan_application"],
                now - 60,
                now + 86400,
                b"\x01" * 32,
            )
            stack.context.ledger.transact(Transactor(stack.w3, BANK), "acceptAgreement", agreement)
            rows = [json.dumps(r) for c, r in iter_all_records(3, seed=7) if c == "tax"]
            provider = _client(http, PROVIDER)
            ingested = _wait_for(
                lambda: provider.ingest("tax", ("\n".join(rows) + "\n").encode()), "provider role"
            )
            subject = _client(http, ENTERPRISE)
            registration = subject.sign_registration(subject.request_registration(enterprise.uscc))
            operator.approve_registration(registration.id)
            terms = GrantTerms(
                BANK.address,
                1 << 2,
                Purpose.LOAN_APPLICATION,
                AccessLevel.QUERY,
                now - 60,
                now + 86400,
            )
            _wait_for(subject.me, "the subject binding in the replica")
            signed = stack.context.ledger.sign_grant(ENTERPRISE, terms)
            (grant_id,) = subject.relay_grants([signed])
            bank = _client(http, BANK)
            page = _wait_for(
                lambda: bank.records(
                    enterprise.uscc, category="tax", purpose="loan_application", grant_id=grant_id
                ),
                "the grant in the replica",
            )
            anchored_log = operator.anchor_access_log()
        head = stack.w3.eth.get_block("latest")
        records_before, log_before = _stored(stack)
    finally:
        stack.close()

    assert page.records and ingested.accepted == len(rows) and anchored_log is not None

    restarted = EmbeddedStack(_settings(tmp_path / "platform"))
    restarted.start()
    try:
        assert restarted.w3.eth.get_block(head["number"])["hash"] == head["hash"]
        ledger = restarted.context.ledger
        assert ledger.deployment == stack.context.ledger.deployment
        assert ledger.institution_profile(BANK.address) == ("Bank A", InstitutionType.BANK)
        assert not ledger.grant(grant_id).revoked
        assert ledger.anchor_of(bytes.fromhex(ingested.root[2:])) is not None
        replica = restarted.context.state()
        assert replica.grant(grant_id) is not None
        records_after, log_after = _stored(restarted)
        assert records_after == records_before
        assert log_after == log_before and len(log_before) >= 1
        with TestClient(restarted.app()) as http:
            again = _client(http, BANK).records(
                enterprise.uscc, category="tax", purpose="loan_application", grant_id=grant_id
            )
            assert [r.record_uid for r in again.records] == [r.record_uid for r in page.records]
            assert (
                _client(http, Account.from_key(settings.operator_key.get_secret_value()))
                .verify_access_log()
                .clean
            )
    finally:
        restarted.close()
