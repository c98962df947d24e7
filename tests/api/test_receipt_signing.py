"""The read path's receipt signer gives eth-account's own personal_sign bytes."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct

from ledger_api.api.receipt_signing import ReceiptSigner


def test_the_fast_receipt_signature_is_eth_accounts_personal_sign() -> None:
    account = Account.create()
    signer = ReceiptSigner(bytes(account.key), account.address)
    for message in (b"{}", '{"grant_id":7,"name":"中原银行"}'.encode(), b"x" * 1000):
        expected = account.sign_message(encode_defunct(primitive=message)).signature
        assert signer.sign(message) == bytes(expected)
        recovered = Account.recover_message(
            encode_defunct(primitive=message), signature=signer.sign(message)
        )
        assert recovered == account.address
