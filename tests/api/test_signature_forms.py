"""Signatures handed in to be relayed or stored: v as 0 / 1 (as some signers return it) is
taken as 27 / 28 everywhere; any other v, a high s or a malformed one is 422 bad_signature,
never a 500."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from api_support import Api
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from test_subject_and_log import _free_uscc

from ledger_api.api.routes.subject import commitment_leaf
from ledger_api.chain.ledger import GrantTerms, SignedGrant
from ledger_api.chain.signatures import canonical_signature, compact_signature
from ledger_api.chain.types import AccessLevel, DisputeKind, Purpose
from ledger_api.client import _signed_grant_json
from ledger_api.errors import InputError

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _v01(signature: bytes) -> bytes:
    """The same signature as a signer that returns v as 0 / 1 gives it."""
    assert signature[64] in (27, 28)
    return signature[:64] + bytes([signature[64] - 27])


def _terms(api: Api) -> GrantTerms:
    now = int(api.clock())
    return GrantTerms(
        api.world.bank.address,
        0b100,
        Purpose.LOAN_APPLICATION,
        AccessLevel.QUERY,
        now - 10,
        now + 3600,
    )


def _grants_v01(api: Api, count: int) -> list[SignedGrant]:
    key = api.world.subject_keys[0]
    nonce = api.world.ledger.nonce_of(key.address)
    signed = [api.world.ledger.sign_grant(key, _terms(api), nonce=nonce + i) for i in range(count)]
    return [dataclasses.replace(s, signature=_v01(s.signature)) for s in signed]


@pytest.mark.parametrize("count", [1, 3], ids=["single", "batch"])
def test_grants_signed_with_v_0_or_1_are_relayed(api: Api, count: int) -> None:
    signed = _grants_v01(api, count)
    assert {s.signature[64] for s in signed} <= {0, 1}
    wallet = api.client(api.world.subject_keys[0])
    grant_ids = wallet.relay_grants(signed)
    assert len(grant_ids) == count
    statuses = {g.grant_id: g.status for g in wallet.my_grants()}
    assert all(statuses[g] == "usable" for g in grant_ids)


def test_a_revocation_and_a_nonce_increase_signed_with_v_0_or_1_are_relayed(api: Api) -> None:
    w = api.world
    key = w.subject_keys[0]
    wallet = api.client(key)
    [grant_id] = wallet.relay_grants([w.ledger.sign_grant(key, _terms(api))])
    deadline, signature = w.ledger.sign_revocation(key, grant_id)
    wallet.relay_revocation(grant_id, deadline, _v01(signature))
    assert {g.grant_id: g.status for g in wallet.my_grants()}[grant_id] == "revoked"
    new_nonce = w.ledger.nonce_of(key.address) + 3
    deadline, signature = w.ledger.sign_nonce_increase(key, new_nonce)
    wallet.relay_nonce_increase(new_nonce, deadline, _v01(signature))
    assert w.ledger.nonce_of(key.address) == new_nonce


def test_a_registration_signed_with_v_0_or_1_is_stored_as_27_or_28_and_approved(api: Api) -> None:
    key = Account.create()
    wallet = api.client(key)
    registration = wallet.request_registration(_free_uscc())
    assert registration.typed_data is not None
    signable = encode_typed_data(full_message=registration.typed_data)
    signature = bytes(Account.sign_message(signable, key.key).signature)
    response = wallet.send(
        "POST",
        f"/v1/subject/registrations/{registration.id}/signature",
        json_body={"signature": "0x" + _v01(signature).hex()},
    )
    assert response.status_code == 200, response.text
    approved = api.client(api.world.operator.account).approve_registration(registration.id)
    assert approved.status == "bound"  # the contract took the stored signature


def test_a_commitment_signed_with_v_0_or_1_is_stored_as_27_or_28(api: Api) -> None:
    key = api.world.subject_keys[0]
    wallet = api.client(key)
    text = "本企业承诺按期足额偿还融资款项。"
    signature = bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)
    response = wallet.send(
        "POST",
        "/v1/subject/commitments",
        json_body={"text": text, "signature": "0x" + _v01(signature).hex()},
    )
    assert response.status_code == 201, response.text
    subject_id = wallet.me().subject_id
    # One commitment, one leaf: the one of the 27 / 28 form the signer's other tools give.
    expected = commitment_leaf(bytes.fromhex(subject_id[2:]), text, signature)
    assert response.json()["leaf"] == "0x" + expected.hex()


def _high_s(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


_BAD_FORMS: dict[str, Callable[[bytes], str]] = {
    "v=2": lambda sig: "0x" + (sig[:64] + b"\x02").hex(),
    "v=29": lambda sig: "0x" + (sig[:64] + b"\x1d").hex(),
    "v=255": lambda sig: "0x" + (sig[:64] + b"\xff").hex(),
    "high-s": lambda sig: "0x" + _high_s(sig).hex(),
    "odd-length": lambda sig: "0x" + sig.hex() + "0",
}


def _bodies(api: Api, signature: str) -> dict[str, tuple[str, dict[str, Any]]]:
    w = api.world
    key = w.subject_keys[0]
    good = w.ledger.sign_grant(key, _terms(api))
    grant = _signed_grant_json(good) | {"signature": signature}
    record_uid = api.client(key).my_records("tax").records[0].record_uid
    return {
        "grant": ("/v1/subject/grants", {"grants": [grant]}),
        "batch": ("/v1/subject/grants", {"grants": [_signed_grant_json(good), grant]}),
        "revocation": (
            "/v1/subject/revocations",
            {"grant_id": 1, "deadline": good.deadline, "signature": signature},
        ),
        "nonce": (
            "/v1/subject/nonce-increases",
            {"new_nonce": 9, "deadline": good.deadline, "signature": signature},
        ),
        "commitment": ("/v1/subject/commitments", {"text": "承诺", "signature": signature}),
        "dispute": (
            "/v1/subject/disputes",
            {
                "record_uid": record_uid,
                "kind": int(DisputeKind.OBJECTION),
                "reason_hash": "0x" + "07" * 32,
                "deadline": good.deadline,
                "signature": signature,
            },
        ),
    }


@pytest.mark.parametrize("form", sorted(_BAD_FORMS))
def test_any_other_signature_form_is_refused_422_bad_signature_everywhere(
    api: Api, form: str
) -> None:
    key = api.world.subject_keys[0]
    valid = api.world.ledger.sign_grant(key, _terms(api)).signature
    wallet = api.client(key)
    for name, (path, body) in _bodies(api, _BAD_FORMS[form](valid)).items():
        response = wallet.send("POST", path, json_body=body)
        assert response.status_code == 422, (name, response.status_code, response.text)
        # An odd number of hex digits is not bytes at all: the schema refuses it first.
        expected = "validation_error" if form == "odd-length" else "bad_signature"
        assert response.json()["code"] == expected, name
    newcomer = api.client(Account.create())
    registration = newcomer.request_registration(_free_uscc())
    response = newcomer.send(
        "POST",
        f"/v1/subject/registrations/{registration.id}/signature",
        json_body={"signature": _BAD_FORMS[form](valid)},
    )
    assert response.status_code == 422 and response.json()["code"] == expected


def test_the_batch_form_of_a_v_0_or_1_signature_is_that_of_its_27_or_28_twin() -> None:
    key = Account.create()
    signature = bytes(Account.sign_message(encode_defunct(text="x"), key.key).signature)
    assert compact_signature(_v01(signature)) == compact_signature(signature)
    assert canonical_signature(_v01(signature)) == signature
    with pytest.raises(InputError) as caught:
        compact_signature(signature + b"\x00")
    assert caught.value.code == "bad_signature"
