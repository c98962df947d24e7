"""Receivables and parts as the indexer's replica holds them (current versions), with names.

Enterprises are shown by their masked USCC (the platform never keeps a USCC in the clear),
institutions by their registry name; addresses stay beside them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from indexer.tables import INSTITUTIONS, RECEIVABLE_PARTS, RECEIVABLES
from ledger_api.api.models import REGISTRATIONS
from ledger_api.api.supply_chain_acts import due_day, yuan
from ledger_api.api.supply_chain_schemas import PartOut, ReceivableOut
from ledger_api.chain.receivables import ReceivableStatus
from ledger_api.store.supply_chain import RECEIVABLE_DOCUMENTS

_STATUS = {s: s.name.lower() for s in ReceivableStatus}


def _current(table: Any, *conditions: Any) -> Any:
    return select(table).where(table.c.valid_to_block.is_(None), *conditions)


class PartyNames:
    """Masked USCCs of enterprises and registry names of institutions, looked up once."""

    def __init__(self, conn: Connection) -> None:
        self._masked: dict[str, str] = {}
        for row in conn.execute(
            select(REGISTRATIONS.c.account, REGISTRATIONS.c.uscc_masked).order_by(
                REGISTRATIONS.c.id
            )
        ):
            self._masked[row.account] = row.uscc_masked
        for row in conn.execute(
            select(RECEIVABLE_DOCUMENTS.c.debtor, RECEIVABLE_DOCUMENTS.c.debtor_uscc_masked)
        ):
            self._masked.setdefault(row.debtor, row.debtor_uscc_masked)
        self._institutions = {
            row.address: row.name
            for row in conn.execute(
                select(INSTITUTIONS.c.address, INSTITUTIONS.c.name).order_by(
                    INSTITUTIONS.c.valid_from_block, INSTITUTIONS.c.valid_from_log
                )
            )
        }

    def enterprise(self, address: str) -> str | None:
        return self._masked.get(address)

    def institution(self, address: str | None) -> str | None:
        return None if address is None else self._institutions.get(address)


def receivable_out(row: Any, names: PartyNames, now: int) -> ReceivableOut:
    status = _STATUS[ReceivableStatus(row.status)]
    if status == "confirmed" and row.due_date < now:
        status = "overdue"
    return ReceivableOut(
        receivable_id=row.receivable_id,
        supplier=row.supplier,
        supplier_uscc_masked=names.enterprise(row.supplier),
        debtor=row.debtor,
        debtor_uscc_masked=names.enterprise(row.debtor),
        amount=yuan(row.amount),
        amount_fen=row.amount,
        paid=yuan(row.paid_total),
        currency=row.currency,
        due_date=due_day(row.due_date),
        status=status,
        defaulted=row.defaulted,
    )


def part_out(row: Any, owed: Any, names: PartyNames, now: int) -> PartOut:
    return PartOut(
        part_id=row.part_id,
        receivable_id=row.receivable_id,
        holder=row.holder,
        holder_uscc_masked=names.enterprise(row.holder),
        value=yuan(row.value),
        value_fen=row.value,
        locked=row.financier is not None,
        financier=row.financier,
        financier_name=names.institution(row.financier),
        debtor=owed.debtor,
        debtor_uscc_masked=names.enterprise(owed.debtor),
        due_date=due_day(owed.due_date),
        overdue=row.value > 0 and owed.due_date < now,
        defaulted=row.defaulted,
    )


def _parts(conn: Connection, names: PartyNames, now: int, *conditions: Any) -> list[PartOut]:
    parts = conn.execute(_current(RECEIVABLE_PARTS, *conditions).order_by("part_id")).all()
    ids = {p.receivable_id for p in parts}
    owed = {
        r.receivable_id: r
        for r in conn.execute(_current(RECEIVABLES, RECEIVABLES.c.receivable_id.in_(ids)))
    }
    return [part_out(p, owed[p.receivable_id], names, now) for p in parts if p.value > 0]


def receivables_of(conn: Connection, address: str, now: int) -> dict[str, Any]:
    """What ``address`` is owed (as supplier), owes (as debtor), holds, and the parts it owes."""
    names = PartyNames(conn)

    def owed_by(column: Any) -> list[ReceivableOut]:
        rows = conn.execute(_current(RECEIVABLES, column == address).order_by("receivable_id"))
        return [receivable_out(r, names, now) for r in rows]

    debts = [r.receivable_id for r in owed_by(RECEIVABLES.c.debtor)]
    return {
        "as_supplier": owed_by(RECEIVABLES.c.supplier),
        "as_debtor": owed_by(RECEIVABLES.c.debtor),
        "parts_held": _parts(conn, names, now, RECEIVABLE_PARTS.c.holder == address),
        "parts_owed": _parts(conn, names, now, RECEIVABLE_PARTS.c.receivable_id.in_(debts)),
    }


def parts_financed_by(
    conn: Connection, institution: str, now: int, *, current: bool
) -> list[PartOut]:
    """Parts ``institution`` finances now (``current``) or ever financed, one row per part."""
    names = PartyNames(conn)
    if current:
        return _parts(conn, names, now, RECEIVABLE_PARTS.c.financier == institution)
    ever = select(RECEIVABLE_PARTS.c.part_id).where(RECEIVABLE_PARTS.c.financier == institution)
    return _parts(conn, names, now, RECEIVABLE_PARTS.c.part_id.in_(ever))
