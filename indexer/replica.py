"""``ReplicaState``: ``ledger_api.chain.state.ChainState`` answered from the indexer's tables.

    state = ReplicaState(engine)              # the latest indexed state
    past = ReplicaState(engine, at_block=N)   # the state right after block N (audit)
    past = state.at(N)

Every lookup is one indexed query on a short-lived connection, so one instance can be shared
by the API's worker threads (given a ``Connection`` instead, it reads on that connection: the
audit views do). Given ``connect`` (the API's ``ReadConnections.connect``), look-ups run on the
connection it hands out: on the event loop's thread a held one, so PostgreSQL look-ups pay no
pool checkout, ping or reset, and psycopg's server-side prepared statements (prepared per
connection after a few executions) keep being reused. Each query is built and compiled once
(``ledger_api.store.compiled``) and run on the driver's cursor; ``decision_inputs`` reads all
that a grant-checked read decides on in one statement (``indexer.decision_inputs``).
``position()`` is the checkpoint (or block N): the API compares it with the chain head to
refuse decisions on a lagging replica.

Difference from the contract, on purpose: a revoked grant keeps its terms here (the contract
zeroes them); ``revoked`` is what every check looks at first, and auditors want the terms.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Select,
    bindparam,
    or_,
    select,
)

from indexer.decision_inputs import read_decision_inputs
from indexer.replica_rows import checksum_address, live
from indexer.tables import (
    AGREEMENTS,
    BLOCKS,
    CHECKPOINT,
    DISPUTES,
    GRANTS,
    INSTITUTIONS,
    ROLE_MEMBERS,
    SUBJECT_BINDINGS,
)
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import (
    AgreementRecord,
    DecisionInputs,
    InstitutionProfile,
    StatePoint,
    SubjectBinding,
)
from ledger_api.chain.types import (
    AccessLevel,
    AgreementStatus,
    DisputeOutcome,
    DisputeStatus,
    InstitutionType,
    Purpose,
)
from ledger_api.store.compiled import CompiledQuery

# checksum_address is imported from here by the API and the benchmarks.
__all__ = ["ReplicaState", "checksum_address", "grant_from_row"]

_PROTOCOL_ROLES = frozenset({"operator", "provider", "regulator"})
_HIDING_OUTCOMES = (int(DisputeOutcome.UPHELD), int(DisputeOutcome.REPAIRED))

# Only the columns the answers are built from: psycopg describes and decodes every column of
# every result, so the gate's look-ups fetch nothing they do not use (about 8% per look-up).
_GRANT_COLUMNS = tuple(
    GRANTS.c[name]
    for name in ("grant_id", "subject_index", "institution_index", "categories", "purpose",
                 "level", "not_before", "not_after", "max_uses", "revoked")
)  # fmt: skip
_INSTITUTION_COLUMNS = tuple(
    INSTITUTIONS.c[name]
    for name in ("address", "institution_index", "kind", "name", "suspended", "agreement_id")
)
_AGREEMENT_COLUMNS = tuple(
    AGREEMENTS.c[name] for name in ("categories", "purposes", "not_before", "not_after", "status")
)
_SUBJECT_COLUMNS = tuple(
    SUBJECT_BINDINGS.c[name] for name in ("subject_id", "subject_index", "account")
)


def grant_from_row(row: Any) -> GrantState:
    return GrantState(
        grant_id=row.grant_id,
        subject_index=row.subject_index,
        institution_index=row.institution_index,
        categories=row.categories,
        purpose=Purpose(row.purpose),
        level=AccessLevel(row.level),
        not_before=row.not_before,
        not_after=row.not_after,
        max_uses=row.max_uses,
        revoked=bool(row.revoked),
    )


def _institution_from_row(row: Any) -> InstitutionProfile:
    return InstitutionProfile(
        address=row.address,
        index=row.institution_index,
        kind=InstitutionType(row.kind),
        name=row.name,
        suspended=bool(row.suspended),
        agreement_id=row.agreement_id,
    )


def _agreement_from_row(row: Any) -> AgreementState:
    return AgreementState(row.categories, row.purposes, row.not_before, row.not_after,
                          AgreementStatus(row.status))  # fmt: skip


def _subject_from_row(row: Any) -> SubjectBinding:
    return SubjectBinding(subject_id=row.subject_id, subject_index=row.subject_index,
                          account=row.account)  # fmt: skip


Queries = tuple[CompiledQuery, CompiledQuery]  # (the state now, the state at :at_block)


def _both(build: Callable[[bool], Select[Any]]) -> Queries:
    return CompiledQuery(build(False)), CompiledQuery(build(True))


_POSITION = CompiledQuery(select(CHECKPOINT.c.block_number, CHECKPOINT.c.block_timestamp))
_POSITION_OF_CHAIN = CompiledQuery(
    select(CHECKPOINT.c.block_number, CHECKPOINT.c.block_timestamp).where(
        CHECKPOINT.c.chain_id == bindparam("chain_id")
    )
)
_GRANT = _both(
    lambda pinned: select(*_GRANT_COLUMNS).where(
        GRANTS.c.grant_id == bindparam("grant_id"), live(GRANTS, pinned)
    )
)
_GRANTS_OF_SUBJECT = _both(
    lambda pinned: (
        select(*_GRANT_COLUMNS)
        .where(GRANTS.c.subject_index == bindparam("subject_index"), live(GRANTS, pinned))
        .order_by(GRANTS.c.grant_id)
    )
)
_GRANTS_OF_INSTITUTION = _both(
    lambda pinned: (
        select(*_GRANT_COLUMNS)
        .where(GRANTS.c.institution == bindparam("address"), live(GRANTS, pinned))
        .order_by(GRANTS.c.grant_id)
    )
)
_AGREEMENTS_OF_INSTITUTION = _both(
    lambda pinned: (
        select(AGREEMENTS)
        .where(AGREEMENTS.c.institution == bindparam("address"), live(AGREEMENTS, pinned))
        .order_by(AGREEMENTS.c.agreement_id)
    )
)
_INSTITUTION = _both(
    lambda pinned: select(*_INSTITUTION_COLUMNS).where(
        INSTITUTIONS.c.address == bindparam("address"), live(INSTITUTIONS, pinned)
    )
)
_INSTITUTION_AT = _both(
    lambda pinned: select(*_INSTITUTION_COLUMNS).where(
        INSTITUTIONS.c.institution_index == bindparam("index"), live(INSTITUTIONS, pinned)
    )
)
_AGREEMENT = _both(
    lambda pinned: select(*_AGREEMENT_COLUMNS).where(
        AGREEMENTS.c.agreement_id == bindparam("agreement_id"), live(AGREEMENTS, pinned)
    )
)
_SUBJECT_BY = {
    column: _both(
        lambda pinned, column=column: select(*_SUBJECT_COLUMNS).where(  # type: ignore[misc]
            SUBJECT_BINDINGS.c[column] == bindparam("value"), live(SUBJECT_BINDINGS, pinned)
        )
    )
    for column in ("account", "subject_id", "subject_index")
}
_ROLES = _both(
    lambda pinned: select(ROLE_MEMBERS.c.role_name).where(
        ROLE_MEMBERS.c.account == bindparam("account"), live(ROLE_MEMBERS, pinned)
    )
)
_OPEN_DISPUTE_LEAVES = _both(
    lambda pinned: select(DISPUTES.c.leaf).where(
        DISPUTES.c.subject_index == bindparam("subject_index"),
        DISPUTES.c.status == int(DisputeStatus.OPEN),
        live(DISPUTES, pinned),
    )
)
_HIDDEN_LEAVES = _both(
    lambda pinned: select(DISPUTES.c.leaf).where(
        DISPUTES.c.subject_index == bindparam("subject_index"),
        or_(*(DISPUTES.c.outcome == outcome for outcome in _HIDING_OUTCOMES)),
        live(DISPUTES, pinned),
    )
)
_BLOCK_TIMESTAMP = CompiledQuery(
    select(BLOCKS.c.timestamp)
    .where(BLOCKS.c.number <= bindparam("number", type_=BigInteger))
    .order_by(BLOCKS.c.number.desc())
    .limit(1)
)


class ReplicaState:
    """The replica as a ``ChainState``, now or at a past block."""

    def __init__(
        self,
        engine: Engine | Connection,
        *,
        at_block: int | None = None,
        chain_id: int | None = None,
        connect: Callable[[], AbstractContextManager[Connection]] | None = None,
    ) -> None:
        self.engine = engine
        self.at_block = at_block
        self.chain_id = chain_id
        self._connect = connect

    def at(self, block: int) -> ReplicaState:
        return ReplicaState(
            self.engine, at_block=block, chain_id=self.chain_id, connect=self._connect
        )

    def _connection(self) -> AbstractContextManager[Connection]:
        if isinstance(self.engine, Connection):
            return contextlib.nullcontext(self.engine)
        if self._connect is not None:
            return self._connect()
        return self.engine.connect()

    def _rows(self, query: CompiledQuery | Queries, params: dict[str, Any]) -> list[Any]:
        """``query`` (or the one of a pair that reads this state's block) on this state's
        connection: one statement compiled once, no Core construction per look-up."""
        if isinstance(query, tuple):
            query = query[self.at_block is not None]
            if self.at_block is not None:
                params["at_block"] = self.at_block
        with self._connection() as conn:
            return query.all(conn, **params)

    def _first(self, query: CompiledQuery | Queries, **params: Any) -> Any:
        rows = self._rows(query, params)
        return rows[0] if rows else None

    def _all(self, query: CompiledQuery | Queries, **params: Any) -> list[Any]:
        return self._rows(query, params)

    # -- ChainState ----------------------------------------------------------------------------
    def position(self) -> StatePoint:
        """The checkpoint (or ``at_block``); block -1 while nothing is indexed yet."""
        if self.chain_id is None:
            row = self._first(_POSITION)
        else:
            row = self._first(_POSITION_OF_CHAIN, chain_id=self.chain_id)
        return self.point_of(None if row is None else (row.block_number, row.block_timestamp))

    def point_of(self, checkpoint: tuple[int, int] | None) -> StatePoint:
        """The position given the checkpoint's ``(block_number, block_timestamp)`` or None."""
        if checkpoint is None:
            return StatePoint(block_number=-1, block_timestamp=0)
        number, timestamp = checkpoint
        if self.at_block is None or self.at_block >= number:
            return StatePoint(block_number=number, block_timestamp=timestamp)
        return StatePoint(
            block_number=self.at_block, block_timestamp=self.block_timestamp(self.at_block)
        )

    def grant(self, grant_id: int) -> GrantState | None:
        row = self._first(_GRANT, grant_id=grant_id)
        return None if row is None else grant_from_row(row)

    def grants_of_subject(self, subject_index: int) -> list[GrantState]:
        rows = self._all(_GRANTS_OF_SUBJECT, subject_index=subject_index)
        return [grant_from_row(r) for r in rows]

    def grants_of_institution(self, address: str) -> list[GrantState]:
        rows = self._all(_GRANTS_OF_INSTITUTION, address=checksum_address(address))
        return [grant_from_row(r) for r in rows]

    def agreements_of_institution(self, address: str) -> list[AgreementRecord]:
        rows = self._all(_AGREEMENTS_OF_INSTITUTION, address=checksum_address(address))
        return [
            AgreementRecord(
                agreement_id=r.agreement_id,
                institution=r.institution,
                categories=r.categories,
                purposes=r.purposes,
                not_before=r.not_before,
                not_after=r.not_after,
                document_hash=bytes(r.document_hash),
                status=AgreementStatus(r.status),
            )
            for r in rows
        ]

    def institution(self, address: str) -> InstitutionProfile | None:
        row = self._first(_INSTITUTION, address=checksum_address(address))
        return None if row is None else _institution_from_row(row)

    def institution_at(self, index: int) -> InstitutionProfile | None:
        row = self._first(_INSTITUTION_AT, index=index)
        return None if row is None else _institution_from_row(row)

    def agreement(self, agreement_id: int) -> AgreementState | None:
        row = self._first(_AGREEMENT, agreement_id=agreement_id)
        return None if row is None else _agreement_from_row(row)

    def subject_by_account(self, address: str) -> SubjectBinding | None:
        return self._subject("account", checksum_address(address))

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None:
        return self._subject("subject_id", bytes(subject_id))

    def subject_by_index(self, subject_index: int) -> SubjectBinding | None:
        return self._subject("subject_index", subject_index)

    def _subject(self, column: str, value: Any) -> SubjectBinding | None:
        row = self._first(_SUBJECT_BY[column], value=value)
        return None if row is None else _subject_from_row(row)

    def roles_of(self, address: str) -> set[str]:
        rows = self._all(_ROLES, account=checksum_address(address))
        return {r.role_name for r in rows} & _PROTOCOL_ROLES

    def open_dispute_leaves(self, subject_index: int) -> set[bytes]:
        rows = self._all(_OPEN_DISPUTE_LEAVES, subject_index=subject_index)
        return {bytes(r.leaf) for r in rows}

    def hidden_leaves(self, subject_index: int) -> set[bytes]:
        rows = self._all(_HIDDEN_LEAVES, subject_index=subject_index)
        return {bytes(r.leaf) for r in rows}

    # -- beyond the protocol -------------------------------------------------------------------
    def decision_inputs(self, address: str, subject_id: bytes, grant_id: int) -> DecisionInputs:
        """What a grant-checked read decides on, in one statement (``indexer.decision_inputs``)."""
        with self._connection() as conn:
            return read_decision_inputs(
                conn,
                self.point_of,
                address=address,
                subject_id=bytes(subject_id),
                grant_id=grant_id,
                chain_id=self.chain_id,
                at_block=self.at_block,
            )

    def block_timestamp(self, number: int) -> int:
        """Timestamp of block ``number`` if stored, else of the closest stored block below it
        (a lower bound: blocks without events are stored only near the head)."""
        row = self._first(_BLOCK_TIMESTAMP, number=number)
        return 0 if row is None else int(row.timestamp)
