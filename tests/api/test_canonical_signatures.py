"""Only low-s (EIP-2) signatures are accepted: request signatures and the signatures the API
recovers itself (registrations, commitments); the contract refuses high-s relayed ones
(``tests/chain/test_ledger_contract.py::test_high_s_malleable_signature_is_refused``)."""

from __future__ import annotations

import secrets

import pytest
from api_support import Api
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from test_subject_and_log import _free_uscc

from ledger_api.api.signing import HEADER_SIGNATURE, sign_request
from ledger_api.chain import eip712
from ledger_api.crypto.ecdsa import SECP256K1_HALF_N, SECP256K1_N


def high_s_twin(signature: bytes) -> bytes:
    """The other signature of the same message and key: s -> n - s, v flipped."""
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    flipped = v ^ 1 if v in (0, 1) else 55 - v  # 27 <-> 28
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((flipped,))


def _s(signature: bytes) -> int:
    return int.from_bytes(signature[32:64], "big")


def test_a_high_s_request_signature_is_refused_as_bad_signature(api: Api) -> None:
    client = api.client(api.world.subject_keys[0])
    headers = client.signed_headers("GET", "/v1/subject/me", nonce="high-s-nonce-1")
    low = bytes.fromhex(headers[HEADER_SIGNATURE][2:])
    refused = api.http.get(
        "/v1/subject/me", headers={**headers, HEADER_SIGNATURE: "0x" + high_s_twin(low).hex()}
    )
    assert refused.status_code == 401 and refused.json()["code"] == "bad_signature"
    assert refused.headers["content-type"] == "application/problem+json"
    # The canonical original still works: the refused twin spent nothing.
    assert api.http.get("/v1/subject/me", headers=headers).status_code == 200


def test_a_high_s_registration_signature_is_refused(api: Api) -> None:
    key = Account.create()
    wallet = api.client(key)
    registration = wallet.request_registration(_free_uscc())
    assert registration.typed_data is not None
    signable = encode_typed_data(full_message=registration.typed_data)
    low = bytes(Account.sign_message(signable, key.key).signature)
    path = f"/v1/subject/registrations/{registration.id}/signature"
    refused = wallet.send("POST", path, json_body={"signature": "0x" + high_s_twin(low).hex()})
    assert refused.status_code == 422
    assert refused.json()["code"] == "bad_signature"
    assert wallet.sign_registration(registration).status == "pending_approval"


def test_a_high_s_commitment_signature_is_refused(api: Api) -> None:
    key = api.world.subject_keys[0]
    wallet = api.client(key)
    text = "本企业承诺按期足额偿还融资款项。"
    low = bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)
    refused = wallet.send(
        "POST",
        "/v1/subject/commitments",
        json_body={"text": text, "signature": "0x" + high_s_twin(low).hex()},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "bad_signature"
    assert wallet.my_commitments() == []


def test_recover_typed_refuses_a_high_s_twin(api: Api) -> None:
    key = Account.create()
    domain = api.world.ledger.domain
    message = {"newNonce": 5, "nonce": 0, "deadline": 2**40}
    low = eip712.sign_typed(key.key, domain, "IncreaseNonce", message)
    assert eip712.recover_typed(domain, "IncreaseNonce", message, low) == key.address
    with pytest.raises(ValueError, match="EIP-2"):
        eip712.recover_typed(domain, "IncreaseNonce", message, high_s_twin(low))


def test_our_signers_produce_only_low_s_signatures(api: Api) -> None:
    """The client (requests, commitments, registrations) and the wallet (typed data) sign with
    libsecp256k1 through coincurve / eth-account, which always normalise to low s."""
    domain = api.world.ledger.domain
    for _ in range(32):
        key = Account.create()
        text = secrets.token_hex(16)
        request = bytes.fromhex(sign_request(key.key, text)[2:])
        personal = bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)
        typed = eip712.sign_typed(
            key.key, domain, "IncreaseNonce", {"newNonce": 1, "nonce": 0, "deadline": 2**40}
        )
        for signature in (request, personal, typed):
            assert 0 < _s(signature) <= SECP256K1_HALF_N
