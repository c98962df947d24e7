"""One anchor journal for everything the platform anchors: pending → sent → anchored.

Each anchored kind keeps its entries in its own table (data batches, access-log ranges,
credit commitments, catalog versions); a :class:`JournalTable` says which columns hold an
entry's root, state and anchor, and :class:`AnchorJournal` runs the same lifecycle on all:

``pending``   the entry is stored with its root; nothing sent;
``sent``      committed (durably) just before the anchor transaction is sent;
``anchored``  the anchor's sequence, transaction and block are recorded.

A crash leaves an entry ``pending`` or ``sent``; :meth:`AnchorJournal.resume` finishes it,
asking the chain first whether the root is anchored already, so nothing is anchored twice.
Transactions themselves go through the anchorer's transactor and its durable queue
(``ledger_api.chain.txqueue``), which owns nonces, rebroadcasts and receipts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update

from ledger_api.anchoring.anchorer import (
    AnchoredRoot,
    Anchorer,
    AnchorKind,
    AnchorReceipt,
    GroupAnchorer,
    PendingAnchor,
)
from ledger_api.errors import ConflictError, IntegrityError
from ledger_api.store.types import utcnow

PENDING, SENT, ANCHORED = "pending", "sent", "anchored"

# What a receipt records, by the attribute of AnchorReceipt that holds it.
PROVENANCE = ("tx_hash", "block_number", "anchored_at")

FaultHook = Callable[[str], None]
# A transaction that commits on leaving the block; ``durable``: the commit reaches the disk.
Writing = Callable[..., AbstractContextManager[Connection]]


@dataclass(frozen=True)
class JournalTable:
    """Where one anchored kind keeps its journal: which columns of its own table hold what."""

    kind: AnchorKind
    table: Table
    key: str  # the column naming an entry
    state: str  # the column holding its state
    states: tuple[str, str, str]  # that column's values for pending, sent, anchored
    root: str
    sequence: str
    leaf_count: Callable[[Any], int]  # of an entry's row
    reference: Callable[[Any], bytes]  # the 32 bytes anchored with the root
    reads: tuple[str, ...]  # the columns those two read (only these and the above are loaded)
    provenance: tuple[str, ...] = ("tx_hash", "block_number")  # columns among PROVENANCE
    order_by: str | None = None  # resume order (default: the key)

    @property
    def unfinished(self) -> tuple[str, str]:
        return self.states[0], self.states[1]


@dataclass
class Flight:
    """An entry's anchor between :meth:`AnchorJournal.send` and :meth:`AnchorJournal.confirm`."""

    key: Any
    root: bytes
    leaf_count: int
    on_chain: AnchoredRoot | None = None  # found anchored already: nothing sent
    pending: PendingAnchor | None = None  # sent; None with on_chain None: refused as a repeat
    receipt: AnchorReceipt | None = field(default=None)  # set by confirm


def _no_fault(step: str) -> None:
    pass


class AnchorJournal:
    """Anchors the entries of one :class:`JournalTable` through ``anchorer``."""

    def __init__(
        self,
        engine: Engine,
        anchorer: Anchorer,
        table: JournalTable,
        *,
        writing: Writing | None = None,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.engine = engine
        self.anchorer = anchorer
        self.spec = table
        self._writing = writing or self._begin
        self._fault = fault_hook or _no_fault

    @contextmanager
    def _begin(self, *, durable: bool = False) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- the lifecycle -----------------------------------------------------------------------

    def anchor(self, key: Any, *, fresh: bool = False) -> AnchorReceipt | None:
        """Anchor one entry (send, wait, record); its receipt, None if it was done already or
        the node no longer holds the anchor's logs."""
        (flight,) = self.send([key], fresh=fresh)
        return None if flight is None else self.confirm(flight)

    def send(self, keys: Sequence[Any], *, fresh: bool = False) -> list[Flight | None]:
        """Mark the entries ``sent`` (one durable commit) and send their anchors, several
        roots in one transaction when the anchorer can; one flight per key, None for an
        entry anchored already.

        ``fresh``: the entries were stored a moment ago over fresh random salts, so a
        ``pending`` one cannot be on chain and the chain is not asked (a concurrent resume
        that anchored it meanwhile makes the anchorer refuse the repeat, and ``confirm``
        adopts the first anchor). Any other entry is looked up on chain first.
        """
        spec = self.spec
        rows = self._rows(keys)
        flights: list[Flight | None] = []
        to_mark: list[Any] = []
        to_send: list[Flight] = []
        for key in keys:
            row = rows.get(key)
            if row is None:
                raise IntegrityError(f"no {spec.table.name} entry {key!r} to anchor")
            state = getattr(row, spec.state)
            if state == spec.states[2] or state not in spec.unfinished:
                flights.append(None)
                continue
            root = getattr(row, spec.root)
            if root is None:
                raise IntegrityError(f"{spec.table.name} entry {key!r} is {state} without a root")
            flight = Flight(key, bytes(root), spec.leaf_count(row))
            if not (fresh and state == spec.states[0]):
                flight.on_chain = self.anchorer.anchored(flight.root)
            flights.append(flight)
            if flight.on_chain is None:
                to_send.append(flight)
                if state == spec.states[0]:
                    to_mark.append(key)
        if to_mark:
            # Durable before the roots go on chain: an anchored root whose entry a power loss
            # took would be a root nobody can explain.
            self._set_state(to_mark, spec.states[1], durable=True)
            self._fault("anchor_sent")
        if not to_send:
            return flights
        references = {f.key: spec.reference(rows[f.key]) for f in to_send}
        anchorer = self.anchorer
        if len(to_send) > 1 and isinstance(anchorer, GroupAnchorer):
            pending = anchorer.send_anchors(
                spec.kind, [(f.root, f.leaf_count, references[f.key]) for f in to_send]
            )
            for flight, sent in zip(to_send, pending, strict=True):
                flight.pending = sent
            return flights
        for flight in to_send:
            # Refused as anchored meanwhile (another worker, an unseen retry): nothing sent.
            with suppress(ConflictError):
                flight.pending = anchorer.send_anchor(
                    spec.kind, flight.root, flight.leaf_count, references[flight.key]
                )
        return flights

    def confirm(self, flight: Flight) -> AnchorReceipt | None:
        """Wait for the anchor sent and record the entry ``anchored`` with its sequence,
        transaction and block; an anchor this call did not send is adopted from the chain."""
        receipt: AnchorReceipt | None = None
        on_chain = flight.on_chain
        if on_chain is None:
            if flight.pending is not None:
                # Refused once mined as anchored meanwhile (another worker, an unseen retry).
                with suppress(ConflictError):
                    receipt = self.anchorer.confirm_anchor(flight.pending)
            self._fault("anchor_returned")
        if receipt is not None:
            sequence = receipt.sequence
        else:
            # Anchored by a transaction whose receipt this call did not get (sent before a
            # crash, or by a concurrent process): the chain's record must be this entry's,
            # and its transaction is looked up so the entry names it like any other.
            on_chain = on_chain or self.anchorer.anchored(flight.root)
            if on_chain is None:
                raise IntegrityError(f"root 0x{flight.root.hex()} is not on chain after anchoring")
            self._check(flight, on_chain)
            sequence = on_chain.sequence
            receipt = self.anchorer.anchor_transaction(flight.root)
            if receipt is not None and receipt.sequence != sequence:
                raise IntegrityError(
                    f"root 0x{flight.root.hex()} is anchored under sequence {sequence}, but its "
                    f"Anchored log says {receipt.sequence}"
                )
        values: dict[str, Any] = {self.spec.sequence: sequence}
        if receipt is not None:  # None: the node no longer holds the anchor's logs
            for name in self.spec.provenance:
                values[name] = getattr(receipt, name)
        self._set_state([flight.key], self.spec.states[2], **values)
        flight.receipt = receipt
        self._fault("anchored")
        return receipt

    def resume(self) -> list[Any]:
        """Finish every entry a crash left ``pending`` or ``sent``, in order; their keys."""
        keys = self.unfinished()
        for key in keys:
            self.anchor(key)
        return keys

    def unfinished(self) -> list[Any]:
        spec = self.spec
        table = spec.table
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(table.c[spec.key])
                    .where(table.c[spec.state].in_(spec.unfinished))
                    .order_by(table.c[spec.order_by or spec.key])
                ).scalars()
            )

    # -- rows --------------------------------------------------------------------------------

    def _rows(self, keys: Sequence[Any]) -> dict[Any, Any]:
        spec = self.spec
        table = spec.table
        names = dict.fromkeys((spec.key, spec.state, spec.root, *spec.reads))
        columns = [table.c[name] for name in names]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns).where(table.c[spec.key].in_(keys))).all()
        return {getattr(row, spec.key): row for row in rows}

    def _set_state(
        self, keys: list[Any], state: str, *, durable: bool = False, **values: Any
    ) -> None:
        spec = self.spec
        table = spec.table
        if "updated_at" in table.c:
            values["updated_at"] = utcnow()
        with self._writing(durable=durable) as conn:
            conn.execute(
                update(table)
                .where(table.c[spec.key].in_(keys))
                .values({spec.state: state, **values})
            )

    def _check(self, flight: Flight, on_chain: AnchoredRoot) -> None:
        if on_chain.kind != self.spec.kind or on_chain.leaf_count != flight.leaf_count:
            raise IntegrityError(
                f"root of {self.spec.table.name} entry {flight.key!r} is anchored as "
                f"{on_chain.kind.name} with {on_chain.leaf_count} leaves, expected "
                f"{self.spec.kind.name} with {flight.leaf_count}"
            )
