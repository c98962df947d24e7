"""The gate's mirror: each API process's own copy of the gate rows it has read, kept in step
with the replica, so that an allowed read decides without a round trip to the database.

On PostgreSQL a decision read from the database costs at least one round trip, and on a
virtual machine one round trip alone costs about twice SQLite's whole decision
(docs/benchmarks.md, gate). A bank reads a subject's records category after category under
one grant, so the same few rows are read again and again; between two reads of them they
rarely change. ``GateMirror`` holds, per process:

* the asking institutions' gate rows (with their agreements) and the grants' (with their
  subjects' bindings), as read by a decision that missed (``remember``);
* the allowed uses of each capped grant it holds, counted from the access log;
* the replica's position those rows are of.

A follower thread (``start``) calls ``sync`` every ``interval_s``: one statement reads the
replica's checkpoint, the gate's change log after the last change applied
(``chain_gate_changes``, written by the indexer in the transaction that changed the rows,
reorgs included) and the access log's allowed entries after the last one counted. The keys the
change log names are dropped, the new uses are added, and only then does the mirror move to
the new position, under one lock: a decision always reads rows and a position that belong
together, so its receipt's ``checked_block`` replays exactly as before. A revocation reaches the
gate within the indexer's lag plus ``interval_s``, as with the cached state it replaces on
this path.

The uses are a pre-check: the access log's serialised append re-checks every cap
(``ledger_api.accesslog.writer``), so a count that is ``interval_s`` behind another worker's
reads never lets a grant be used beyond its cap; it can only move the refusal from the gate
to the append (same code, ``usage_cap_reached``). A count never runs ahead: each grant's count
carries the log id it was read at, and only entries after it are added.

Nothing is guessed: a decision whose rows are not all held, whose grant is another subject's,
or which the mirror cannot vouch for (not synced for ``max_age_s``) reads the database as
before. The mirror assumes one indexer writing the change log (as the replica does) and
access-log ids committed in order (the append lock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from indexer.gate_rows import AGREEMENT, EVERYTHING, GRANT, INSTITUTION, SUBJECT
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import DecisionInputs, InstitutionProfile, StatePoint, SubjectBinding

log = logging.getLogger(__name__)

# Rows read per sync from each log; more than this and the mirror starts afresh (cheaper than
# applying them, and only after the follower stalled).
_SYNC_ROWS = 10_000

# One statement, one snapshot on both databases: part 0 the checkpoint, 1 the changes after
# :seq, 2 the allowed entries after :log_id, 3 the change log's bounds, 4 the log's last id.
_SYNC_SQL = text(
    f"""
    SELECT 0 AS part, block_number AS a, block_timestamp AS b, NULL AS c
      FROM chain_checkpoint WHERE chain_id = :chain_id
    UNION ALL
    SELECT 1, seq, kind, key FROM (
      SELECT seq, kind, key FROM chain_gate_changes WHERE seq > :seq
      ORDER BY seq LIMIT {_SYNC_ROWS}) AS changes
    UNION ALL
    SELECT 2, id, grant_id, NULL FROM (
      SELECT id, grant_id FROM access_log
      WHERE id > :log_id AND decision = 'allowed' AND grant_id IS NOT NULL
      ORDER BY id LIMIT {_SYNC_ROWS}) AS uses
    UNION ALL
    SELECT 3, (SELECT min(seq) FROM chain_gate_changes), (SELECT max(seq) FROM chain_gate_changes),
           NULL
    UNION ALL
    SELECT 4, (SELECT max(id) FROM access_log), NULL, NULL
    """
)


@dataclass(frozen=True)
class _Institution:
    profile: InstitutionProfile
    agreement: AgreementState | None


@dataclass(frozen=True)
class _Grant:
    grant: GrantState
    subject: SubjectBinding


class _Uses:
    """A capped grant's allowed uses counted up to access-log id ``horizon``, and any counted
    after it as the follower saw them."""

    __slots__ = ("count", "horizon")

    def __init__(self, count: int, horizon: int) -> None:
        self.count = count
        self.horizon = horizon


@dataclass(frozen=True)
class SyncResult:
    """What one ``sync`` saw (for the follower's log and the tests)."""

    block_number: int
    changes: int
    uses: int
    started_afresh: bool


class GateMirror:
    """Gate rows held by this process (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        chain_id: int,
        capacity: int = 20_000,
        max_age_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self.capacity = capacity
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()
        self._position: StatePoint | None = None
        self._synced_at = float("-inf")
        self._epoch = 0  # bumped by every sync that changes anything: a read across it is stale
        self._seq = 0  # last change applied
        self._log_id = 0  # last access-log entry counted
        self._institutions: dict[str, _Institution] = {}  # by lower-case address
        self._grants: dict[int, _Grant] = {}
        self._uses: dict[int, _Uses] = {}
        self._by_subject: dict[int, set[int]] = {}  # subject index -> grant ids held
        self._by_agreement: dict[int, set[str]] = {}  # agreement id -> institutions held
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the decision's side -----------------------------------------------------------------
    def lookup(self, address: str, subject_id: bytes, grant_id: int) -> DecisionInputs | None:
        """The decision's inputs from what is held, or None (read the database)."""
        with self._lock:
            position = self._position
            if position is None or self.clock() - self._synced_at > self.max_age_s:
                return None
            institution = self._institutions.get(address.lower())
            held = self._grants.get(grant_id)
            if institution is None or held is None or held.subject.subject_id != subject_id:
                return None
            uses = 0
            if held.grant.max_uses:
                counted = self._uses.get(grant_id)
                if counted is None:
                    return None
                uses = counted.count
            return DecisionInputs(
                position,
                institution.profile,
                institution.agreement,
                held.subject,
                held.grant,
                uses,
            )

    def epoch(self) -> int:
        """Taken before a database read that ``remember`` is given afterwards."""
        return self._epoch

    def remember(self, address: str, inputs: DecisionInputs, epoch: int) -> bool:
        """Hold what a decision read from the gate's rows, if nothing moved since ``epoch``
        and it was read at the mirror's position; True when held."""
        institution, grant, subject = inputs.institution, inputs.grant, inputs.subject
        if inputs.log_horizon is None or institution is None or grant is None or subject is None:
            return False  # not all from the gate's rows: a refusal, read again next time
        with self._lock:
            position = self._position
            if (
                epoch != self._epoch
                or position is None
                or inputs.position.block_number != position.block_number
            ):
                return False
            self._hold_institution(address.lower(), _Institution(institution, inputs.agreement))
            self._hold_grant(_Grant(grant, subject))
            if grant.max_uses and grant.grant_id not in self._uses:
                self._hold_uses(grant.grant_id, _Uses(inputs.uses, inputs.log_horizon))
            return True

    # -- the follower's side -----------------------------------------------------------------
    def sync(self) -> SyncResult:
        """Read the checkpoint, the changes and the new uses in one statement; apply them."""
        with self._lock:
            seq, log_id, first = self._seq, self._log_id, self._position is None
        params = {"chain_id": self.chain_id, "seq": seq, "log_id": log_id}
        with self.engine.connect() as conn:
            rows = conn.execute(_SYNC_SQL, params).all()
        point = StatePoint(-1, 0)
        changes: list[tuple[int, int, str]] = []
        used: list[tuple[int, int]] = []
        first_seq = last_seq = last_log_id = 0
        for part, a, b, c in rows:
            if part == 0:
                point = StatePoint(int(a), int(b))
            elif part == 1:
                changes.append((int(a), int(b), str(c)))
            elif part == 2:
                used.append((int(a), int(b)))
            elif part == 3:
                first_seq, last_seq = int(a or 0), int(b or 0)
            else:
                last_log_id = int(a or 0)
        afresh = (
            first
            or len(changes) >= _SYNC_ROWS
            or last_seq < seq  # the log was emptied (a restored backup)
            or first_seq > seq + 1  # changes after ours were pruned: we fell too far behind
            or any(kind == EVERYTHING for _, kind, _ in changes)
        )
        with self._lock:
            moved = bool(changes or used) or point != self._position
            if afresh:
                self._clear()
                self._seq = last_seq
            else:
                for _, kind, key in changes:
                    self._drop(kind, key)
                self._seq = max(seq, changes[-1][0]) if changes else seq
            if len(used) >= _SYNC_ROWS or last_log_id < log_id:
                self._uses.clear()
            else:
                for entry_id, grant_id in used:
                    counted = self._uses.get(grant_id)
                    if counted is not None and entry_id > counted.horizon:
                        counted.count += 1
            self._log_id = last_log_id
            if moved or afresh:
                self._epoch += 1
            self._position = point
            self._synced_at = self.clock()
        return SyncResult(point.block_number, len(changes), len(used), afresh)

    def start(self, interval_s: float) -> None:
        """Sync now, then every ``interval_s`` in a daemon thread until ``stop``."""
        self.sync()
        self._thread = threading.Thread(
            target=self._follow, args=(interval_s,), name="gate-mirror", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _follow(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.sync()
            except Exception as error:  # the database away: decisions read it (and fail) alone
                log.warning("gate mirror: sync failed (%s); decisions read the database", error)

    # -- holding and dropping (under the lock) --------------------------------------------------
    def _hold_institution(self, key: str, held: _Institution) -> None:
        self._forget_institution(key)
        if len(self._institutions) >= self.capacity:
            self._forget_institution(next(iter(self._institutions)))
        self._institutions[key] = held
        if held.profile.agreement_id:
            self._by_agreement.setdefault(held.profile.agreement_id, set()).add(key)

    def _hold_grant(self, held: _Grant) -> None:
        grant_id = held.grant.grant_id
        self._forget_grant(grant_id)
        if len(self._grants) >= self.capacity:
            self._forget_grant(next(iter(self._grants)))  # the oldest held
        self._grants[grant_id] = held
        self._by_subject.setdefault(held.grant.subject_index, set()).add(grant_id)

    def _hold_uses(self, grant_id: int, counted: _Uses) -> None:
        if len(self._uses) >= self.capacity:
            del self._uses[next(iter(self._uses))]
        self._uses[grant_id] = counted

    def _forget_grant(self, grant_id: int) -> None:
        held = self._grants.pop(grant_id, None)
        if held is not None:
            grants = self._by_subject.get(held.grant.subject_index)
            if grants is not None:
                grants.discard(grant_id)
                if not grants:
                    del self._by_subject[held.grant.subject_index]

    def _forget_institution(self, key: str) -> None:
        held = self._institutions.pop(key, None)
        if held is not None and held.profile.agreement_id:
            keys = self._by_agreement.get(held.profile.agreement_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_agreement[held.profile.agreement_id]

    def _drop(self, kind: int, key: str) -> None:
        if kind == GRANT:
            self._forget_grant(int(key))
        elif kind == SUBJECT:
            for grant_id in list(self._by_subject.get(int(key), ())):
                self._forget_grant(grant_id)
        elif kind == INSTITUTION:
            self._forget_institution(key.lower())
        elif kind == AGREEMENT:
            for address in list(self._by_agreement.get(int(key), ())):
                self._forget_institution(address)

    def _clear(self) -> None:
        self._institutions.clear()
        self._grants.clear()
        self._by_subject.clear()
        self._by_agreement.clear()
