"""The public institution directory: what a wallet shows before the enterprise signs."""

from __future__ import annotations

import pytest

from ledger_api.errors import NotFoundError


def test_institution_directory_gives_the_name_and_type_registered_on_chain(api) -> None:
    bank = api.world.bank.address
    found = api.client(api.world.subject_keys[0]).institution(bank)
    assert (found.address, found.name, found.kind) == (bank, "中原银行郑州分行", "bank")
    assert not found.suspended and found.agreement_id == api.world.agreement_id


def test_unknown_institution_is_a_404_problem(api) -> None:
    with pytest.raises(NotFoundError) as refused:
        api.client(api.world.subject_keys[0]).institution("0x" + "12" * 20)
    assert refused.value.code == "unknown_institution"
