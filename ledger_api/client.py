"""``LedgerClient``: the signed HTTP client for the API (wallet CLI, tests, benchmarks).

Every request is signed with the account's key (``ledger_api.api.signing``). Errors come back
as the ``LedgerError`` subclass matching the problem's status, with its ``code`` and ``detail``.
Answers are parsed with their nesting bounded (``ledger_api.json_depth``): a hostile or broken
server's deeply nested JSON is a ``BadResponseError``, never a crash of the client.

    client = LedgerClient("http://127.0.0.1:8000", account)
    page = client.records(subject_id, category="tax", purpose="loan_application", grant_id=7)
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, TypeAdapter

from ledger_api.api import institution_schemas as own
from ledger_api.api import schemas
from ledger_api.api.problems import PayloadTooLargeError, RateLimitedError
from ledger_api.api.signing import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_query,
    canonical_request,
    sign_request,
)
from ledger_api.chain.ledger import SignedGrant
from ledger_api.chain.types import GrantCheck
from ledger_api.errors import (
    AuthError,
    BadResponseError,
    ChainError,
    ConflictError,
    CryptoError,
    ForbiddenError,
    GrantError,
    InputError,
    LedgerError,
    NotFoundError,
    ReplicaLagError,
)
from ledger_api.json_depth import MAX_JSON_DEPTH, nesting_exceeds

M = TypeVar("M", bound=BaseModel)
_GRANT_CODES = {check.code for check in GrantCheck} | {"wrong_subject"}
_BY_STATUS: dict[int, type[LedgerError]] = {
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: CryptoError,
    413: PayloadTooLargeError,
    422: InputError,
    429: RateLimitedError,
    502: ChainError,
    503: ReplicaLagError,
}


def response_json(response: httpx.Response) -> Any:
    """The answer's JSON, its nesting checked before parsing: the parser recurses per level,
    and py-evm / py_ecc raise Python's recursion limit, so a deep enough answer would overflow
    the C stack and kill the client before ``RecursionError`` could be raised."""
    content = response.content
    if nesting_exceeds(content, MAX_JSON_DEPTH):
        raise BadResponseError(
            f"the server's answer nests deeper than {MAX_JSON_DEPTH} levels; no API answer does"
        )
    try:
        return json.loads(content)
    except ValueError:
        raise BadResponseError("the server's answer is not JSON") from None


def error_from_problem(response: httpx.Response) -> LedgerError:
    """Rebuild the server's error from its problem+json body."""
    try:
        problem = response_json(response)
    except BadResponseError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    code = str(problem.get("code") or "http_error")
    detail = str(problem.get("detail") or response.reason_phrase)
    cls = _BY_STATUS.get(response.status_code, LedgerError)
    if cls is ForbiddenError and code in _GRANT_CODES:
        cls = GrantError
    error = cls(detail, code=code, problem=problem)
    error.status = response.status_code
    return error


class LedgerClient:
    """Signs and sends requests as ``account``; typed methods per endpoint."""

    def __init__(
        self,
        base_url: str,
        account: LocalAccount,
        transport: httpx.BaseTransport | httpx.Client | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.account = account
        self.clock = clock
        if isinstance(transport, httpx.Client):  # e.g. fastapi.testclient.TestClient
            self.http = transport
        else:
            self.http = httpx.Client(base_url=base_url, transport=transport, timeout=timeout)

    # -- signing -------------------------------------------------------------------------------
    def signed_headers(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: bytes = b"",
        *,
        nonce: str | None = None,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        nonce = nonce or secrets.token_hex(16)
        timestamp = int(self.clock()) if timestamp is None else timestamp
        query = canonical_query((k, _param(v)) for k, v in (params or {}).items() if v is not None)
        canonical = canonical_request(method, path, query, body, timestamp, nonce)
        return {
            HEADER_ADDRESS: self.account.address,
            HEADER_TIMESTAMP: str(timestamp),
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: sign_request(self.account.key, canonical),
        }

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        nonce: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Sign and send; returns the raw response whatever its status."""
        body = content if content is not None else b""
        headers: dict[str, str] = {}
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        if content_type is not None:
            headers["content-type"] = content_type
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        headers.update(
            self.signed_headers(method, path, clean, body, nonce=nonce, timestamp=timestamp)
        )
        return self.http.request(method, path, params=clean, content=body or None, headers=headers)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_from_problem(response)
        return response_json(response)

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self.call(method, path, **kwargs))

    def _models(self, model: type[M], method: str, path: str, **kwargs: Any) -> list[M]:
        return TypeAdapter(list[model]).validate_python(self.call(method, path, **kwargs))  # type: ignore[valid-type]

    # -- public --------------------------------------------------------------------------------
    def health(self) -> schemas.Health:
        return self._model(schemas.Health, "GET", "/healthz")

    def chain_info(self, account: str | None = None) -> schemas.ChainInfo:
        return self._model(schemas.ChainInfo, "GET", "/v1/chain", params={"account": account})

    def institution(self, address: str) -> schemas.InstitutionOut:
        """The public directory entry of an institution (name and type as registered on chain)."""
        return self._model(schemas.InstitutionOut, "GET", f"/v1/institutions/{address}")

    # -- institution ---------------------------------------------------------------------------
    def report(self, subject: str, purpose: str) -> schemas.CreditReport:
        return self._model(
            schemas.CreditReport,
            "GET",
            f"/v1/institution/subjects/{subject}/report",
            params={"purpose": purpose},
        )

    def records(
        self, subject: str, *, category: str, purpose: str, grant_id: int, level: str = "query"
    ) -> schemas.RecordsPage:
        return self._model(
            schemas.RecordsPage,
            "GET",
            f"/v1/institution/subjects/{subject}/records",
            params={"category": category, "purpose": purpose, "grant_id": grant_id, "level": level},
        )

    def verify(
        self, subject: str, *, predicate: str, arg: str | int, purpose: str, grant_id: int
    ) -> schemas.Verification:
        return self._model(
            schemas.Verification,
            "GET",
            f"/v1/institution/subjects/{subject}/verify",
            params={"predicate": predicate, "arg": arg, "purpose": purpose, "grant_id": grant_id},
        )

    def score(self, subject: str, *, purpose: str, grant_id: int) -> schemas.Score:
        return self._model(
            schemas.Score,
            "GET",
            f"/v1/institution/subjects/{subject}/score",
            params={"purpose": purpose, "grant_id": grant_id},
        )

    # -- subject -------------------------------------------------------------------------------
    def request_registration(self, uscc: str) -> schemas.Registration:
        return self._model(
            schemas.Registration, "POST", "/v1/subject/registrations", json_body={"uscc": uscc}
        )

    def sign_registration(self, registration: schemas.Registration) -> schemas.Registration:
        """Sign the registration's EIP-712 message with this key and submit the signature."""
        if registration.typed_data is None:
            raise InputError("the registration carries no typed data to sign")
        signable = encode_typed_data(full_message=registration.typed_data)
        signature = Account.sign_message(signable, self.account.key).signature
        return self._model(
            schemas.Registration,
            "POST",
            f"/v1/subject/registrations/{registration.id}/signature",
            json_body={"signature": "0x" + bytes(signature).hex()},
        )

    def registration_status(self, registration_id: int) -> schemas.Registration:
        return self._model(
            schemas.Registration, "GET", f"/v1/subject/registrations/{registration_id}"
        )

    def me(self) -> schemas.SubjectMe:
        return self._model(schemas.SubjectMe, "GET", "/v1/subject/me")

    def my_records(self, category: str | None = None) -> schemas.RecordsPage:
        return self._model(
            schemas.RecordsPage, "GET", "/v1/subject/records", params={"category": category}
        )

    def record_proof(self, record_uid: str) -> schemas.RecordProofOut:
        return self._model(schemas.RecordProofOut, "GET", f"/v1/subject/records/{record_uid}/proof")

    def relay_grants(self, signed: list[SignedGrant]) -> list[int]:
        return self.relay_grant_batch(signed).grant_ids

    def relay_grant_batch(self, signed: list[SignedGrant]) -> schemas.GrantIds:
        """The issued ids and the batch items the contract skipped (with why)."""
        body = {"grants": [_signed_grant_json(s) for s in signed]}
        return self._model(schemas.GrantIds, "POST", "/v1/subject/grants", json_body=body)

    def my_grants(self) -> list[schemas.GrantStatus]:
        return self._models(schemas.GrantStatus, "GET", "/v1/subject/grants")

    def consent_receipt(self, grant_id: int, *, as_role: str = "subject") -> dict[str, Any]:
        """The signed consent receipt of ``grant_id``, as its ``subject`` or ``institution``
        (``ledger_api.receipts.consent``); kept as the JSON the platform signed."""
        receipt: dict[str, Any] = self.call(
            "GET", f"/v1/{as_role}/grants/{grant_id}/consent-receipt"
        )
        return receipt

    def relay_revocation(self, grant_id: int, deadline: int, signature: bytes) -> schemas.TxResult:
        return self._model(
            schemas.TxResult,
            "POST",
            "/v1/subject/revocations",
            json_body={
                "grant_id": grant_id,
                "deadline": deadline,
                "signature": "0x" + signature.hex(),
            },
        )

    def relay_nonce_increase(
        self, new_nonce: int, deadline: int, signature: bytes
    ) -> schemas.TxResult:
        return self._model(
            schemas.TxResult,
            "POST",
            "/v1/subject/nonce-increases",
            json_body={
                "new_nonce": new_nonce,
                "deadline": deadline,
                "signature": "0x" + signature.hex(),
            },
        )

    def my_access_log(self, limit: int = 100, offset: int = 0) -> schemas.AccessLogPage:
        return self._model(
            schemas.AccessLogPage,
            "GET",
            "/v1/subject/access-log",
            params={"limit": limit, "offset": offset},
        )

    def open_dispute(
        self,
        record_uid: str,
        kind: int,
        reason_hash: bytes,
        deadline: int,
        signature: bytes,
        reason: str | None = None,
    ) -> schemas.DisputeOut:
        """``reason``, if given, is the text behind ``reason_hash``, kept for the operator."""
        body: dict[str, Any] = {
            "record_uid": record_uid,
            "kind": kind,
            "reason_hash": "0x" + reason_hash.hex(),
            "deadline": deadline,
            "signature": "0x" + signature.hex(),
        }
        if reason is not None:
            body["reason"] = reason
        return self._model(schemas.DisputeOut, "POST", "/v1/subject/disputes", json_body=body)

    def my_disputes(self) -> list[schemas.DisputeOut]:
        return self._models(schemas.DisputeOut, "GET", "/v1/subject/disputes")

    def make_commitment(self, text: str) -> schemas.CommitmentOut:
        """Sign ``text`` (EIP-191) with this key and have it stored and anchored."""
        signature = Account.sign_message(encode_defunct(text=text), self.account.key).signature
        return self._model(
            schemas.CommitmentOut,
            "POST",
            "/v1/subject/commitments",
            json_body={"text": text, "signature": "0x" + bytes(signature).hex()},
        )

    def my_commitments(self) -> list[schemas.CommitmentOut]:
        return self._models(schemas.CommitmentOut, "GET", "/v1/subject/commitments")

    # -- operator / provider / regulator -------------------------------------------------------
    def list_registrations(self, status: str | None = None) -> list[schemas.Registration]:
        return self._models(
            schemas.Registration, "GET", "/v1/operator/registrations", params={"status": status}
        )

    def approve_registration(self, registration_id: int) -> schemas.Registration:
        return self._model(
            schemas.Registration, "POST", f"/v1/operator/registrations/{registration_id}/approve"
        )

    def register_institution(self, address: str, kind: int, name: str) -> schemas.TxResult:
        return self._model(
            schemas.TxResult,
            "POST",
            "/v1/operator/institutions",
            json_body={"address": address, "kind": kind, "name": name},
        )

    def grant_role(self, role: str, address: str) -> schemas.TxResult:
        return self._model(
            schemas.TxResult,
            "POST",
            "/v1/operator/roles",
            json_body={"role": role, "address": address},
        )

    def propose_agreement(
        self,
        institution: str,
        categories: list[str],
        purposes: list[str],
        not_before: int,
        not_after: int,
        document_hash: bytes,
    ) -> int:
        return self._model(
            schemas.AgreementOut,
            "POST",
            "/v1/operator/agreements",
            json_body={
                "institution": institution,
                "categories": categories,
                "purposes": purposes,
                "not_before": not_before,
                "not_after": not_after,
                "document_hash": "0x" + document_hash.hex(),
            },
        ).agreement_id

    def resolve_dispute(
        self, dispute_id: int, outcome: int, resolution_hash: bytes
    ) -> schemas.TxResult:
        return self._model(
            schemas.TxResult,
            "POST",
            f"/v1/operator/disputes/{dispute_id}/resolve",
            json_body={"outcome": outcome, "resolution_hash": "0x" + resolution_hash.hex()},
        )

    def anchor_access_log(self) -> int | None:
        return self._model(schemas.AnchorOut, "POST", "/v1/operator/access-log/anchor").anchor_id

    def verify_access_log(self, since: str | None = None) -> schemas.LogVerification:
        return self._model(
            schemas.LogVerification, "GET", "/v1/operator/access-log/verify",
            params={"since": since},
        )  # fmt: skip

    def ingest(self, category: str, data: bytes, fmt: str = "jsonl") -> schemas.IngestOut:
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        return self._model(
            schemas.IngestOut,
            "POST",
            "/v1/provider/batches",
            params={"category": category, "format": fmt},
            content=data,
            content_type=content_type,
        )

    def audit(self, view: str, **filters: Any) -> schemas.AuditRows:
        return self._model(schemas.AuditRows, "GET", f"/v1/audit/{view}", params=filters)

    def audit_metrics(self) -> dict[str, Any]:
        """The regulator's daily metrics report (CDR "Get Metrics" shape; docs/audit.md)."""
        return dict(self.call("GET", "/v1/audit/metrics"))

    # -- an institution's own agreements and grants ----------------------------------------
    def institution_agreements(self) -> list[own.InstitutionAgreement]:
        return self._models(own.InstitutionAgreement, "GET", "/v1/institution/agreements")

    def relay_acceptance(
        self, agreement_id: int, signature: bytes, deadline: int
    ) -> own.AcceptanceOut:
        return self._model(
            own.AcceptanceOut,
            "POST",
            f"/v1/institution/agreements/{agreement_id}/acceptance",
            json_body={"signature": "0x" + signature.hex(), "deadline": deadline},
        )

    def accept_agreement(self, agreement_id: int) -> own.AcceptanceOut:
        """Sign the typed data the platform lists for a proposed agreement and have it relayed."""
        for agreement in self.institution_agreements():
            if agreement.agreement_id == agreement_id and agreement.acceptance is not None:
                signable = encode_typed_data(full_message=agreement.acceptance.typed_data)
                signature = bytes(Account.sign_message(signable, self.account.key).signature)
                return self.relay_acceptance(agreement_id, signature, agreement.acceptance.deadline)
        raise ConflictError(
            f"agreement {agreement_id} is not a proposal to this institution",
            code="agreement_not_proposed",
        )

    def institution_grants(self, *, usable: bool = False) -> list[own.InstitutionGrant]:
        return self._models(
            own.InstitutionGrant,
            "GET",
            "/v1/institution/grants",
            params={"usable": True} if usable else None,
        )

    def check_grant(
        self, grant_id: int, *, category: str, purpose: str, level: str = "query"
    ) -> own.GrantCheckOut:
        return self._model(
            own.GrantCheckOut,
            "GET",
            f"/v1/institution/grants/{grant_id}/check",
            params={"category": category, "purpose": purpose, "level": level},
        )

    # -- a regulator's levers (the regulator signs its own transaction) ----------------------
    def prepare_regulator_act(self, act: str, target: str | int) -> own.UnsignedTransaction:
        return self._model(
            own.UnsignedTransaction,
            "GET",
            f"/v1/regulator/acts/{act}/transaction",
            params={"target": target},
        )

    def regulator_act(
        self, act: str, target: str | int, prepared: own.UnsignedTransaction | None = None
    ) -> own.RegulatorActOut:
        """Prepare (unless given), sign with this client's key and submit one regulator act:
        suspend_institution, reinstate_institution, suspend_agreement, reinstate_agreement or
        terminate_agreement."""
        method, path = REGULATOR_ACTS[act]
        prepared = prepared or self.prepare_regulator_act(act, target)
        signed = Account.sign_transaction(prepared.transaction, self.account.key)
        return self._model(
            own.RegulatorActOut,
            method,
            path.format(target=target),
            json_body={"signed_transaction": "0x" + bytes(signed.raw_transaction).hex()},
        )

    def close(self) -> None:
        self.http.close()


# The route of each regulator act (ledger_api.api.routes.regulator).
REGULATOR_ACTS: dict[str, tuple[str, str]] = {
    "suspend_institution": ("POST", "/v1/regulator/institutions/{target}/suspension"),
    "reinstate_institution": ("DELETE", "/v1/regulator/institutions/{target}/suspension"),
    "suspend_agreement": ("POST", "/v1/regulator/agreements/{target}/suspension"),
    "reinstate_agreement": ("DELETE", "/v1/regulator/agreements/{target}/suspension"),
    "terminate_agreement": ("POST", "/v1/regulator/agreements/{target}/termination"),
}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _signed_grant_json(signed: SignedGrant) -> dict[str, Any]:
    t = signed.terms
    return {
        "terms": {
            "institution": t.institution,
            "categories": t.categories,
            "purpose": int(t.purpose),
            "level": int(t.level),
            "not_before": t.not_before,
            "not_after": t.not_after,
            "max_uses": t.max_uses,
        },
        "signer": signed.signer,
        "deadline": signed.deadline,
        "signature": "0x" + signed.signature.hex(),
    }
