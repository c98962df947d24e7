"""Everything a request handler needs, built once per app: ``AppContext``.

``build_context(settings)`` wires the production/embedded stack from settings; tests and the
benchmark pass their own chain (``w3`` + ``deployment``), state provider and clock instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field, replace
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from ledger_api.accesslog import AccessLogAnchoring, AccessLogWriter
from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.anchoring.journal import AnchorJournal
from ledger_api.anchoring.kinds import COMMITMENTS, FINANCING_EVENTS
from ledger_api.api.read_connections import ReadConnections
from ledger_api.api.receipt_signing import ReceiptSigner
from ledger_api.catalog.loader import Catalog, default_catalog
from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.connection import load_or_deploy, open_chain
from ledger_api.chain.deployment import Deployment, check_deployment
from ledger_api.chain.direct_state import DirectChainState
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.receivables import ReceivablesContract
from ledger_api.chain.state import (
    AgreementRecord,
    ChainState,
    DecisionInputs,
    InstitutionProfile,
    StatePoint,
    SubjectBinding,
)
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.txqueue import TxQueue
from ledger_api.crypto.keys import MasterKey, SubjectKeyring
from ledger_api.settings import Settings
from ledger_api.store.db import ensure_schema, make_serving_engine, session_factory

log = logging.getLogger(__name__)

Clock = Callable[[], float]
StateProvider = Callable[[], ChainState]


class CachedChainState:
    """A ``ChainState`` whose answers are reused until the chain moves.

    The head position is re-read at most every ``ttl_s`` seconds; every other answer is
    cached for the block it was read at and dropped as soon as a new block is seen. A
    revocation therefore reaches the gate within one block plus ``ttl_s``.

    Answers are read as of that position when the inner state can be read at a block (the
    indexer's replica, ``at(block)``): the replica keeps moving between the position read and
    a later look-up, and a grant indexed meanwhile must not be used under a receipt naming
    the block before it (the audit replays every decision at its receipt's block).
    """

    def __init__(self, inner: ChainState, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._point: StatePoint | None = None
        self._checked = float("-inf")
        # The answers for the current point and the state they are read from, swapped as one.
        self._view: tuple[dict[tuple[Any, ...], Any], ChainState] = ({}, inner)

    def _refresh(self) -> StatePoint:
        now = self.clock()
        point = self._point
        if point is not None and now - self._checked < self.ttl_s:
            return point
        with self._lock:
            fresh = self.inner.position()
            if fresh != self._point:
                self._view = ({}, self._pinned(fresh))
            self._point, self._checked = fresh, now
            return fresh

    def _pinned(self, point: StatePoint) -> ChainState:
        at: Callable[[int], ChainState] | None = getattr(self.inner, "at", None)
        if at is None or point.block_number < 0:
            return self.inner
        return at(point.block_number)

    def _get(self, key: tuple[Any, ...], read: Callable[[ChainState], Any]) -> Any:
        self._refresh()
        cache, state = self._view
        try:
            return cache[key]
        except KeyError:
            value = read(state)
            cache[key] = value
            return value

    def position(self) -> StatePoint:
        return self._refresh()

    def grant(self, grant_id: int) -> GrantState | None:
        return self._get(("grant", grant_id), lambda state: state.grant(grant_id))

    def grants_of_subject(self, subject_index: int) -> list[GrantState]:
        return self._get(
            ("grants_of", subject_index), lambda state: state.grants_of_subject(subject_index)
        )

    def grants_of_institution(self, address: str) -> list[GrantState]:
        return self._get(("grants_to", address), lambda state: state.grants_of_institution(address))

    def agreements_of_institution(self, address: str) -> list[AgreementRecord]:
        return self._get(
            ("agreements_of", address), lambda state: state.agreements_of_institution(address)
        )

    def institution(self, address: str) -> InstitutionProfile | None:
        return self._get(("inst", address), lambda state: state.institution(address))

    def institution_at(self, index: int) -> InstitutionProfile | None:
        return self._get(("inst_at", index), lambda state: state.institution_at(index))

    def agreement(self, agreement_id: int) -> AgreementState | None:
        return self._get(("agr", agreement_id), lambda state: state.agreement(agreement_id))

    def subject_by_account(self, address: str) -> SubjectBinding | None:
        return self._get(("subj_acct", address), lambda state: state.subject_by_account(address))

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None:
        return self._get(("subj_id", subject_id), lambda state: state.subject_by_id(subject_id))

    def subject_by_index(self, subject_index: int) -> SubjectBinding | None:
        return self._get(
            ("subj_idx", subject_index), lambda state: state.subject_by_index(subject_index)
        )

    def roles_of(self, address: str) -> set[str]:
        return self._get(("roles", address), lambda state: state.roles_of(address))

    def open_dispute_leaves(self, subject_index: int) -> set[bytes]:
        return self._get(
            ("open_leaves", subject_index), lambda state: state.open_dispute_leaves(subject_index)
        )

    def hidden_leaves(self, subject_index: int) -> set[bytes]:
        return self._get(
            ("hidden", subject_index), lambda state: state.hidden_leaves(subject_index)
        )

    def decision_inputs(
        self, address: str, subject_id: bytes, grant_id: int
    ) -> DecisionInputs | None:
        """A grant-checked read's look-ups in one statement when any of them is not cached
        yet (after each new block), cached for the rest of the block; None when all are
        cached (the gate then counts the grant's uses alone)."""
        point = self._refresh()
        cache, state = self._view
        read = getattr(state, "decision_inputs", None)
        keys = (("inst", address), ("subj_id", subject_id), ("grant", grant_id))
        if read is None:
            return None
        if all(key in cache for key in keys):
            profile = cache[keys[0]]
            if (
                profile is None
                or not profile.agreement_id
                or ("agr", profile.agreement_id) in cache
            ):
                return None
        inputs: DecisionInputs = read(address, subject_id, grant_id)
        for key, value in zip(
            keys, (inputs.institution, inputs.subject, inputs.grant), strict=True
        ):
            cache.setdefault(key, value)
        if inputs.institution is not None and inputs.institution.agreement_id:
            cache.setdefault(("agr", inputs.institution.agreement_id), inputs.agreement)
        return replace(inputs, position=point)


class ChainHead:
    """The chain's latest block number, re-read at most every ``ttl_s`` seconds.

    Only the first read blocks. Afterwards a stale number is refreshed by a background thread
    while callers keep getting the last one read, so a request never waits on the chain (the
    embedded chain serialises every call behind one lock, held for whole transactions). The
    number is therefore at most ``ttl_s`` plus one read old.
    """

    def __init__(self, w3: Web3, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self.w3 = w3
        self.ttl_s = ttl_s
        self.clock = clock
        self._number = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def __call__(self) -> int:
        now = self.clock()
        if self._number < 0:
            self._read(now)
        elif now - self._checked >= self.ttl_s:
            with self._lock:
                start = not self._refreshing
                self._refreshing = True
            if start:
                threading.Thread(
                    target=self._background, args=(now,), name="chain-head", daemon=True
                ).start()
        return self._number

    def _read(self, now: float) -> None:
        self._number = int(self.w3.eth.block_number)
        self._checked = now

    def _background(self, now: float) -> None:
        try:
            self._read(now)
        except Exception:  # keep the last number; the next stale call retries
            log.warning("reading the chain head failed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing = False


class KeyringCache:
    """One ``SubjectKeyring`` reused for ``ttl_s`` seconds, then replaced.

    Unwrapping a data key costs an AES key-unwrap and a query; reusing it across requests is
    what makes reads fast. The bounded lifetime is why a crypto-shredded subject stops being
    readable within ``ttl_s`` in every worker.
    """

    def __init__(self, master: MasterKey, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self.master = master
        self.ttl_s = ttl_s
        self.clock = clock
        self._keyring = SubjectKeyring(master)
        self._born = clock()

    def current(self) -> SubjectKeyring:
        if self.clock() - self._born >= self.ttl_s:
            self._keyring = SubjectKeyring(self.master)
            self._born = self.clock()
        return self._keyring


class RateLimiter:
    """Token bucket per actor address (in memory, per worker).

    Any key pair signs a valid request, so the addresses seen are the attacker's to choose:
    buckets are kept in order of last use, a bucket idle long enough to have refilled is the
    same as no bucket and is dropped, and at most ``max_keys`` are kept (the least recently
    used go first: such a key only gets its burst back).
    """

    def __init__(
        self, per_minute: int, burst: int, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(burst, 1))
        self.clock = clock
        self.max_keys = max(max_keys, 1)
        self._refill_s = self.capacity / self.rate if self.rate > 0 else float("inf")
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            self._forget(now)
            return allowed

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget(self, now: float) -> None:
        """Drop buckets from the least recently used end: full again, or beyond the cap."""
        buckets = self._buckets
        while buckets:
            key, (_, last) = next(iter(buckets.items()))
            if len(buckets) <= self.max_keys and now - last < self._refill_s:
                return
            del buckets[key]


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    ledger: Ledger
    relayer: Transactor  # the platform's key: relays subjects' signatures, anchors, binds
    state_provider: StateProvider  # the gate's view of chain state (replica or cached direct)
    strict_state: ChainState  # uncached contract views: strict mode
    chain_head: Callable[[], int]
    writer: AccessLogWriter
    anchoring: AccessLogAnchoring
    data_anchorer: Anchorer  # data batches (needs PROVIDER_ROLE on the relayer)
    commitments: AnchorJournal  # subjects' credit commitments
    catalog: Catalog
    keyrings: KeyringCache
    rate_limiter: RateLimiter
    clock: Clock = time.time
    receivables: ReceivablesContract | None = None  # supply-chain receivables, when deployed
    closers: list[Callable[[], None]] = field(default_factory=list)
    reads: ReadConnections = field(init=False)  # the event loop's long-lived read connection
    resuming: threading.Thread | None = field(default=None, init=False)  # see start_background
    receipt_signer: ReceiptSigner = field(init=False)  # the platform's key, loaded once
    # The read connections to use when the replica already reads through them (one held
    # connection per event-loop thread serves both the gate's look-ups and the record reads).
    shared_reads: InitVar[ReadConnections | None] = None

    def __post_init__(self, shared_reads: ReadConnections | None) -> None:
        self.reads = shared_reads if shared_reads is not None else ReadConnections(self.engine)
        account = self.relayer.account
        self.receipt_signer = ReceiptSigner(bytes(account.key), account.address)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @property
    def platform_account(self) -> LocalAccount:
        return self.relayer.account

    def state(self) -> ChainState:
        return self.strict_state if self.settings.strict_gate else self.state_provider()

    def start_background(self) -> None:
        self.anchoring.start()
        # Commitments a crash left pending or sent are finished once the API runs again
        # (never by a read: no GET handler sends a transaction).
        self.resuming = threading.Thread(
            target=self._resume_commitments, name="commitments-resume", daemon=True
        )
        self.resuming.start()

    def _resume_commitments(self) -> None:
        try:
            self.commitments.resume()
        except Exception:  # left for the next start or `ccl resume`; the journal is crash-safe
            log.exception("finishing pending credit commitments failed")
        try:  # the financing loop's events (loans, white-list steps) left pending the same way
            AnchorJournal(
                self.engine, ChainAnchorer(self.ledger, self.relayer), FINANCING_EVENTS
            ).resume()
        except Exception:
            log.exception("finishing pending financing events failed")

    def close(self) -> None:
        self.anchoring.stop()
        self.writer.close()
        self.reads.close()
        for closer in reversed(self.closers):
            closer()


def build_context(
    settings: Settings,
    *,
    w3: Web3 | None = None,
    deployment: Deployment | None = None,
    engine: Engine | None = None,
    state_provider: StateProvider | None = None,
    data_anchorer: Anchorer | None = None,
    log_anchorer: Anchorer | None = None,
    relayer: Transactor | None = None,
    clock: Clock = time.time,
    monotonic: Clock = time.monotonic,
    run_migrations: bool = True,
    reads: ReadConnections | None = None,
) -> AppContext:
    """Build the app's context from ``settings``; every keyword overrides one piece.

    Without ``w3`` the chain is ``settings.chain_url`` (JSON-RPC) or the embedded chain under
    ``settings.data_dir / "chain"``; in embedded mode a missing deployment is deployed.
    """
    closers: list[Callable[[], None]] = []
    operator = Account.from_key(settings.operator_key.get_secret_value())
    if w3 is None:
        connection = open_chain(settings)
        closers.append(connection.close)
        w3 = connection.w3
    if engine is None:
        engine = make_serving_engine(settings)
        closers.append(engine.dispose)
    if run_migrations:
        ensure_schema(engine, migrate_if_behind=settings.mode == "embedded")
    # Every process signing with the platform's key sends through the database's queue.
    relayer = relayer or Transactor(w3, operator, TxQueue(engine, w3, operator))
    if deployment is None:
        deployment = load_or_deploy(settings, w3, relayer)
    check_deployment(w3, deployment)
    ledger = Ledger(w3, deployment)
    direct = DirectChainState(ledger)
    if state_provider is None:
        cached = CachedChainState(direct, settings.state_cache_ttl_s, monotonic)
        state_provider = lambda: cached  # noqa: E731
    chain_anchorer = ChainAnchorer(ledger, relayer)
    writer = AccessLogWriter(
        engine,
        clock=clock,
        batch_max=settings.access_log_batch_max,
        linger_s=settings.access_log_linger_s,
        nonce_retention_s=settings.nonce_retention_s,
        clock_skew_s=settings.clock_skew_s,
    )
    anchoring = AccessLogAnchoring(
        engine,
        log_anchorer or chain_anchorer,
        every_s=settings.access_log_anchor_every_s,
        every_entries=settings.access_log_anchor_every_entries,
        clock=clock,
    )
    return AppContext(
        settings=settings,
        engine=engine,
        ledger=ledger,
        relayer=relayer,
        state_provider=state_provider,
        strict_state=direct,
        chain_head=ChainHead(w3, settings.state_cache_ttl_s, monotonic),
        writer=writer,
        anchoring=anchoring,
        data_anchorer=data_anchorer or chain_anchorer,
        commitments=AnchorJournal(engine, chain_anchorer, COMMITMENTS),
        catalog=default_catalog(),
        keyrings=KeyringCache(
            MasterKey.from_settings(settings), settings.keyring_cache_ttl_s, monotonic
        ),
        rate_limiter=RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_burst, monotonic
        ),
        clock=clock,
        receivables=(
            ReceivablesContract(w3, deployment.receivables) if deployment.receivables else None
        ),
        closers=closers,
        shared_reads=reads,
    )
