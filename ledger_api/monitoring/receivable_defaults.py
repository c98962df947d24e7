"""Risk events from the supply chain: a part declared in default (``PartDefaulted``) becomes a
``receivable_default`` event about the receivable's debtor.

The risk is about the debtor, the core enterprise: a default means it did not pay at maturity
what it had confirmed it owes. The holder of the part (a supplier, or a supplier further down
the chain) is the one left unpaid, and the bank that financed the part declared or saw the
default itself. So the alert goes to the institutions monitoring the core enterprise under a
``post_loan_monitoring`` grant usable for ``supply_chain``; it is not PUBLIC. It names no
record (the default is a chain fact, not a record of the core enterprise): the part is in the
regulator's ``supply_chain`` view and, for its financier, in ``GET /institution/parts``.

Defaults are read from the indexer's replica (``chain_events``), so one counts whoever sent
it. Each part gives one event: ``supply_chain_alerts`` keeps the part beside its outbox event,
written in one transaction, so a replayed log, a reorg that brings the default back or a
second declaration (holder and financier may both declare) writes nothing new.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, and_, insert, select
from sqlalchemy.exc import IntegrityError

from indexer.tables import BLOCKS, EVENTS, RECEIVABLES
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.state import ChainState
from ledger_api.monitoring.rules import MonitoringRules, default_rules
from ledger_api.store.monitoring_tables import OUTBOX
from ledger_api.store.supply_chain import SUPPLY_CHAIN_ALERTS

EVENT = "PartDefaulted"
CATEGORY = "supply_chain"


class ReceivableDefaults:
    """One pass writes the outbox event of every default not yet alerted; the fan-out then
    delivers it like any risk event."""

    def __init__(
        self,
        engine: Engine,
        state: Callable[[], ChainState],
        *,
        rules: MonitoringRules | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.state = state
        self.rules = rules or default_rules()
        self.clock = clock
        kind = self.rules.chain_kind(EVENT)
        self.kind = None if kind is None else self.rules.kind_code(kind)
        self.category = default_catalog().category(CATEGORY).bit

    def run_once(self) -> int:
        """Write the outbox events of new defaults; how many."""
        if self.kind is None:  # a catalog without the rule: no such events
            return 0
        try:
            with self.engine.begin() as conn:
                done = {
                    int(p)
                    for p in conn.execute(
                        select(SUPPLY_CHAIN_ALERTS.c.part_id).where(
                            SUPPLY_CHAIN_ALERTS.c.kind == self.kind
                        )
                    ).scalars()
                }
                declared = conn.execute(
                    select(EVENTS.c.block_number, EVENTS.c.args, BLOCKS.c.timestamp)
                    .join(
                        BLOCKS,
                        and_(
                            BLOCKS.c.chain_id == EVENTS.c.chain_id,
                            BLOCKS.c.number == EVENTS.c.block_number,
                        ),
                        isouter=True,
                    )
                    .where(EVENTS.c.name == EVENT)
                    .order_by(EVENTS.c.block_number, EVENTS.c.log_index)
                ).all()
                written = 0
                for event in declared:
                    args = json.loads(event.args)
                    part_id = int(args["partId"])
                    if part_id in done:
                        continue
                    subject_id = self._debtor_subject(conn, int(args["receivableId"]))
                    if subject_id is None:  # not yet replicated: the next pass finds it
                        continue
                    outbox_id = conn.execute(
                        insert(OUTBOX)
                        .values(
                            subject_id=subject_id,
                            category=self.category,
                            kind=self.kind,
                            record_uid=None,
                            public=False,
                            occurred_at=int(event.timestamp or self.clock()),
                        )
                        .returning(OUTBOX.c.id)
                    ).scalar_one()
                    conn.execute(
                        insert(SUPPLY_CHAIN_ALERTS).values(
                            kind=self.kind,
                            part_id=part_id,
                            outbox_id=outbox_id,
                            block_number=event.block_number,
                        )
                    )
                    done.add(part_id)
                    written += 1
                return written
        except IntegrityError:  # another API worker wrote the same parts first: all rolled back
            return 0

    def _debtor_subject(self, conn: Connection, receivable_id: int) -> bytes | None:
        """The subject id of the receivable's debtor (the replica's current version)."""
        row = conn.execute(
            select(RECEIVABLES.c.debtor).where(
                RECEIVABLES.c.receivable_id == receivable_id,
                RECEIVABLES.c.valid_to_block.is_(None),
            )
        ).first()
        if row is None:
            return None
        binding = self.state().subject_by_account(str(row.debtor))
        return None if binding is None else bytes(binding.subject_id)
