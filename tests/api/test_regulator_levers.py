"""A regulator suspends and reinstates an institution and suspends or terminates an agreement
over the API, signing each act with its own key; the institution's reads are refused from the
next block on, and every act is in the audit views with who made it."""

from __future__ import annotations

import pytest
from api_support import Api
from eth_account import Account
from test_gate import read

from indexer.follower import Indexer
from ledger_api.chain.types import AgreementStatus
from ledger_api.errors import LedgerError


def _index(api: Api) -> None:
    Indexer.for_engine(
        api.world.w3, api.world.ledger.deployment, api.engine, api.settings
    ).run_once()


def _refused(call: object, status: int, code: str) -> None:
    with pytest.raises(LedgerError) as caught:
        call()  # type: ignore[operator]
    assert (caught.value.status, caught.value.code) == (status, code), caught.value


def test_a_suspended_institution_is_refused_from_the_next_block_and_the_act_is_audited(
    api: Api,
) -> None:
    grant = api.grant()
    read(api, grant)
    regulator = api.client(api.world.regulator.account)
    done = regulator.regulator_act("suspend_institution", api.world.bank.address)
    assert (done.target_name, done.regulator) == ("中原银行郑州分行", api.world.regulator.address)
    assert api.world.ledger.institution(api.world.bank.address).suspended
    _refused(lambda: read(api, grant), 403, "institution_suspended")
    regulator.regulator_act("reinstate_institution", api.world.bank.address)
    assert read(api, grant).records
    _index(api)
    acts = regulator.audit("regulator_acts").result
    assert isinstance(acts, list)
    assert [(a["act"], a["institution"], a["institution_name"], a["regulator"]) for a in acts] == [
        ("suspend_institution", api.world.bank.address, "中原银行郑州分行", done.regulator),
        ("reinstate_institution", api.world.bank.address, "中原银行郑州分行", done.regulator),
    ]
    assert acts[0]["block"] == done.block_number and acts[0]["regulator_roles"] == ["regulator"]


def test_a_regulator_suspends_reinstates_and_terminates_an_agreement(api: Api) -> None:
    grant = api.grant()
    regulator = api.client(api.world.regulator.account)
    agreement = api.world.agreement_id
    regulator.regulator_act("suspend_agreement", agreement)
    assert api.world.ledger.agreement(agreement).status == AgreementStatus.SUSPENDED
    _refused(lambda: read(api, grant), 403, "agreement_not_active")
    regulator.regulator_act("reinstate_agreement", agreement)
    assert read(api, grant).records
    regulator.regulator_act("terminate_agreement", agreement)
    assert api.world.ledger.agreement(agreement).status == AgreementStatus.TERMINATED
    _refused(lambda: read(api, grant), 403, "agreement_not_active")
    _refused(lambda: regulator.regulator_act("reinstate_agreement", agreement), 409,
             "agreement_terminated")  # fmt: skip
    _index(api)
    acts = regulator.audit("regulator_acts", institution="中原银行郑州分行").result
    assert isinstance(acts, list)
    assert [(a["act"], a["agreement_id"]) for a in acts] == [
        ("suspend_agreement", agreement),
        ("reinstate_agreement", agreement),
        ("terminate_agreement", agreement),
    ]


def test_only_a_regulator_may_act_and_only_with_its_own_signed_transaction(api: Api) -> None:
    regulator = api.client(api.world.regulator.account)
    prepared = regulator.prepare_regulator_act("suspend_institution", api.world.bank.address)
    operator = api.client(api.world.operator.account)
    _refused(lambda: operator.prepare_regulator_act("suspend_institution", api.world.bank.address),
             403, "role_required")  # fmt: skip
    block = api.world.w3.eth.block_number
    # The regulator's prepared call submitted for a different act: refused, nothing sent.
    _refused(
        lambda: regulator.regulator_act("suspend_institution", api.world.bank_b.address, prepared),
        422,
        "transaction_mismatch",
    )
    assert api.world.w3.eth.block_number == block
    assert not api.world.ledger.institution(api.world.bank_b.address).suspended
    _refused(lambda: regulator.regulator_act("suspend_agreement", 999), 404, "unknown_agreement")
    _refused(lambda: regulator.prepare_regulator_act("close_platform", 1), 404, "unknown_act")


def test_a_transaction_signed_by_another_key_is_refused_and_not_broadcast(api: Api) -> None:
    regulator = api.client(api.world.regulator.account)
    prepared = regulator.prepare_regulator_act("suspend_institution", api.world.bank.address)
    signed = Account.sign_transaction(prepared.transaction, api.world.bank_b.account.key)
    body = {"signed_transaction": "0x" + bytes(signed.raw_transaction).hex()}
    block = api.world.w3.eth.block_number
    path = f"/v1/regulator/institutions/{api.world.bank.address}/suspension"
    _refused(lambda: regulator.call("POST", path, json_body=body), 403,
             "transaction_signer_mismatch")  # fmt: skip
    assert api.world.w3.eth.block_number == block
    assert api.last_entry()["reason"] == "transaction_signer_mismatch"
