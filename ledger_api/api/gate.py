"""THE gate: the one dependency every route that returns subject data goes through.

``SubjectAccessGate(action)`` authenticates the signed request, resolves who asks for whose
data under which grant, category, purpose and level, refuses when the chain-state replica lags,
applies the canonical grant check (``grant_rules.check_grant`` over ``ChainState``, or the
contract's ``checkGrant`` in strict mode) with usage counted from the access log, and writes a
"denied" access-log entry for every refusal. An allowed request gets an ``Access``; its
``respond()`` writes the "allowed" entry (re-checking the usage cap in the log's serialised
append) and attaches the access receipt. Handlers never check grants themselves.

Actions: ``report`` (PUBLIC fields of the agreement's categories; no grant), ``records``
(QUERY/DETAIL), ``verify`` (VERIFY, category from the predicate), ``score`` (VERIFY over the
scorecard's categories the grant covers, each checked, all logged in ``categories``), and
``own_data`` (a subject reading its own data; no grant).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from ledger_api.accesslog import ALLOWED, DENIED, NONCE_REPLAYED, EntryDraft, count_uses
from ledger_api.api.auth import (
    authenticate,
    check_rate,
    claimed_address,
    request_query,
    resolve_role,
)
from ledger_api.api.context import AppContext
from ledger_api.api.gate_inputs import PrefetchedState, prefetched
from ledger_api.api.refusals import mark_logged, mark_pending
from ledger_api.chain.grant_rules import AccessRequest, AgreementState, GrantState, check_grant
from ledger_api.chain.state import ChainState, InstitutionProfile, institution_state
from ledger_api.chain.types import AccessLevel, AgreementStatus, GrantCheck, Purpose, bits_of
from ledger_api.errors import (
    AuthError,
    GrantError,
    InputError,
    LedgerError,
    NotFoundError,
    ReplicaLagError,
)
from ledger_api.identity.uscc import is_valid_uscc, subject_id
from ledger_api.saferoom import scorecard
from ledger_api.saferoom.predicates import predicate

ANONYMOUS = "0x" + "00" * 20
_LEVELS = {level.name.lower(): level for level in AccessLevel}
_PURPOSES = {purpose.name.lower(): purpose for purpose in Purpose}


_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def canonical_json(payload: Any) -> bytes:
    """Sorted keys, compact separators, UTF-8 (not ASCII-escaped); unknown types as ``str``."""
    try:
        return orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS)
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()


def parse_subject(raw: str, pseudonym_key: bytes) -> bytes:
    """A 0x-prefixed 32-byte subject id, or a USCC turned into its pseudonymous id."""
    if raw.startswith("0x") and len(raw) == 66:
        try:
            return bytes.fromhex(raw[2:])
        except ValueError:
            pass
    elif is_valid_uscc(raw):
        return subject_id(raw, pseudonym_key)
    raise InputError(
        "subject must be a 0x-prefixed 32-byte subject id or a valid USCC", code="invalid_subject"
    )


def parse_purpose(raw: str | None) -> Purpose:
    if raw is None or raw not in _PURPOSES:
        raise InputError(f"purpose must be one of {sorted(_PURPOSES)}", code="invalid_purpose")
    return _PURPOSES[raw]


def parse_level(raw: str | None, default: AccessLevel) -> AccessLevel:
    if raw is None:
        return default
    if raw not in _LEVELS:
        raise InputError(f"level must be one of {sorted(_LEVELS)}", code="invalid_level")
    return _LEVELS[raw]


def parse_grant_id(raw: str | None) -> int:
    if raw is None:
        raise InputError("grant_id is required", code="grant_id_required")
    try:
        value = int(raw)
    except ValueError:
        raise InputError("grant_id must be an integer", code="invalid_grant_id") from None
    if not 1 <= value < 2**63:
        raise InputError("grant_id must be positive", code="invalid_grant_id")
    return value


@dataclass
class Access:
    """An allowed request, waiting for its response to be logged and receipted."""

    ctx: AppContext
    action: str
    actor: str
    actor_role: str
    subject_id: bytes
    subject_index: int
    checked_block: int
    today_ts: float
    purpose: Purpose | None = None
    level: AccessLevel | None = None
    category: int | None = None
    # report: the categories its agreement covers; score: the categories assessed
    categories: list[int] = field(default_factory=list)
    grant: GrantState | None = None
    institution: InstitutionProfile | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # gate-parsed inputs (predicate, ...)
    nonce: tuple[str, str] | None = None  # reserved with the entry this request writes

    def _draft(self, decision: str, reason: str, response_hash: bytes | None) -> EntryDraft:
        nonce, self.nonce = self.nonce, None  # a nonce is reserved once, by the first entry
        return EntryDraft(
            nonce=nonce,
            actor=self.actor,
            actor_role=self.actor_role,
            action=self.action,
            decision=decision,
            reason=reason,
            subject_id=self.subject_id,
            category=self.category,
            purpose=None if self.purpose is None else int(self.purpose),
            level=None if self.level is None else int(self.level),
            grant_id=None if self.grant is None else self.grant.grant_id,
            checked_block=self.checked_block,
            response_hash=response_hash,
            categories=_mask(self.categories) if self.action == "score" else None,
            max_uses=0 if self.grant is None else self.grant.max_uses,
        )

    async def deny(self, error: LedgerError) -> None:
        """Log a refusal the handler decided on (e.g. a record that is not the caller's)."""
        if not await self.log_refusal(error.code):
            raise _replayed() from error

    async def log_refusal(self, code: str) -> bool:
        """Write the denied entry, spending the nonce (``ledger_api.api.refusals``); False
        when the nonce was already spent. Nothing to write once this access has its entry."""
        if self.nonce is None:
            return True
        result = await self.ctx.writer.append_async(self._draft(DENIED, code, None))
        return result.reason != NONCE_REPLAYED

    async def respond(
        self,
        payload: dict[str, Any],
        *,
        sign_claims: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Response:
        """Log the allowed access and return ``payload`` with its access receipt.

        ``response_hash`` is the SHA-256 of the canonical JSON (sorted keys, compact, UTF-8)
        of the response without its ``receipt`` (and ``signed_receipt``). Every receipt is
        signed by the platform (``signed_receipt``), so that anyone holding it can check it
        (``ledger_api.receipts``); ``sign_claims`` adds the answer itself (a verification's
        yes/no) to what is signed.
        """
        response_hash = hashlib.sha256(canonical_json(payload)).digest()
        result = await self.ctx.writer.append_async(self._draft(ALLOWED, "ok", response_hash))
        if result.reason == NONCE_REPLAYED:
            raise _replayed()
        if result.decision != ALLOWED:  # the usage cap ran out between the check and now
            grant_id = self.grant.grant_id if self.grant else "?"
            raise GrantError(
                f"grant {grant_id} is not usable: {result.reason}",
                code=result.reason,
            )
        receipt = {
            "grant_id": None if self.grant is None else self.grant.grant_id,
            "checked_block": self.checked_block,
            "access_log_id": result.entry_id,
            "response_hash": "0x" + response_hash.hex(),
        }
        body = dict(payload)
        body["receipt"] = receipt
        claims = {
            **(sign_claims or {}),
            **receipt,
            "action": self.action,
            "entry_hash": "0x" + result.entry_hash.hex(),
            "institution": self.actor,
            "subject_id": "0x" + self.subject_id.hex(),
        }
        signer = self.ctx.receipt_signer
        body["signed_receipt"] = {
            "claims": claims,
            "signer": signer.address,
            "signature": "0x" + signer.sign(canonical_json(claims)).hex(),
        }
        return Response(
            canonical_json(body), status_code=status_code, media_type="application/json"
        )


def _mask(bits: list[int]) -> int:
    return sum(1 << bit for bit in set(bits))


def _replayed() -> AuthError:
    return AuthError("this request nonce was already used", code="nonce_replayed")


class SubjectAccessGate:
    """The gate dependency for one ``action`` (see the module docstring)."""

    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(self, request: Request) -> Access:
        # The context straight from the app (not a sub-dependency: one less solve per read).
        ctx: AppContext = request.app.state.ctx
        entry: dict[str, Any] = {
            "actor": claimed_address(request) or ANONYMOUS,
            "actor_role": "unauthenticated",
        }
        nonce: tuple[str, str] | None = None
        try:
            address, raw_nonce = await authenticate(request, ctx)
            nonce = (address, raw_nonce)
            entry["actor"] = address
            check_rate(ctx, address)
            access = self._decide(request, ctx, address, entry)
            access.nonce = nonce
            mark_pending(request, access)  # a later refusal is written through the access
            return access
        except LedgerError as error:
            draft = EntryDraft(
                nonce=nonce,
                actor=entry["actor"],
                actor_role=entry["actor_role"],
                action=self.action,
                decision=DENIED,
                reason=error.code,
                subject_id=entry.get("subject_id"),
                category=entry.get("category"),
                purpose=entry.get("purpose"),
                level=entry.get("level"),
                grant_id=entry.get("grant_id"),
                checked_block=entry.get("checked_block"),
            )
            result = await ctx.writer.append_async(draft)
            mark_logged(request)
            if result.reason == NONCE_REPLAYED:
                raise _replayed() from error
            raise

    # -- the decision (synchronous: only cached state reads and one COUNT) ------------------
    def _decide(
        self, request: Request, ctx: AppContext, address: str, entry: dict[str, Any]
    ) -> Access:
        params = request_query(request).single_valued()
        state = self._state(ctx, request, address, params)
        if self.action == "own_data":
            actor = resolve_role(ctx, address, "subject", state)
            entry["actor_role"] = "subject"
            assert actor.subject is not None
            entry["subject_id"] = actor.subject.subject_id
            point = self._fresh_point(ctx, state, entry)
            return Access(
                ctx,
                self.action,
                address,
                "subject",
                actor.subject.subject_id,
                actor.subject.subject_index,
                point.block_number,
                ctx.clock(),
            )
        actor = resolve_role(ctx, address, "institution", state)
        entry["actor_role"] = "institution"
        profile = actor.institution
        assert profile is not None
        sid = parse_subject(
            request.path_params.get("subject", ""), ctx.settings.pseudonym_key_bytes
        )
        entry["subject_id"] = sid
        purpose = parse_purpose(params.get("purpose"))
        entry["purpose"] = int(purpose)
        point = self._fresh_point(ctx, state, entry)
        now = max(point.block_timestamp, int(ctx.clock()))
        if self.action == "report":
            agreement = self._check_agreement(state, profile, purpose, now)
            binding = state.subject_by_id(sid)
            return Access(
                ctx,
                self.action,
                address,
                "institution",
                sid,
                0 if binding is None else binding.subject_index,
                point.block_number,
                ctx.clock(),
                purpose=purpose,
                categories=bits_of(agreement.categories),
                institution=profile,
            )
        binding = state.subject_by_id(sid)
        if binding is None:
            raise NotFoundError("no registered subject with this id", code="unknown_subject")
        grant_id = parse_grant_id(params.get("grant_id"))
        entry["grant_id"] = grant_id
        grant = state.grant(grant_id)
        if grant is not None and not grant.revoked and grant.subject_index != binding.subject_index:
            raise GrantError(
                f"grant {grant_id} was not given by this subject", code="wrong_subject"
            )
        extra: dict[str, Any] = {}
        if self.action == "records":
            level = parse_level(params.get("level"), AccessLevel.QUERY)
            if level < AccessLevel.QUERY:
                raise InputError("records are read at level query or detail", code="invalid_level")
            categories = [ctx.catalog.category(params.get("category") or "").bit]
        elif self.action == "verify":
            level = AccessLevel.VERIFY
            chosen = predicate(params.get("predicate") or "")
            extra["predicate"] = chosen
            extra["argument"] = chosen.parse_argument(params.get("arg") or "")
            categories = [ctx.catalog.category(chosen.category).bit]
        else:  # score: every scorecard category the grant covers, and only those
            level = AccessLevel.VERIFY
            covered = scorecard.score_categories(ctx.catalog, grant.categories if grant else 0)
            categories = covered or [ctx.catalog.category(scorecard.CATEGORIES[0]).bit]
        entry["level"] = int(level)
        entry["category"] = categories[0] if len(categories) == 1 else None
        entry["checked_block"] = point.block_number
        used = 0
        if grant is not None and grant.max_uses:
            read = state.uses(grant_id) if isinstance(state, PrefetchedState) else None
            if read is None:
                with ctx.reads.connect() as conn:
                    read = count_uses(conn, grant_id)
            used = read
        for bit in categories:
            check = self._check(
                ctx,
                state,
                profile,
                grant,
                grant_id,
                address,
                bit,
                purpose,
                level,
                now,
                used,
                point.block_number,
            )
            if check != GrantCheck.USABLE:
                entry["category"] = bit  # the denied entry names the category refused
                raise GrantError(f"grant {grant_id} is not usable: {check.code}", code=check.code)
        return Access(
            ctx,
            self.action,
            address,
            "institution",
            sid,
            binding.subject_index,
            point.block_number,
            ctx.clock(),
            purpose=purpose,
            level=level,
            category=entry["category"],
            categories=categories,
            grant=grant,
            institution=profile,
            extra=extra,
        )

    def _state(
        self, ctx: AppContext, request: Request, address: str, params: Mapping[str, str]
    ) -> ChainState:
        """The chain state, with a grant-checked read's look-ups read in one statement where
        the state offers it; a malformed request takes the look-ups one by one, so that its
        refusals keep their order (the role is checked before the inputs)."""
        state = ctx.state()
        if self.action in ("own_data", "report"):
            return state
        try:
            sid = parse_subject(
                request.path_params.get("subject", ""), ctx.settings.pseudonym_key_bytes
            )
            parse_purpose(params.get("purpose"))
            grant_id = parse_grant_id(params.get("grant_id"))
        except InputError:
            return state
        return prefetched(state, address, sid, grant_id)

    @staticmethod
    def _fresh_point(ctx: AppContext, state: ChainState, entry: dict[str, Any]) -> Any:
        point = state.position()
        entry["checked_block"] = point.block_number
        lag = ctx.chain_head() - point.block_number
        if lag > ctx.settings.max_replica_lag_blocks:
            raise ReplicaLagError(
                f"chain state is {lag} blocks behind the chain head; try again shortly"
            )
        return point

    @staticmethod
    def _check(
        ctx: AppContext,
        state: ChainState,
        profile: InstitutionProfile,
        grant: GrantState | None,
        grant_id: int,
        address: str,
        bit: int,
        purpose: Purpose,
        level: AccessLevel,
        now: int,
        used: int,
        block: int,
    ) -> GrantCheck:
        if ctx.settings.strict_gate:
            return ctx.ledger.check_grant(
                grant_id, address, bit, purpose, level, min(used, 2**32 - 1)
            )
        agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
        return check_grant(
            grant,
            institution_state(profile),
            agreement,
            AccessRequest(bit, purpose, level),
            now,
            used,
        )

    @staticmethod
    def _check_agreement(
        state: ChainState, profile: InstitutionProfile, purpose: Purpose, now: int
    ) -> AgreementState:
        """The standard report needs an active agreement covering the purpose; no grant."""
        if profile.suspended:
            raise GrantError(
                "the institution is suspended", code=GrantCheck.INSTITUTION_SUSPENDED.code
            )
        agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
        if agreement is None:
            raise GrantError(
                "the institution has no data-sharing agreement", code=GrantCheck.NO_AGREEMENT.code
            )
        if (
            agreement.status != AgreementStatus.ACTIVE
            or now < agreement.not_before
            or now >= agreement.not_after
        ):
            raise GrantError(
                "the institution's agreement is not active",
                code=GrantCheck.AGREEMENT_NOT_ACTIVE.code,
            )
        if not agreement.purposes >> int(purpose) & 1:
            raise GrantError(
                "the agreement does not permit this purpose",
                code=GrantCheck.PURPOSE_NOT_IN_AGREEMENT.code,
            )
        return agreement
