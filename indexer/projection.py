"""Apply decoded events, in chain order, to the versioned state tables (and undo them).

The projection runs inside the store's one transaction per chunk. Rows opened in the chunk are
kept in memory and inserted in bulk at ``flush()``; a later event of the same chunk that
changes such a row edits it in memory. Rows from earlier chunks are read and closed with one
indexed statement each. A chunk of 100,000 ``GrantIssued`` is therefore one executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, select, update
from web3 import Web3

from indexer.decode import EventRecord
from indexer.errors import IndexerError
from indexer.gate_rows import keys_changed_after, refresh_gate_rows
from indexer.receivables_projection import supply_chain_handlers
from indexer.tables import (
    AGREEMENTS,
    ANCHORS,
    APPEND_ONLY_TABLES,
    DISPUTES,
    GRANTS,
    INSTITUTIONS,
    NONCE_INCREASES,
    RECEIVABLE_PARTS,
    RECEIVABLES,
    ROLE_MEMBERS,
    SUBJECT_BINDINGS,
    VERSIONED_TABLES,
)
from ledger_api.chain.grant_layout import decode_grant_word
from ledger_api.chain.types import AgreementStatus, DisputeOutcome, DisputeStatus
from ledger_api.store.bulk import bulk_insert

ADMIN_ROLE = b"\x00" * 32
ROLE_NAMES: dict[bytes, str] = {
    ADMIN_ROLE: "admin",
    **{
        bytes(Web3.keccak(text=f"{n}_ROLE")): n.lower()
        for n in ("OPERATOR", "PROVIDER", "REGULATOR")
    },
}


def role_name(role: bytes) -> str:
    return ROLE_NAMES.get(role, "0x" + role.hex())


class _Versions:
    """Open/close versions of one entity type within a chunk."""

    def __init__(self, conn: Connection, table: Table, key: Sequence[str]) -> None:
        self.conn = conn
        self.table = table
        self.key = tuple(key)
        self.columns = tuple(c.name for c in table.columns if c.name != "id")
        self._pending: list[dict[str, Any]] = []
        self._latest: dict[tuple[Any, ...], dict[str, Any]] = {}  # rows opened in this chunk
        self.touched: set[tuple[Any, ...]] = set()  # keys opened or closed (the gate's rows)

    def current(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        row = self._latest.get(key)
        if row is not None:
            return row if row["valid_to_block"] is None else None
        condition = and_(
            *(self.table.c[name] == value for name, value in zip(self.key, key, strict=True)),
            self.table.c.valid_to_block.is_(None),
        )
        found = self.conn.execute(select(self.table).where(condition)).mappings().first()
        return None if found is None else dict(found)

    def open(self, values: dict[str, Any], at: EventRecord) -> None:
        row = {**values, "valid_from_block": at.block_number, "valid_from_log": at.log_index,
               "valid_to_block": None}  # fmt: skip
        row.pop("id", None)
        self._pending.append(row)
        key = tuple(row[name] for name in self.key)
        self._latest[key] = row
        self.touched.add(key)

    def close(self, row: dict[str, Any], at: EventRecord) -> None:
        if "id" in row:  # stored by an earlier chunk
            self.conn.execute(
                update(self.table)
                .where(self.table.c.id == row["id"])
                .values(valid_to_block=at.block_number)
            )
        row["valid_to_block"] = at.block_number
        self.touched.add(tuple(row[name] for name in self.key))

    def change(self, key: tuple[Any, ...], at: EventRecord, **changes: Any) -> None:
        row = self.current(key)
        if row is None:
            raise IndexerError(
                f"{at.name} at block {at.block_number} changes unknown {self.table.name} {key}; "
                "is the deployment block right?",
                code="replica_inconsistent",
            )
        self.close(row, at)
        self.open({**row, **changes}, at)

    def flush(self) -> None:
        bulk_insert(
            self.conn, self.table, self.columns,
            [tuple(row[c] for c in self.columns) for row in self._pending],
        )  # fmt: skip
        self._pending.clear()
        self._latest.clear()


class Projector:
    """Turns one chunk of events into state-table writes. Use once per transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.roles = _Versions(conn, ROLE_MEMBERS, ("role", "account"))
        self.institutions = _Versions(conn, INSTITUTIONS, ("address",))
        self.subjects = _Versions(conn, SUBJECT_BINDINGS, ("subject_index",))
        self.grants = _Versions(conn, GRANTS, ("grant_id",))
        self.agreements = _Versions(conn, AGREEMENTS, ("agreement_id",))
        self.disputes = _Versions(conn, DISPUTES, ("dispute_id",))
        self.receivables = _Versions(conn, RECEIVABLES, ("receivable_id",))
        self.parts = _Versions(conn, RECEIVABLE_PARTS, ("part_id",))
        self._anchors: list[tuple[Any, ...]] = []
        self._nonces: list[tuple[Any, ...]] = []
        self._handlers: dict[str, Callable[[EventRecord], None]] = {
            "RoleGranted": self._role_granted,
            "RoleRevoked": self._role_revoked,
            "InstitutionRegistered": self._institution_registered,
            "InstitutionSuspended": lambda e: self._institution_flag(e, True),
            "InstitutionReinstated": lambda e: self._institution_flag(e, False),
            "SubjectBound": self._subject_bound,
            "SubjectRebound": self._subject_rebound,
            "GrantIssued": self._grant_issued,
            "GrantRevoked": self._grant_revoked,
            "AgreementProposed": self._agreement_proposed,
            "AgreementAccepted": self._agreement_accepted,
            "AgreementSuperseded": lambda e: self._agreement_status(e, AgreementStatus.SUPERSEDED),
            "AgreementWithdrawn": lambda e: self._agreement_status(e, AgreementStatus.WITHDRAWN),
            "AgreementSuspended": lambda e: self._agreement_status(e, AgreementStatus.SUSPENDED),
            "AgreementReinstated": lambda e: self._agreement_status(e, AgreementStatus.ACTIVE),
            "AgreementTerminated": lambda e: self._agreement_status(e, AgreementStatus.TERMINATED),
            "Anchored": self._anchored,
            "DisputeOpened": self._dispute_opened,
            "DisputeResolved": self._dispute_resolved,
            "NonceIncreased": self._nonce_increased,
            **supply_chain_handlers(self.receivables, self.parts),
        }

    def apply(self, event: EventRecord) -> None:
        handler = self._handlers.get(event.name)
        if handler is not None:  # RoleAdminChanged, EIP712DomainChanged: raw events only
            handler(event)

    def apply_all(self, events: Iterable[EventRecord]) -> None:
        for event in events:
            self.apply(event)

    def flush(self) -> None:
        for versions in (self.roles, self.institutions, self.subjects, self.grants,
                         self.agreements, self.disputes, self.receivables,
                         self.parts):  # fmt: skip
            versions.flush()
        bulk_insert(self.conn, ANCHORS, _ANCHOR_COLUMNS, self._anchors)
        bulk_insert(self.conn, NONCE_INCREASES, _NONCE_COLUMNS, self._nonces)
        self._anchors.clear()
        self._nonces.clear()
        touched = (self.grants, self.subjects, self.institutions, self.agreements)
        refresh_gate_rows(
            self.conn,
            grant_ids=(k[0] for k in self.grants.touched),
            subject_indexes=(k[0] for k in self.subjects.touched),
            addresses=(k[0] for k in self.institutions.touched),
            agreement_ids=(k[0] for k in self.agreements.touched),
        )
        for versions in touched:
            versions.touched.clear()

    # -- members -------------------------------------------------------------------------------
    def _role_granted(self, e: EventRecord) -> None:
        role, account = bytes(e.args["role"]), e.args["account"]
        if self.roles.current((role, account)) is None:  # AccessControl emits only on change
            self.roles.open({"role": role, "role_name": role_name(role), "account": account}, e)

    def _role_revoked(self, e: EventRecord) -> None:
        row = self.roles.current((bytes(e.args["role"]), e.args["account"]))
        if row is not None:
            self.roles.close(row, e)

    def _institution_registered(self, e: EventRecord) -> None:
        self.institutions.open(
            {
                "address": e.args["institution"],
                "institution_index": e.args["index"],
                "kind": e.args["kind"],
                "name": e.args["name"],
                "suspended": False,
                "agreement_id": 0,
                "registered_block": e.block_number,
            },
            e,
        )

    def _institution_flag(self, e: EventRecord, suspended: bool) -> None:
        self.institutions.change((e.args["institution"],), e, suspended=suspended)

    def _subject_bound(self, e: EventRecord) -> None:
        self.subjects.open(
            {
                "subject_index": e.args["subjectIndex"],
                "subject_id": e.args["subjectId"],
                "account": e.args["account"],
            },
            e,
        )

    def _subject_rebound(self, e: EventRecord) -> None:
        self.subjects.change((e.args["subjectIndex"],), e, account=e.args["account"])

    # -- grants --------------------------------------------------------------------------------
    def _grant_issued(self, e: EventRecord) -> None:
        word = decode_grant_word(e.args["terms"])
        self.grants.open(
            {
                "grant_id": e.args["grantId"],
                "subject_index": word.subject_index,
                "institution_index": word.institution_index,
                "institution": e.args["institution"],
                "categories": word.categories,
                "purpose": int(word.purpose),
                "level": int(word.level),
                "not_before": word.not_before,
                "not_after": word.not_after,
                "max_uses": word.max_uses,
                "revoked": False,
                "issued_block": e.block_number,
                "issued_tx": e.tx_hash,
            },
            e,
        )

    def _grant_revoked(self, e: EventRecord) -> None:
        self.grants.change((e.args["grantId"],), e, revoked=True)

    # -- agreements ----------------------------------------------------------------------------
    def _agreement_proposed(self, e: EventRecord) -> None:
        self.agreements.open(
            {
                "agreement_id": e.args["agreementId"],
                "institution": e.args["institution"],
                "categories": e.args["categories"],
                "purposes": e.args["purposes"],
                "not_before": e.args["notBefore"],
                "not_after": e.args["notAfter"],
                "document_hash": e.args["documentHash"],
                "status": int(AgreementStatus.PROPOSED),
                "proposed_block": e.block_number,
            },
            e,
        )

    def _agreement_accepted(self, e: EventRecord) -> None:
        # The superseded agreement's own change comes as AgreementSuperseded, just before.
        self._agreement_status(e, AgreementStatus.ACTIVE)
        self.institutions.change((e.args["institution"],), e, agreement_id=e.args["agreementId"])

    def _agreement_status(self, e: EventRecord, status: AgreementStatus) -> None:
        self.agreements.change((e.args["agreementId"],), e, status=int(status))

    # -- anchors, disputes, nonces -------------------------------------------------------------
    def _anchored(self, e: EventRecord) -> None:
        a = e.args
        self._anchors.append(
            (a["sequence"], a["root"], a["kind"], a["submitter"], a["leafCount"], a["ref"],
             e.block_number, e.log_index, e.tx_hash)
        )  # fmt: skip

    def _dispute_opened(self, e: EventRecord) -> None:
        a = e.args
        self.disputes.open(
            {
                "dispute_id": a["disputeId"],
                "subject_index": a["subjectIndex"],
                "kind": a["kind"],
                "anchor_root": a["anchorRoot"],
                "leaf": a["leaf"],
                "reason_hash": a["reasonHash"],
                "status": int(DisputeStatus.OPEN),
                "outcome": int(DisputeOutcome.NONE),
                "resolution_hash": None,
                "opened_block": e.block_number,
            },
            e,
        )

    def _dispute_resolved(self, e: EventRecord) -> None:
        self.disputes.change(
            (e.args["disputeId"],), e,
            status=int(DisputeStatus.RESOLVED),
            outcome=e.args["outcome"],
            resolution_hash=e.args["resolutionHash"],
        )  # fmt: skip

    def _nonce_increased(self, e: EventRecord) -> None:
        a = e.args
        self._nonces.append(
            (e.block_number, e.log_index, a["account"], str(a["previousNonce"]), str(a["newNonce"]))
        )


_ANCHOR_COLUMNS = ("sequence", "root", "kind", "submitter", "leaf_count", "ref", "block_number",
                   "log_index", "tx_hash")  # fmt: skip
_NONCE_COLUMNS = ("block_number", "log_index", "account", "previous_nonce", "new_nonce")


def rollback_state(conn: Connection, last_kept_block: int) -> None:
    """Undo every state change made after ``last_kept_block`` (see indexer.tables), and read
    the gate's rows of what it undid again."""
    changed = keys_changed_after(conn, last_kept_block)
    for table in VERSIONED_TABLES:
        conn.execute(delete(table).where(table.c.valid_from_block > last_kept_block))
        conn.execute(
            update(table)
            .where(table.c.valid_to_block > last_kept_block)
            .values(valid_to_block=None)
        )
    for table in APPEND_ONLY_TABLES:
        conn.execute(delete(table).where(table.c.block_number > last_kept_block))
    refresh_gate_rows(conn, **changed)
