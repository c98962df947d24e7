"""Consent receipts on anvil through a real uvicorn server: the enterprise and the bank export
the same grant, before and after it is withdrawn, and both receipts validate and verify."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jsonschema
import pytest
from platformkit import LivePlatform, live_platform
from world import USCCS

from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.errors import ForbiddenError
from ledger_api.receipts.consent import load_schema, receipt_signer

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]
TAX = default_catalog().category("tax")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    with live_platform(tmp_path_factory.mktemp("receipts-live")) as platform:
        platform.ingest_for(USCCS[0])
        yield platform


def _valid(receipt: dict, live: LivePlatform) -> dict:
    jsonschema.validate(receipt, load_schema(), cls=jsonschema.Draft202012Validator)
    assert receipt_signer(receipt) == receipt["signer"] == live.operator.address
    record: dict = receipt["record"]
    return record


def test_both_parties_export_a_grant_given_used_and_withdrawn_on_anvil(live: LivePlatform) -> None:
    world = live.world
    now = int(time.time())
    terms = GrantTerms(
        world.bank.address, TAX.mask, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 60,
        now + 3600, 5,
    )  # fmt: skip
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms)
    subject = live.client(world.subject_keys[0])
    bank = live.client(world.bank.account)
    bank.records(USCCS[0], category="tax", purpose="loan_application", grant_id=grant_id)

    given = _valid(bank.consent_receipt(grant_id, as_role="institution"), live)
    assert given["consent_status"] == "active"
    assert given["processing"] == {"access_level": "query", "max_uses": 5, "uses": 1}
    assert given["recipients"][0]["name"] == "中原银行郑州分行"
    assert [c["name"] for c in given["pii_categories"]] == ["tax"]
    assert [e["type"] for e in given["events"]] == ["given"]

    world.ledger.revoke_grant(world.subject_tx[0], grant_id)
    withdrawn = _valid(subject.consent_receipt(grant_id), live)
    assert withdrawn["record_id"] == given["record_id"]
    assert withdrawn["consent_status"] == "withdrawn"
    assert [e["type"] for e in withdrawn["events"]] == ["given", "withdrawn"]
    assert withdrawn["events"][1]["block"] > withdrawn["events"][0]["block"]

    with pytest.raises(ForbiddenError) as caught:
        live.client(world.bank_b.account).consent_receipt(grant_id, as_role="institution")
    assert caught.value.code == "not_your_grant"
