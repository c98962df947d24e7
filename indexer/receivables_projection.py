"""Projection of the Receivables contract's events onto the versioned receivable tables.

Kept apart from ``indexer.projection`` (the ledger's own state); the projector hands in its
two version trackers, so both share one chunk, one transaction and one rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from indexer.decode import EventRecord
from indexer.errors import IndexerError
from ledger_api.chain.receivables import ReceivableStatus


class VersionTracker(Protocol):
    def current(self, key: tuple[Any, ...]) -> dict[str, Any] | None: ...
    def open(self, values: dict[str, Any], at: EventRecord) -> None: ...
    def change(self, key: tuple[Any, ...], at: EventRecord, **changes: Any) -> None: ...


def supply_chain_handlers(
    receivables: VersionTracker, parts: VersionTracker
) -> dict[str, Callable[[EventRecord], None]]:
    """Event name -> handler for every Receivables event that changes state."""

    def part(e: EventRecord, key: str = "partId") -> dict[str, Any]:
        row = parts.current((e.args[key],))
        if row is None:
            raise IndexerError(
                f"{e.name} at block {e.block_number} names unknown part {e.args[key]}",
                code="replica_inconsistent",
            )
        return row

    def registered(e: EventRecord) -> None:
        a = e.args
        receivables.open(
            {
                "receivable_id": a["receivableId"],
                "debtor": a["debtor"],
                "supplier": a["supplier"],
                "amount": a["amount"],
                "currency": bytes(a["currency"]).decode("ascii", "replace"),
                "due_date": a["dueDate"],
                "status": int(ReceivableStatus.PENDING),
                "paid_total": 0,
                "invoice_hash": a["invoiceHash"],
                "contract_hash": a["contractHash"],
                "receivable_key": a["key"],
                "registered_block": e.block_number,
                "confirmed_block": None,
                "defaulted": False,
            },
            e,
        )

    def confirmed(e: EventRecord) -> None:
        rid = e.args["receivableId"]
        owed = receivables.current((rid,))
        if owed is None:
            raise IndexerError(
                f"ReceivableConfirmed at block {e.block_number} names unknown receivable {rid}",
                code="replica_inconsistent",
            )
        receivables.change(
            (rid,), e, status=int(ReceivableStatus.CONFIRMED), confirmed_block=e.block_number
        )
        _open_part(parts, e, e.args["partId"], rid, owed["supplier"], owed["amount"], None)

    def split(e: EventRecord) -> None:
        source = part(e)
        parts.change((e.args["partId"],), e, value=source["value"] - e.args["value"])
        _open_part(
            parts, e, e.args["newPartId"], source["receivable_id"], e.args["holder"],
            e.args["value"], e.args["partId"],
        )  # fmt: skip

    def transferred(e: EventRecord) -> None:
        part(e)
        parts.change((e.args["partId"],), e, holder=e.args["to"])

    def financed(e: EventRecord) -> None:
        part(e)
        parts.change(
            (e.args["partId"],), e,
            financier=e.args["institution"], registry_hash=e.args["registryHash"],
        )  # fmt: skip

    def released(e: EventRecord) -> None:
        part(e)
        parts.change((e.args["partId"],), e, financier=None)

    def settled(e: EventRecord) -> None:
        part(e)
        parts.change((e.args["partId"],), e, value=e.args["remaining"])
        rid = e.args["receivableId"]
        owed = receivables.current((rid,))
        if owed is not None:
            receivables.change((rid,), e, paid_total=owed["paid_total"] + e.args["value"])

    def receivable_settled(e: EventRecord) -> None:
        receivables.change((e.args["receivableId"],), e, status=int(ReceivableStatus.SETTLED))

    def defaulted(e: EventRecord) -> None:
        part(e)
        parts.change((e.args["partId"],), e, defaulted=True)
        receivables.change((e.args["receivableId"],), e, defaulted=True)

    return {
        "ReceivableRegistered": registered,
        "ReceivableConfirmed": confirmed,
        "PartSplit": split,
        "PartTransferred": transferred,
        "PartFinanced": financed,
        "PartReleased": released,
        "PartSettled": settled,
        "ReceivableSettled": receivable_settled,
        "PartDefaulted": defaulted,
    }


def _open_part(
    parts: VersionTracker,
    e: EventRecord,
    part_id: int,
    receivable_id: int,
    holder: str,
    value: int,
    parent: int | None,
) -> None:
    parts.open(
        {
            "part_id": part_id,
            "receivable_id": receivable_id,
            "holder": holder,
            "value": value,
            "financier": None,
            "registry_hash": None,
            "parent_part_id": parent,
            "defaulted": False,
        },
        e,
    )
