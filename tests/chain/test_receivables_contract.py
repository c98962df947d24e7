"""Supply-chain receivables: confirmation, split and transfer, financing without double
financing, settlement — every rule and every refusal of the Receivables contract."""

from __future__ import annotations

import pytest
from receivables_kit import DAY, SupplyChain

from ledger_api.chain.receivables import (
    RECEIVABLES_VERSION,
    FinanceRefusal,
    NewReceivable,
    ReceivableStatus,
    SignedAct,
)
from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.types import Purpose, mask_of

SUPPLY_CHAIN_BIT = 14


@pytest.fixture
def chain(supply_chain: SupplyChain) -> SupplyChain:
    return supply_chain


def refused(error_name: str) -> pytest.RaisesExc[ContractRevert]:
    return pytest.raises(ContractRevert, match=rf"^{error_name}\(")


# -- confirmation -------------------------------------------------------------------------------


def test_a_registered_receivable_is_pending_until_the_debtor_confirms(chain: SupplyChain) -> None:
    rid = chain.receivables.register_receivable(chain.supplier, chain.new_receivable())
    assert chain.receivables.receivable(rid).status is ReceivableStatus.PENDING
    assert chain.receivables.counts() == (rid, 0)

    part_id = chain.receivables.confirm(chain.core, rid)

    state = chain.receivables.receivable(rid)
    assert state.status is ReceivableStatus.CONFIRMED
    assert (state.debtor, state.supplier, state.currency) == (
        chain.core.address,
        chain.supplier.address,
        "CNY",
    )
    part = chain.receivables.part(part_id)
    assert (part.holder, part.value, part.receivable_id, part.locked) == (
        chain.supplier.address,
        1_000_000,
        rid,
        False,
    )


def test_only_the_debtor_confirms(chain: SupplyChain) -> None:
    rid = chain.receivables.register_receivable(chain.supplier, chain.new_receivable())
    with refused("NotDebtor"):
        chain.receivables.confirm(chain.supplier, rid)
    with refused("NotDebtor"):
        chain.receivables.confirm(chain.sub_supplier, rid)
    assert chain.receivables.receivable(rid).status is ReceivableStatus.PENDING


def test_a_relayed_confirmation_signed_by_the_debtor_confirms_once(chain: SupplyChain) -> None:
    world = chain.world
    rid = chain.receivables.register_receivable(chain.supplier, chain.new_receivable())
    deadline, signature = chain.receivables.sign_confirmation(world.subject_keys[0], rid)

    part_id, _ = chain.receivables.relay_confirmation(world.operator, rid, deadline, signature)

    assert chain.receivables.part(part_id).holder == chain.supplier.address
    with refused("ReceivableNotPending"):
        chain.receivables.relay_confirmation(world.operator, rid, deadline, signature)


def test_a_confirmation_signed_by_anyone_but_the_debtor_or_expired_is_refused(
    chain: SupplyChain,
) -> None:
    world = chain.world
    rid = chain.receivables.register_receivable(chain.supplier, chain.new_receivable())
    # The supplier signs "as the debtor": the contract recovers the supplier, not the debtor.
    typed = chain.receivables.confirmation_message(rid, chain.core.address)
    from ledger_api.chain import eip712

    forged = eip712.sign_typed(
        world.subject_keys[1].key,
        chain.receivables.domain,
        "ReceivableConfirmation",
        typed["message"],
    )
    with refused("SignatureInvalid"):
        chain.receivables.relay_confirmation(
            world.operator, rid, int(typed["message"]["deadline"]), forged
        )
    past = chain.now() - 10
    deadline, signature = chain.receivables.sign_confirmation(world.subject_keys[0], rid, past)
    with refused("SignatureDeadlinePassed"):
        chain.receivables.relay_confirmation(world.operator, rid, deadline, signature)
    assert chain.receivables.receivable(rid).status is ReceivableStatus.PENDING


def test_the_debtor_registering_its_payable_confirms_it_at_once(chain: SupplyChain) -> None:
    payable = NewReceivable(
        counterparty=chain.supplier.address,
        amount=500,
        due_date=chain.now() + 30 * DAY,
        invoice_number="INV-P-1",
        contract_number="C-1",
    )
    rid, part_id = chain.receivables.register_payable(chain.core, payable)
    assert chain.receivables.receivable(rid).status is ReceivableStatus.CONFIRMED
    assert chain.receivables.part(part_id).holder == chain.supplier.address


def _payable(chain: SupplyChain, days: int = 30, invoice: str = "INV-P-SIGNED") -> NewReceivable:
    due = chain.now() + days * DAY + 60 * (days > 0)
    return NewReceivable(chain.supplier.address, 500_000, due, invoice, "C-1")


def test_a_payable_signed_by_the_debtor_and_relayed_is_confirmed_at_once(
    chain: SupplyChain,
) -> None:
    world, contract = chain.world, chain.receivables
    core_key = world.subject_keys[0]
    signed = contract.sign_payable(core_key, _payable(chain))

    rid, part_id, receipt = contract.relay_payable(world.operator, signed)

    owed = contract.receivable(rid)
    assert (owed.status, owed.debtor, owed.supplier, owed.amount) == (
        ReceivableStatus.CONFIRMED, chain.core.address, chain.supplier.address, 500_000,
    )  # fmt: skip
    part = contract.part(part_id)
    assert (part.holder, part.value, part.receivable_id) == (chain.supplier.address, 500_000, rid)
    registered = contract.events(receipt, "ReceivableRegistered")[0]["args"]
    assert (registered["supplier"], registered["debtor"]) == (
        chain.supplier.address,
        chain.core.address,
    )
    assert contract.nonce_of(core_key.address) == 1
    # The supplier holds the part at once: it moves it like any confirmed part.
    chain.receivables.split(chain.supplier, part_id, 100_000)


def test_a_payable_signed_by_anyone_but_the_debtor_is_refused(chain: SupplyChain) -> None:
    world, contract = chain.world, chain.receivables
    # The supplier signs the debtor's payable: the relay names the debtor, the contract
    # recovers the supplier.
    forged = contract.sign_payable(world.subject_keys[1], _payable(chain))
    as_debtor = SignedAct(forged.primary, chain.core.address, forged.message, forged.signature)
    with refused("SignatureInvalid"):
        contract.relay(world.operator, as_debtor)
    assert contract.counts() == (0, 0)


def test_an_expired_payable_signature_is_refused(chain: SupplyChain) -> None:
    world, contract = chain.world, chain.receivables
    late = contract.sign_payable(world.subject_keys[0], _payable(chain), chain.now() - 10)
    with refused("SignatureDeadlinePassed"):
        contract.relay(world.operator, late)
    assert contract.counts() == (0, 0)
    assert contract.nonce_of(world.subject_keys[0].address) == 0


def test_a_replayed_payable_signature_is_refused(chain: SupplyChain) -> None:
    world, contract = chain.world, chain.receivables
    signed = contract.sign_payable(world.subject_keys[0], _payable(chain))
    contract.relay_payable(world.operator, signed)
    # The debtor's nonce moved on, so the same signature recovers someone else.
    with refused("SignatureInvalid"):
        contract.relay(world.operator, signed)
    assert contract.counts() == (1, 1)


def test_a_signed_payable_of_an_already_registered_receivable_is_refused(
    chain: SupplyChain,
) -> None:
    world, contract = chain.world, chain.receivables
    payable = _payable(chain, invoice="INV-TWICE")
    # The supplier registered the same invoice for the same amount: same unique key.
    contract.register_receivable(
        chain.supplier,
        NewReceivable(chain.core.address, 500_000, payable.due_date, "INV-TWICE", "C-1"),
    )
    with refused("DuplicateReceivable"):
        contract.relay(world.operator, contract.sign_payable(world.subject_keys[0], payable))
    assert contract.counts() == (1, 0)


@pytest.mark.parametrize("days", [-1, 0, 366])
def test_a_signed_payable_due_in_the_past_or_beyond_a_year_is_refused(
    chain: SupplyChain, days: int
) -> None:
    world, contract = chain.world, chain.receivables
    signed = contract.sign_payable(world.subject_keys[0], _payable(chain, days))
    with refused("DueDateOutOfRange"):
        contract.relay(world.operator, signed)
    assert contract.counts() == (0, 0)


@pytest.mark.parametrize("days", [-1, 0, 366])
def test_a_due_date_in_the_past_or_beyond_a_year_is_refused(chain: SupplyChain, days: int) -> None:
    new = chain.new_receivable()
    late = NewReceivable(
        new.counterparty, new.amount, chain.now() + days * DAY + 60 * (days > 0), "INV-D", "C"
    )
    with refused("DueDateOutOfRange"):
        chain.receivables.register_receivable(chain.supplier, late)
    assert chain.receivables.counts() == (0, 0)


def test_the_same_invoice_of_the_same_debtor_for_the_same_amount_registers_once(
    chain: SupplyChain,
) -> None:
    chain.receivables.register_receivable(chain.supplier, chain.new_receivable())
    with refused("DuplicateReceivable"):
        chain.receivables.register_receivable(chain.supplier, chain.new_receivable())
    # Neither by another supplier nor by the debtor as a payable.
    with refused("DuplicateReceivable"):
        chain.receivables.register_receivable(chain.sub_supplier, chain.new_receivable())
    assert chain.receivables.counts() == (1, 0)


def test_parties_must_be_distinct_bound_enterprises(chain: SupplyChain) -> None:
    with refused("NotASubject"):
        chain.receivables.register_receivable(chain.outsider, chain.new_receivable())
    own = NewReceivable(chain.supplier.address, 10, chain.now() + DAY, "INV-S", "C")
    with refused("SameParty"):
        chain.receivables.register_receivable(chain.supplier, own)


# -- split and transfer ---------------------------------------------------------------------------


def test_a_split_conserves_value_and_a_transfer_moves_the_part_down_the_chain(
    chain: SupplyChain,
) -> None:
    whole = chain.confirmed_part(1_000_000)
    piece = chain.receivables.split(chain.supplier, whole, 300_000)
    chain.receivables.transfer(chain.supplier, piece, chain.sub_supplier.address)

    kept, moved = chain.receivables.part(whole), chain.receivables.part(piece)
    assert (kept.holder, kept.value) == (chain.supplier.address, 700_000)
    assert (moved.holder, moved.value) == (chain.sub_supplier.address, 300_000)
    assert moved.receivable_id == kept.receivable_id  # the debtor's obligation follows the part
    # The new holder moves it further; the old one no longer can.
    with refused("NotHolder"):
        chain.receivables.split(chain.supplier, piece, 1)
    chain.receivables.split(chain.sub_supplier, piece, 100_000)


@pytest.mark.parametrize("value", [0, 1_000_000, 1_000_001])
def test_a_split_of_nothing_or_of_the_whole_or_more_is_refused(
    chain: SupplyChain, value: int
) -> None:
    whole = chain.confirmed_part(1_000_000)
    with refused("ValueExceedsPart"):
        chain.receivables.split(chain.supplier, whole, value)
    assert chain.receivables.part(whole).value == 1_000_000


def test_only_the_holder_moves_a_part_and_only_to_another_enterprise(chain: SupplyChain) -> None:
    whole = chain.confirmed_part()
    with refused("NotHolder"):
        chain.receivables.transfer(chain.sub_supplier, whole, chain.sub_supplier.address)
    with refused("NotHolder"):
        chain.receivables.split(chain.core, whole, 1)
    with refused("NotASubject"):
        chain.receivables.transfer(chain.supplier, whole, chain.outsider.address)
    with refused("SameParty"):
        chain.receivables.transfer(chain.supplier, whole, chain.supplier.address)
    assert chain.receivables.part(whole).holder == chain.supplier.address


def test_a_matured_part_no_longer_moves(chain: SupplyChain) -> None:
    whole = chain.confirmed_part()
    chain.advance(91 * DAY)
    with refused("PartMatured"):
        chain.receivables.transfer(chain.supplier, whole, chain.sub_supplier.address)
    with refused("PartMatured"):
        chain.receivables.finance(chain.supplier, whole, chain.world.bank.address)


# -- financing ------------------------------------------------------------------------------


def test_financing_locks_the_part_against_a_second_financing_and_any_move(
    chain: SupplyChain,
) -> None:
    world = chain.world
    whole = chain.confirmed_part()
    receipt = chain.receivables.finance(chain.supplier, whole, world.bank.address, "REG-2026-1")
    financed = chain.receivables.events(receipt, "PartFinanced")[0]["args"]
    assert (financed["institution"], financed["value"]) == (world.bank.address, 1_000_000)
    assert chain.receivables.part(whole).locked

    with refused("PartLocked"):
        chain.receivables.finance(chain.supplier, whole, world.bank.address)
    with refused("PartLocked"):
        chain.receivables.split(chain.supplier, whole, 1)
    with refused("PartLocked"):
        chain.receivables.transfer(chain.supplier, whole, chain.sub_supplier.address)


def test_only_the_financier_releases_and_then_the_part_moves_again(chain: SupplyChain) -> None:
    world = chain.world
    whole = chain.confirmed_part()
    with refused("PartNotLocked"):
        chain.receivables.release(world.bank, whole)
    chain.receivables.finance(chain.supplier, whole, world.bank.address)
    with refused("NotFinancier"):
        chain.receivables.release(world.bank_b, whole)
    with refused("NotFinancier"):
        chain.receivables.release(chain.supplier, whole)
    chain.receivables.release(world.bank, whole)
    assert not chain.receivables.part(whole).locked
    chain.receivables.split(chain.supplier, whole, 1)


def _cannot_finance(reason: FinanceRefusal) -> pytest.RaisesExc[ContractRevert]:
    return pytest.raises(
        ContractRevert, match=rf"^InstitutionCannotFinance\(.*reason={int(reason)}\b"
    )


def test_an_institution_without_an_agreement_or_unknown_cannot_finance(chain: SupplyChain) -> None:
    world = chain.world
    whole = chain.confirmed_part()
    with _cannot_finance(FinanceRefusal.NO_ACTIVE_AGREEMENT):
        chain.receivables.finance(chain.supplier, whole, world.bank_b.address)
    with _cannot_finance(FinanceRefusal.UNKNOWN_INSTITUTION):
        chain.receivables.finance(chain.supplier, whole, chain.outsider.address)
    assert not chain.receivables.part(whole).locked


@pytest.mark.parametrize(
    ("categories", "purposes", "reason"),
    [
        (1 << 2, mask_of(list(Purpose)), FinanceRefusal.CATEGORY_NOT_IN_AGREEMENT),
        (
            1 << SUPPLY_CHAIN_BIT,
            1 << Purpose.LOAN_APPLICATION,
            FinanceRefusal.PURPOSE_NOT_IN_AGREEMENT,
        ),
    ],
)
def test_an_agreement_must_cover_the_supply_chain_category_and_purpose(
    chain: SupplyChain, categories: int, purposes: int, reason: FinanceRefusal
) -> None:
    world = chain.world
    now = chain.now()
    agreement = world.ledger.propose_agreement(
        world.operator, world.bank_b.address, categories, purposes, now - 60, now + 90 * DAY,
        b"\x02" * 32,
    )  # fmt: skip
    world.ledger.transact(world.bank_b, "acceptAgreement", agreement)
    whole = chain.confirmed_part()
    with _cannot_finance(reason):
        chain.receivables.finance(chain.supplier, whole, world.bank_b.address)


def test_a_suspended_institution_cannot_finance(chain: SupplyChain) -> None:
    world = chain.world
    whole = chain.confirmed_part()
    world.ledger.transact(world.regulator, "suspendInstitution", world.bank.address)
    with _cannot_finance(FinanceRefusal.INSTITUTION_SUSPENDED):
        chain.receivables.finance(chain.supplier, whole, world.bank.address)


# -- settlement and default ---------------------------------------------------------------


def test_the_debtor_settles_in_parts_and_a_fully_paid_financed_part_is_released(
    chain: SupplyChain,
) -> None:
    world = chain.world
    whole = chain.confirmed_part(1_000)
    piece = chain.receivables.split(chain.supplier, whole, 400)
    chain.receivables.finance(chain.supplier, piece, world.bank.address)
    rid = chain.receivables.part(whole).receivable_id

    with refused("NotDebtor"):
        chain.receivables.settle(chain.supplier, whole, 600)
    with refused("ValueExceedsPart"):
        chain.receivables.settle(chain.core, piece, 401)
    chain.receivables.settle(chain.core, piece, 100)
    assert chain.receivables.part(piece).locked  # partly paid: still pledged
    receipt = chain.receivables.settle(chain.core, piece, 300)
    assert chain.receivables.events(receipt, "PartReleased")[0]["args"]["institution"] == (
        world.bank.address
    )
    assert not chain.receivables.part(piece).locked
    assert chain.receivables.receivable(rid).status is ReceivableStatus.CONFIRMED
    chain.receivables.settle(chain.core, whole, 600)
    state = chain.receivables.receivable(rid)
    assert (state.status, state.settled) == (ReceivableStatus.SETTLED, 1_000)


def test_a_default_is_declared_only_after_maturity_by_holder_or_financier(
    chain: SupplyChain,
) -> None:
    world = chain.world
    whole = chain.confirmed_part()
    chain.receivables.finance(chain.supplier, whole, world.bank.address)
    with refused("PartNotOverdue"):
        chain.receivables.declare_default(world.bank, whole)
    chain.advance(91 * DAY)
    with refused("NotHolder"):
        chain.receivables.declare_default(chain.sub_supplier, whole)
    receipt = chain.receivables.declare_default(world.bank, whole)
    event = chain.receivables.events(receipt, "PartDefaulted")[0]["args"]
    assert (event["reporter"], event["value"]) == (world.bank.address, 1_000_000)


# -- signed acts relayed by the platform -----------------------------------------------------------


def test_every_act_can_be_signed_by_its_party_and_relayed_once(chain: SupplyChain) -> None:
    world, contract = chain.world, chain.receivables
    supplier_key, core_key = world.subject_keys[1], world.subject_keys[0]
    new = chain.new_receivable(invoice="INV-SIGNED")
    debtor, amount, currency, due, invoice, agreement = new.as_args()
    registration = contract.sign_act(
        supplier_key,
        "ReceivableRegistration",
        {
            "debtor": debtor, "amount": amount, "currency": currency, "dueDate": due,
            "invoiceHash": invoice, "contractHash": agreement,
        },
    )  # fmt: skip
    receipt = contract.relay(world.operator, registration)
    rid = int(contract.events(receipt, "ReceivableRegistered")[0]["args"]["receivableId"])
    with refused("SignatureInvalid"):  # the nonce moved on: a replay recovers someone else
        contract.relay(world.operator, registration)
    deadline, signature = contract.sign_confirmation(core_key, rid)
    whole, _ = contract.relay_confirmation(world.operator, rid, deadline, signature)

    split = contract.sign_act(supplier_key, "PartSplit", {"partId": whole, "value": 250_000})
    piece = int(
        contract.events(contract.relay(world.operator, split), "PartSplit")[0]["args"]["newPartId"]
    )
    to = chain.sub_supplier.address
    contract.relay(
        world.operator, contract.sign_act(supplier_key, "PartTransfer", {"partId": piece, "to": to})
    )
    financing = {"partId": whole, "institution": world.bank.address, "registryHash": b"\x07" * 32}
    contract.relay(world.operator, contract.sign_act(supplier_key, "PartFinancing", financing))
    assert contract.part(whole).locked
    settle = contract.sign_act(core_key, "PartSettlement", {"partId": piece, "value": 250_000})
    contract.relay(world.operator, settle)

    assert contract.part(piece).value == 0
    assert contract.nonce_of(supplier_key.address) == 4
    assert contract.nonce_of(core_key.address) == 1


def test_a_signed_act_from_the_wrong_party_is_refused(chain: SupplyChain) -> None:
    world, contract = chain.world, chain.receivables
    whole = chain.confirmed_part()
    # The debtor signs a split of the supplier's part: a valid signature of the wrong party.
    split = contract.sign_act(world.subject_keys[0], "PartSplit", {"partId": whole, "value": 1})
    with refused("NotHolder"):
        contract.relay(world.operator, split)
    # The bank releases only a part it financed.
    release = contract.sign_act(world.bank.account, "PartRelease", {"partId": whole})
    with refused("PartNotLocked"):
        contract.relay(world.operator, release)
    assert contract.part(whole).value == 1_000_000


def test_the_deployed_contract_is_the_version_the_code_speaks(chain: SupplyChain) -> None:
    version = chain.receivables.contract.functions.CONTRACT_VERSION().call()
    assert version == RECEIVABLES_VERSION
