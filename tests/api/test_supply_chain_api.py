"""Supply-chain routes: enterprises and banks sign, the platform relays; contract refusals are
4xx problem+json with stable codes, logged; a confirmed receivable becomes a record."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from api_support import Api
from eth_utils import keccak
from sqlalchemy import select
from world import USCCS

from indexer.follower import Indexer
from ledger_api.accesslog import ACCESS_LOG
from ledger_api.chain.types import AccessLevel
from ledger_api.errors import LedgerError
from ledger_api.store.records import read_subject_records
from ledger_api.store.supply_chain import RECEIVABLE_DOCUMENTS, SUPPLY_CHAIN_REFUSALS
from ledger_api.supply_chain_client import financed_parts, my_receivables, perform

CORE, SUPPLIER, SUB = 0, 1, 2
INVOICE = "INV-2026-0042"


def _index(api: Api) -> None:
    Indexer.for_engine(
        api.world.w3, api.world.ledger.deployment, api.engine, api.settings
    ).run_once()


def _enterprise(api: Api, i: int) -> Any:
    return api.client(api.world.subject_keys[i])


def _register(api: Api, amount: str = "10000.00", invoice: str = INVOICE) -> int:
    terms = {
        "debtor": USCCS[CORE],
        "amount": amount,
        "currency": "CNY",
        "due_date": (date.today() + timedelta(days=90)).isoformat(),
        "invoice_no": invoice,
        "contract_no": "PO-88",
    }
    done = perform(
        _enterprise(api, SUPPLIER), api.world.subject_keys[SUPPLIER], "registration", terms,
        extra={"supplier_uscc": USCCS[SUPPLIER]},
    )  # fmt: skip
    assert done.receivable_id is not None
    return done.receivable_id


def _confirmed(api: Api, amount: str = "10000.00") -> tuple[int, int]:
    rid = _register(api, amount)
    done = perform(
        _enterprise(api, CORE), api.world.subject_keys[CORE], "confirmation",
        {"receivable_id": rid},
    )  # fmt: skip
    assert done.part_id is not None
    return rid, done.part_id


def _with_code(code: str) -> Any:
    class _Check:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
            assert isinstance(exc, LedgerError), f"expected {code}, got {exc!r}"
            assert exc.code == code, f"expected {code}, got {exc.code}: {exc}"
            return True

    return _Check()


def test_the_typed_data_says_in_words_and_terms_what_the_supplier_signs(api: Api) -> None:
    offer = _enterprise(api, SUPPLIER).call(
        "GET",
        "/v1/supply-chain/typed-data/registration",
        params={
            "debtor": USCCS[CORE],
            "amount": "1234.56",
            "due_date": (date.today() + timedelta(days=30)).isoformat(),
            "invoice_hash": "0x" + keccak(text=INVOICE).hex(),
            "contract_hash": "0x" + keccak(text="PO-88").hex(),
        },
    )
    message = offer["typed_data"]["message"]
    assert offer["primary_type"] == "ReceivableRegistration"
    assert message["amount"] == 123456  # fen
    assert message["debtor"] == api.world.subject_keys[CORE].address
    assert message["currency"] == "0x434e59"  # "CNY"
    assert message["invoiceHash"] == "0x" + keccak(text=INVOICE).hex()
    assert "1234.56" in offer["summary"] and USCCS[CORE] in offer["summary"]


def test_a_confirmed_receivable_becomes_the_suppliers_encrypted_supply_chain_record(
    api: Api,
) -> None:
    rid = _register(api)
    with api.engine.connect() as conn:
        sealed = conn.execute(select(RECEIVABLE_DOCUMENTS.c.sealed)).scalar_one()
    assert INVOICE.encode() not in sealed and USCCS[CORE].encode() not in sealed

    done = perform(
        _enterprise(api, CORE), api.world.subject_keys[CORE], "confirmation",
        {"receivable_id": rid},
    )  # fmt: skip

    assert done.record_status == "confirmed"
    with api.engine.connect() as conn:
        records = read_subject_records(
            conn, api.settings, api.world.subject_ids[SUPPLIER], categories=["supply_chain"]
        )
    fields = records[-1].fields
    assert (fields["core_enterprise_uscc"], fields["invoice_no"], fields["status"]) == (
        USCCS[CORE], INVOICE, "confirmed",
    )  # fmt: skip
    assert str(fields["payable_amount"]) == "10000.00"


def test_only_the_debtor_confirms_and_a_duplicate_is_refused(api: Api) -> None:
    rid = _register(api)
    with _with_code("not_debtor"):
        perform(
            _enterprise(api, SUPPLIER), api.world.subject_keys[SUPPLIER], "confirmation",
            {"receivable_id": rid},
        )  # fmt: skip
    with _with_code("duplicate_receivable"):
        _register(api)


def _payable_terms(invoice: str = "INV-P-77", amount: str = "2500.00") -> dict[str, Any]:
    return {
        "supplier": USCCS[SUPPLIER],
        "amount": amount,
        "currency": "CNY",
        "due_date": (date.today() + timedelta(days=60)).isoformat(),
        "invoice_no": invoice,
        "contract_no": "PO-P-1",
    }


def test_the_debtor_registers_its_payable_and_the_supplier_holds_it_confirmed_with_its_record(
    api: Api,
) -> None:
    core = (_enterprise(api, CORE), api.world.subject_keys[CORE])
    shown: list[Any] = []
    done = perform(
        *core, "payable", _payable_terms(), extra={"debtor_uscc": USCCS[CORE]},
        review=shown.append,
    )  # fmt: skip

    [offer] = shown
    assert offer.primary_type == "PayableRegistration"
    assert offer.typed_data["message"]["supplier"] == api.world.subject_keys[SUPPLIER].address
    assert "2500.00 CNY" in offer.summary and "counts as your confirmation" in offer.summary
    assert (done.act, done.record_status) == ("payable", "confirmed")
    with api.engine.connect() as conn:
        [record] = read_subject_records(
            conn, api.settings, api.world.subject_ids[SUPPLIER], categories=["supply_chain"]
        )
    assert (record.fields["core_enterprise_uscc"], record.fields["invoice_no"]) == (
        USCCS[CORE], "INV-P-77",
    )  # fmt: skip
    assert record.fields["status"] == "confirmed"
    _index(api)
    held = my_receivables(_enterprise(api, SUPPLIER))["parts_held"]
    assert [(p["part_id"], p["value"]) for p in held] == [(done.part_id, "2500.00")]


def test_a_payable_is_refused_when_signed_by_another_key_for_another_uscc_or_twice(
    api: Api,
) -> None:
    world = api.world
    core_client = _enterprise(api, CORE)
    # The core's request carrying the supplier's signature: not the requester's.
    with _with_code("signer_mismatch"):
        perform(core_client, world.subject_keys[SUPPLIER], "payable", _payable_terms(),
                extra={"debtor_uscc": USCCS[CORE]})  # fmt: skip
    with _with_code("uscc_mismatch"):
        perform(core_client, world.subject_keys[CORE], "payable", _payable_terms(),
                extra={"debtor_uscc": USCCS[SUB]})  # fmt: skip
    with _with_code("debtor_uscc_required"):
        perform(core_client, world.subject_keys[CORE], "payable", _payable_terms())
    # The supplier already registered this invoice for this amount: the same unique key.
    _register(api, "2500.00", "INV-P-77")
    with _with_code("duplicate_receivable"):
        perform(core_client, world.subject_keys[CORE], "payable", _payable_terms(),
                extra={"debtor_uscc": USCCS[CORE]})  # fmt: skip
    with api.engine.connect() as conn:
        kept = conn.execute(select(SUPPLY_CHAIN_REFUSALS.c.act, SUPPLY_CHAIN_REFUSALS.c.code)).all()
    assert [tuple(k) for k in kept] == [("payable", "duplicate_receivable")]


def test_split_transfer_finance_and_a_second_financing_is_refused_and_kept(api: Api) -> None:
    world = api.world
    _, whole = _confirmed(api)
    supplier = (_enterprise(api, SUPPLIER), world.subject_keys[SUPPLIER])
    split = perform(*supplier, "split", {"part_id": whole, "value": "4000.00"})
    piece = split.new_part_id
    assert piece is not None
    perform(*supplier, "transfer", {"part_id": piece, "to": USCCS[SUB]})
    sub = (_enterprise(api, SUB), world.subject_keys[SUB])
    with _with_code("not_holder"):
        perform(*supplier, "financing", {"part_id": piece, "institution": "中原银行郑州分行"})
    done = perform(
        *sub, "financing",
        {"part_id": piece, "institution": "中原银行郑州分行", "registry_no": "REG-1"},
    )  # fmt: skip
    assert done.part_id == piece

    before = api.entry_count()
    with _with_code("part_locked"):
        perform(*sub, "financing", {"part_id": piece, "institution": "Bank B"})
    assert api.last_entry()["reason"] == "part_locked"
    assert api.entry_count() == before + 1
    with api.engine.connect() as conn:
        kept = conn.execute(select(SUPPLY_CHAIN_REFUSALS)).all()
    assert [(r.act, r.part_id, r.code, r.actor) for r in kept][-1] == (
        "financing", piece, "part_locked", world.subject_keys[SUB].address,
    )  # fmt: skip
    with _with_code("value_exceeds_part"):
        perform(*supplier, "split", {"part_id": whole, "value": "6000.00"})


def test_the_debtor_settles_the_lock_releases_and_the_lists_show_names(api: Api) -> None:
    world = api.world
    rid, whole = _confirmed(api, "500.00")
    supplier = (_enterprise(api, SUPPLIER), world.subject_keys[SUPPLIER])
    perform(*supplier, "financing", {"part_id": whole, "institution": world.bank.address})
    _index(api)
    bank = api.client(world.bank.account)
    locked = financed_parts(bank)
    assert [(p["part_id"], p["financier_name"], p["value"]) for p in locked] == [
        (whole, "中原银行郑州分行", "500.00")
    ]
    core = (_enterprise(api, CORE), world.subject_keys[CORE])
    with _with_code("not_debtor"):
        perform(*supplier, "settlement", {"part_id": whole, "value": "500.00"})
    done = perform(*core, "settlement", {"part_id": whole, "value": "500.00"})
    assert done.record_status == "paid"
    _index(api)
    assert financed_parts(bank) == []
    assert [p["part_id"] for p in financed_parts(bank, current=False)] == []  # fully paid
    mine = my_receivables(_enterprise(api, SUPPLIER))
    assert [(r["receivable_id"], r["status"], r["paid"]) for r in mine["as_supplier"]] == [
        (rid, "settled", "500.00")
    ]
    owed = my_receivables(_enterprise(api, CORE))["as_debtor"]
    assert owed[0]["debtor_uscc_masked"] == USCCS[CORE][:2] + "*" * 12 + USCCS[CORE][-4:]


def test_only_the_financier_releases(api: Api) -> None:
    world = api.world
    _, whole = _confirmed(api)
    perform(
        _enterprise(api, SUPPLIER), world.subject_keys[SUPPLIER], "financing",
        {"part_id": whole, "institution": "中原银行郑州分行"},
    )  # fmt: skip
    with _with_code("not_financier"):
        perform(
            api.client(world.bank_b.account), world.bank_b.account, "release", {"part_id": whole}
        )
    done = perform(
        api.client(world.bank.account), world.bank.account, "release", {"part_id": whole}
    )
    assert done.act == "release"
    with api.engine.connect() as conn:
        reasons = [r.reason for r in conn.execute(select(ACCESS_LOG.c.reason))]
    assert "not_financier" in reasons


def test_bad_amounts_and_unknown_parties_are_422_before_anything_is_signed(api: Api) -> None:
    client = _enterprise(api, SUPPLIER)
    due = (date.today() + timedelta(days=30)).isoformat()
    terms = {"amount": "12.345", "due_date": due, "invoice_hash": "0x" + "ab" * 32,
             "contract_hash": "0x" + "cd" * 32}  # fmt: skip
    response = client.send(
        "GET", "/v1/supply-chain/typed-data/registration", params={"debtor": USCCS[CORE], **terms}
    )
    assert response.status_code == 422
    for path, party in (("registration", "debtor"), ("payable", "supplier")):
        response = client.send(
            "GET", f"/v1/supply-chain/typed-data/{path}",
            params={party: USCCS[CORE], **terms, "amount": "12.34", "currency": "C\x0fY"},
        )  # fmt: skip
        assert response.status_code == 422, response.text  # not a 502 from the chain layer
    response = client.send(
        "GET",
        "/v1/supply-chain/typed-data/financing",
        params={"part_id": 1, "institution": "No Such Bank"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "unknown_institution")


def test_a_bank_reads_the_suppliers_receivable_record_under_a_grant_like_any_category(
    api: Api,
) -> None:
    _confirmed(api)
    grant = api.grant(SUPPLIER, categories=1 << 14, level=AccessLevel.DETAIL)
    bank = api.client(api.world.bank.account)
    page = bank.records(
        "0x" + api.world.subject_ids[SUPPLIER].hex(), category="supply_chain",
        purpose="loan_application", grant_id=grant, level="detail",
    )  # fmt: skip
    [record] = page.records
    assert (record.fields["invoice_no"], record.fields["status"]) == (INVOICE, "confirmed")
    assert api.last_entry()["decision"] == "allowed"
    with _with_code("category_not_granted"):
        bank.records(
            "0x" + api.world.subject_ids[SUPPLIER].hex(), category="supply_chain",
            purpose="loan_application", grant_id=api.grant(SUPPLIER, categories=1 << 2),
        )  # fmt: skip


def test_a_payment_that_leaves_a_receivable_unpaid_past_its_due_date_records_it_overdue(
    api: Api,
) -> None:
    _, whole = _confirmed(api)  # due in 90 days
    tester = api.world.w3.provider.ethereum_tester
    later = int(api.world.w3.eth.get_block("latest")["timestamp"]) + 100 * 86400
    tester.time_travel(later)
    api.clock.advance(100 * 86400)
    core = (_enterprise(api, CORE), api.world.subject_keys[CORE])
    done = perform(*core, "settlement", {"part_id": whole, "value": "100.00"})
    assert done.record_status == "overdue"
    with api.engine.connect() as conn:
        [record] = read_subject_records(
            conn, api.settings, api.world.subject_ids[SUPPLIER], categories=["supply_chain"]
        )
    assert record.fields["status"] == "overdue"


def test_a_receivable_past_its_due_date_is_overdue_in_every_view_without_any_act(
    api: Api,
) -> None:
    world = api.world
    rid, whole = _confirmed(api)  # 10000.00, due in 90 days
    paid_rid, paid_part = _confirmed(api, "500.00")
    core = (_enterprise(api, CORE), world.subject_keys[CORE])
    perform(*core, "settlement", {"part_id": paid_part, "value": "500.00"})
    grant = api.grant(
        SUPPLIER, categories=1 << 14, level=AccessLevel.DETAIL,
        not_after=int(api.clock()) + 200 * 86400,
    )  # fmt: skip
    regulator = api.client(world.regulator.account)
    supplier_id = "0x" + world.subject_ids[SUPPLIER].hex()

    def views() -> tuple[dict[int, str], dict[str, str], dict[str, Any]]:
        _index(api)
        mine = my_receivables(_enterprise(api, SUPPLIER))
        listed = {r["receivable_id"]: r["status"] for r in mine["as_supplier"]}
        held = [(p["part_id"], p["overdue"]) for p in mine["parts_held"]]
        assert held == [(whole, listed[rid] == "overdue")]  # the paid part holds nothing
        own = _enterprise(api, SUPPLIER).my_records("supply_chain").records
        bank = api.client(world.bank.account).records(
            supplier_id, category="supply_chain", purpose="loan_application", grant_id=grant,
            level="detail",
        ).records  # fmt: skip
        shown = {r.fields["invoice_no"] + "/" + str(r.fields["payable_amount"]): r.fields["status"]
                 for r in own}  # fmt: skip
        assert shown == {
            r.fields["invoice_no"] + "/" + str(r.fields["payable_amount"]): r.fields["status"]
            for r in bank
        }
        [row] = regulator.call("GET", "/v1/audit/supply_chain")["result"]
        return listed, shown, row

    listed, shown, row = views()
    assert listed == {rid: "confirmed", paid_rid: "settled"}
    assert shown == {f"{INVOICE}/10000.00": "confirmed", f"{INVOICE}/500.00": "paid"}
    assert row["overdue_count"] == 0

    # Only the chain's clock moves past the due date (the platform's clock stays): nobody acts.
    tester = world.w3.provider.ethereum_tester
    tester.time_travel(int(world.w3.eth.get_block("latest")["timestamp"]) + 91 * 86400)
    tester.mine_blocks(1)

    listed, shown, row = views()
    assert listed == {rid: "overdue", paid_rid: "settled"}
    assert shown == {f"{INVOICE}/10000.00": "overdue", f"{INVOICE}/500.00": "paid"}
    assert (row["overdue_count"], row["overdue_amount"]) == (1, "10000.00")
    with api.engine.connect() as conn:  # the stored record still says what its last act wrote
        stored = read_subject_records(conn, api.settings, world.subject_ids[SUPPLIER],
                                      categories=["supply_chain"])  # fmt: skip
    assert {r.fields["status"] for r in stored} == {"confirmed", "paid"}
