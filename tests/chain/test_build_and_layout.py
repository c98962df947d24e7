"""The committed artifacts are exactly what the sources compile to; the grant word decodes."""

from __future__ import annotations

import time

import pytest
from world import World

from ledger_api.chain.build import artifact_path, compile_contracts, render
from ledger_api.chain.grant_layout import decode_grant_word
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose


@pytest.mark.slow
def test_committed_artifacts_are_reproduced_byte_for_byte_from_the_sources() -> None:
    compiled = compile_contracts()
    assert set(compiled) == {"ConsentLedger", "Receivables", "ContractWallet"}
    for name, artifact in compiled.items():
        assert artifact_path(name).read_text() == render(artifact), f"{name} artifact is stale"


def test_grant_issued_event_word_decodes_to_the_signed_terms(world: World) -> None:
    now = int(time.time())
    terms = GrantTerms(
        world.bank.address,
        0b1010_0110,
        Purpose.SUPPLY_CHAIN_FINANCE,
        AccessLevel.DETAIL,
        now - 5,
        now + 10**7,
        42,
    )
    receipt = world.ledger.transact(world.subject_tx[1], "issueGrant", terms.as_tuple())
    (event,) = world.ledger.events(receipt, "GrantIssued")
    word = decode_grant_word(event["args"]["terms"])
    assert (word.categories, word.purpose, word.level) == (
        0b1010_0110,
        Purpose.SUPPLY_CHAIN_FINANCE,
        AccessLevel.DETAIL,
    )
    assert (word.not_before, word.not_after, word.max_uses) == (now - 5, now + 10**7, 42)
    assert word.subject_index == 2 and word.institution_index == 1
    assert event["args"]["institution"] == world.bank.address


def test_gas_of_every_hot_path_is_within_its_budget() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from benchmarks import gas

    result = gas.run()
    assert result["within_budget"] == {
        "agreement_accept_signed": True,
        "anchor": True,
        "grant_batch_per_item": True,
        "grant_direct": True,
        "grant_signed": True,
        "revoke": True,
        "receivable_confirm_signed": True,
        "receivable_split": True,
        "receivable_transfer": True,
        "receivable_finance": True,
        "receivable_payable_signed": True,
    }, result
