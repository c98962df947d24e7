"""Fan-out: outbox events become numbered events of the subscriptions they match.

Risk events go to the ``risk_alerts`` subscriptions of every institution holding a
``post_loan_monitoring`` grant of the subject that is usable for the event's category at
this moment (``grant_rules.check_grant`` over chain state); PUBLIC events go to the
``public_push`` subscriptions whose regions and industry sections match the subject and whose
institution's active agreement covers the category. One transaction per pass numbers the
events, advances each subscription's ``last_number`` and the outbox cursor, so a crash
leaves either all of a pass or none of it. Paused subscriptions keep collecting events
(delivery waits); deleted ones get none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update

from ledger_api.chain.grant_rules import GrantState
from ledger_api.chain.state import ChainState, InstitutionProfile
from ledger_api.chain.types import AgreementStatus, GrantCheck, Purpose
from ledger_api.monitoring.rules import default_rules
from ledger_api.monitoring.subscriptions import (
    ACTIVE,
    PAUSED,
    PUBLIC_PUSH,
    RISK_ALERTS,
    monitoring_check,
)
from ledger_api.store.bulk import insert_columns
from ledger_api.store.monitoring_tables import (
    OUTBOX,
    OUTBOX_CURSOR,
    SUBSCRIPTION_EVENTS,
    SUBSCRIPTIONS,
)

Clock = Callable[[], float]
# An outbox event's columns, in the order the alert rows carry them after (sub, number, grant).
_EVENT_COLUMNS = ("id", "subject_id", "category", "kind", "record_uid", "occurred_at", "region",
                  "industry")  # fmt: skip
_ALERT_COLUMNS = ("subscription_id", "number", "grant_id", "outbox_id", "subject_id", "category",
                  "kind", "record_uid", "occurred_at")  # fmt: skip


@dataclass
class _Sub:
    id: int
    institution: str
    categories: int
    regions: frozenset[int | None]
    industries: frozenset[int | None]
    last_number: int

    def covers(self, category: int) -> bool:
        return not self.categories or bool(self.categories >> category & 1)


@dataclass
class _Lookups:
    """Chain-state answers reused within one pass (one block's view)."""

    state: ChainState
    now: int
    grants: dict[bytes, list[GrantState]] = field(default_factory=dict)
    profiles: dict[int, InstitutionProfile | None] = field(default_factory=dict)
    usable: dict[tuple[int, int], bool] = field(default_factory=dict)
    agreements: dict[tuple[str, int], bool] = field(default_factory=dict)

    def monitoring_grants(self, subject_id: bytes) -> list[GrantState]:
        found = self.grants.get(subject_id)
        if found is None:
            binding = self.state.subject_by_id(subject_id)
            found = (
                []
                if binding is None
                else [
                    g
                    for g in self.state.grants_of_subject(binding.subject_index)
                    if g.purpose == Purpose.POST_LOAN_MONITORING and not g.revoked
                ]
            )
            self.grants[subject_id] = found
        return found

    def profile(self, index: int) -> InstitutionProfile | None:
        if index not in self.profiles:
            self.profiles[index] = self.state.institution_at(index)
        return self.profiles[index]

    def grant_usable(self, grant: GrantState, profile: InstitutionProfile, category: int) -> bool:
        key = (grant.grant_id, category)
        if key not in self.usable:
            check = monitoring_check(self.state, profile, grant, category, self.now)
            self.usable[key] = check == GrantCheck.USABLE
        return self.usable[key]

    def agreement_covers(self, profile: InstitutionProfile, category: int) -> bool:
        key = (profile.address, category)
        if key not in self.agreements:
            agreement = self.state.agreement(profile.agreement_id) if profile.agreement_id else None
            self.agreements[key] = bool(
                agreement is not None
                and not profile.suspended
                and agreement.status == AgreementStatus.ACTIVE
                and agreement.not_before <= self.now < agreement.not_after
                and agreement.categories >> category & 1
            )
        return self.agreements[key]


class FanOut:
    def __init__(
        self,
        engine: Engine,
        state: Callable[[], ChainState],
        *,
        clock: Clock = time.time,
        batch: int = 20_000,
    ) -> None:
        self.engine = engine
        self.state = state
        self.clock = clock
        self.batch = batch
        self._institutions: dict[str, InstitutionProfile | None] = {}

    def run_once(self) -> int:
        """Fan out the next outbox events; returns how many subscription events it wrote."""
        state = self.state()
        point = state.position()
        look = _Lookups(state, max(point.block_timestamp, int(self.clock())))
        created = self.clock()
        self._institutions = {}  # one pass, one view of chain state
        with self.engine.begin() as conn:
            # FOR UPDATE: a second API worker's fan-out waits here instead of numbering the
            # same events (SQLite serialises writers anyway).
            cursor = conn.execute(
                select(OUTBOX_CURSOR.c.position).where(OUTBOX_CURSOR.c.id == 1).with_for_update()
            ).scalar_one_or_none()
            if cursor is None:
                conn.execute(insert(OUTBOX_CURSOR).values(id=1, position=0))
                cursor = 0
            events = conn.execute(
                select(*(OUTBOX.c[name] for name in _EVENT_COLUMNS), OUTBOX.c.public)
                .where(OUTBOX.c.id > cursor)
                .order_by(OUTBOX.c.id)
                .limit(self.batch)
            ).all()
            if not events:
                return 0
            risk, public = self._subscriptions(conn)
            alerts: list[tuple[Any, ...]] = []  # one row of subscription_events per alert
            touched: dict[int, _Sub] = {}

            def add(sub: _Sub, event: Any, grant_id: int | None) -> None:
                sub.last_number += 1
                touched[sub.id] = sub
                alerts.append((sub.id, sub.last_number, grant_id, *event[:6]))

            for event in events:
                if risk:
                    self._risk(look, risk, event, add)
                if public and event.public:
                    self._public(look, public, event, add)
            if alerts:
                insert_columns(
                    conn,
                    SUBSCRIPTION_EVENTS,
                    dict(
                        zip(
                            _ALERT_COLUMNS,
                            (list(c) for c in zip(*alerts, strict=True)),
                            strict=True,
                        )
                    ),
                    {"created_at": created, "attempts": 0},
                )
            if touched:
                conn.execute(
                    update(SUBSCRIPTIONS)
                    .where(SUBSCRIPTIONS.c.id == bindparam("sub"))
                    .values(last_number=bindparam("last")),
                    [{"sub": sub.id, "last": sub.last_number} for sub in touched.values()],
                )
            conn.execute(
                update(OUTBOX_CURSOR).where(OUTBOX_CURSOR.c.id == 1).values(position=events[-1].id)
            )
        return len(alerts)

    @staticmethod
    def _risk(
        look: _Lookups,
        risk: dict[str, list[_Sub]],
        event: Any,
        add: Callable[[_Sub, Any, int | None], None],
    ) -> None:
        alerted: set[int] = set()
        for grant in look.monitoring_grants(bytes(event.subject_id)):
            profile = look.profile(grant.institution_index)
            if profile is None:
                continue
            subs = risk.get(profile.address)
            if not subs or not look.grant_usable(grant, profile, event.category):
                continue
            for sub in subs:
                if sub.id not in alerted and sub.covers(event.category):
                    alerted.add(sub.id)
                    add(sub, event, grant.grant_id)

    def _public(
        self,
        look: _Lookups,
        public: list[_Sub],
        event: Any,
        add: Callable[[_Sub, Any, int | None], None],
    ) -> None:
        for sub in public:
            if sub.regions and event.region not in sub.regions:
                continue
            if sub.industries and event.industry not in sub.industries:
                continue
            if not sub.covers(event.category):
                continue
            profile = self._institution(look, sub.institution)
            if profile is not None and look.agreement_covers(profile, event.category):
                add(sub, event, None)

    def _institution(self, look: _Lookups, address: str) -> InstitutionProfile | None:
        if address not in self._institutions:
            self._institutions[address] = look.state.institution(address)
        return self._institutions[address]

    @staticmethod
    def _subscriptions(conn: Any) -> tuple[dict[str, list[_Sub]], list[_Sub]]:
        risk: dict[str, list[_Sub]] = {}
        public: list[_Sub] = []
        rows = conn.execute(
            select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.status.in_((ACTIVE, PAUSED, "disabled")))
        )
        for row in rows:
            rules = default_rules()  # the profiles hold codes (see MonitoringRules)
            sub = _Sub(
                row.id,
                row.institution,
                row.categories,
                frozenset(rules.region_code(r) for r in json.loads(row.regions)),
                frozenset(rules.industry_code(i) for i in json.loads(row.industries)),
                row.last_number,
            )
            if row.kind == RISK_ALERTS:
                risk.setdefault(row.institution, []).append(sub)
            elif row.kind == PUBLIC_PUSH:
                public.append(sub)
        return risk, public
