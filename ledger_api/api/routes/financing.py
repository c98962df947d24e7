"""Financing endpoints: loan products (published by institutions, listed by anyone),
applications (an enterprise applies with its grant in one signature; its bank decides),
loans and their outcomes, and the regulator's overdue view. The flow: docs/financing.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import Connection, select
from web3 import Web3

from ledger_api.anchoring.keccak import keccak256
from ledger_api.api.auth import ContextDep, InstitutionDep, RegulatorDep, SubjectDep
from ledger_api.api.context import AppContext
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.reading import read_records
from ledger_api.api.routes.subject import _signed_grant
from ledger_api.catalog.loader import Catalog
from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.signatures import signature_from_hex
from ledger_api.crypto.keys import SubjectKeyring
from ledger_api.errors import ForbiddenError, InputError, NotFoundError
from ledger_api.financing import applications as apps
from ledger_api.financing import loans
from ledger_api.financing.events import add_event, anchor_events, events_of
from ledger_api.financing.kpis import kpis
from ledger_api.financing.products import (
    ProductFilter,
    create_product,
    list_products,
    load_product,
    product_out,
)
from ledger_api.financing.schemas import (
    ApplicationIn,
    ApplicationOut,
    DecisionIn,
    EventOut,
    LoanOut,
    OutcomeIn,
    ProductIn,
    ProductOut,
)
from ledger_api.financing.tables import APPLICATIONS, PRODUCTS

log = logging.getLogger(__name__)

public_router = APIRouter(prefix="/v1/financing", tags=["meta"], responses=PROBLEMS)
institution_router = APIRouter(
    prefix="/v1/institution/financing", tags=["institution"], responses=PROBLEMS
)
subject_router = APIRouter(prefix="/v1/subject/financing", tags=["subject"], responses=PROBLEMS)
audit_router = APIRouter(prefix="/v1/audit/financing", tags=["audit"], responses=PROBLEMS)

IdPath = Annotated[int, Path(ge=1, lt=2**63)]


def now_of(ctx: AppContext) -> int:
    return int(ctx.clock())


def names(ctx: AppContext) -> Callable[[str], str]:
    """Institution address -> its registered name (the address if it has none)."""
    state = ctx.state()
    cache: dict[str, str] = {}

    def name_of(address: str) -> str:
        if address not in cache:
            profile = state.institution(address)
            cache[address] = profile.name if profile is not None else address
        return cache[address]

    return name_of


def anchor(ctx: AppContext, event_ids: list[int]) -> None:
    """Anchor events whose state change is committed. A failure here must not turn an
    accepted change into an error: the event stays pending and the API's start (or
    ``ccl resume``) anchors it; answers show ``anchored`` false meanwhile."""
    try:
        anchor_events(ctx.engine, ChainAnchorer(ctx.ledger, ctx.relayer), event_ids)
    except Exception:
        log.exception("anchoring financing events %s failed; left pending", event_ids)


# -- products ----------------------------------------------------------------------------------


@public_router.get("/products", response_model=list[ProductOut], summary="List loan products")
def products(
    ctx: ContextDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    industry: Annotated[str | None, Query(pattern=r"^[A-T]$")] = None,
    kind: Annotated[
        Literal["pure_credit", "guarantee", "pledge", "supply_chain"] | None, Query()
    ] = None,
    institution: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    amount: Annotated[int | None, Query(ge=1, le=10**12)] = None,
    include_inactive: bool = False,
) -> list[ProductOut]:
    where = ProductFilter(
        region=region,
        industry=industry,
        kind=kind,
        institution=None if institution is None else _checksum(institution),
        amount=amount,
        active_at=None if include_inactive else now_of(ctx),
    )
    with ctx.engine.connect() as conn:
        rows = list_products(conn, where)
    name_of = names(ctx)
    return [
        product_out(r, ctx.catalog, name_of, ctx.settings.financing_decision_days) for r in rows
    ]


@public_router.get("/products/{product_id}", response_model=ProductOut, summary="One product")
def product(product_id: IdPath, ctx: ContextDep) -> ProductOut:
    with ctx.engine.connect() as conn:
        row = load_product(conn, product_id)
    return product_out(row, ctx.catalog, names(ctx), ctx.settings.financing_decision_days)


@institution_router.post(
    "/products", response_model=ProductOut, status_code=201, summary="Publish a loan product"
)
def publish_product(body: ProductIn, ctx: ContextDep, actor: InstitutionDep) -> ProductOut:
    product_id = create_product(ctx.engine, actor.address, body, ctx.catalog, now_of(ctx))
    return product(product_id, ctx)


def _checksum(address: str) -> str:
    return str(Web3.to_checksum_address(address))


REGISTRATION_BIT = 0  # the catalog's registration category (division code, industry section)


def registered_place(
    conn: Connection, keyring: SubjectKeyring, catalog: Catalog, subject_id: bytes
) -> tuple[str, str] | None:
    """(division code, industry section) of the enterprise's newest registration record, or
    None when the platform holds none (then the application's own words are kept)."""
    try:
        records = read_records(conn, keyring, catalog, subject_id, [REGISTRATION_BIT])
    except NotFoundError:  # no data key: nothing ingested for this enterprise
        return None
    for record in reversed(records):
        division, section = (
            record.fields.get("division_code"),
            record.fields.get("industry_section"),
        )
        if isinstance(division, str) and isinstance(section, str):
            return division, section
    return None


# -- applications ------------------------------------------------------------------------------


def application_out(conn: Connection, ctx: AppContext, row: Any, name_of: Any) -> ApplicationOut:
    product_name = conn.execute(
        select(PRODUCTS.c.name).where(PRODUCTS.c.id == row.product_id)
    ).scalar_one()
    loan = loans.loan_of_application(conn, int(row.id))
    return ApplicationOut(
        id=row.id,
        product_id=row.product_id,
        product_name=product_name,
        institution=row.institution,
        institution_name=name_of(row.institution),
        subject_id="0x" + bytes(row.subject_id).hex(),
        grant_id=row.grant_id,
        amount=row.amount,
        term_months=row.term_months,
        region=row.region,
        industry=row.industry,
        status=row.status,
        submitted_at=row.submitted_at,
        decision_deadline=row.decision_deadline,
        decided_at=row.decided_at,
        decline_reason=row.decline_reason,
        overdue=apps.is_overdue(row, now_of(ctx)),
        loan_id=None if loan is None else loan.id,
    )


def _one_application(ctx: AppContext, application_id: int) -> ApplicationOut:
    with ctx.engine.connect() as conn:
        row = apps.load_application(conn, application_id)
        return application_out(conn, ctx, row, names(ctx))


@subject_router.post(
    "/applications",
    response_model=ApplicationOut,
    status_code=201,
    summary="Apply to a loan product with the grant it needs (one signature covers both)",
)
def apply(body: ApplicationIn, ctx: ContextDep, actor: SubjectDep) -> ApplicationOut:
    assert actor.subject is not None
    signed = _signed_grant(body.grant)
    if signed.signer != actor.address:
        raise ForbiddenError(
            "the grant must be signed by the requesting subject's key", code="signer_mismatch"
        )
    terms = apps.ApplicationTerms(
        body.product_id, body.amount, body.term_months, body.region, body.industry, actor.address
    )
    signature = signature_from_hex(body.signature)
    if apps.recover_applicant(terms, signed.signature, signature) != actor.address:
        raise InputError(
            "the application is not signed by the requesting subject's key",
            code="bad_application_signature",
        )
    now = now_of(ctx)
    deadline = now + ctx.settings.financing_decision_days * apps.DAY_S
    digest = terms.digest(signed.signature)
    with ctx.engine.connect() as conn:
        product_row = load_product(conn, body.product_id)
        apps.check_against_product(product_row, terms, signed, now, deadline)
        place = registered_place(
            conn, ctx.keyrings.current(), ctx.catalog, actor.subject.subject_id
        )
        apps.check_place(place, body.region, body.industry)
        if conn.execute(
            select(APPLICATIONS.c.id).where(APPLICATIONS.c.application_hash == digest)
        ).first():
            raise InputError("this application was submitted already", code="duplicate_application")
    # The grant first, exactly as the wallet's relay: an application is stored only with a
    # grant its bank can read under (a refused grant leaves nothing stored).
    [grant_id] = ctx.ledger.relay_grant_batch(ctx.relayer, [signed]).grant_ids
    with ctx.engine.begin() as conn:
        new_id = conn.execute(
            APPLICATIONS.insert()
            .values(
                product_id=body.product_id,
                institution=product_row.institution,
                subject_id=actor.subject.subject_id,
                account=actor.address,
                grant_id=grant_id,
                amount=body.amount,
                term_months=body.term_months,
                region=body.region,
                industry=body.industry,
                application_hash=digest,
                signature=signature,
                status="submitted",
                decision_deadline=deadline,
                submitted_at=now,
            )
            .returning(APPLICATIONS.c.id)
        ).scalar_one()
    return _one_application(ctx, int(new_id))


@subject_router.get(
    "/applications", response_model=list[ApplicationOut], summary="My loan applications"
)
def my_applications(ctx: ContextDep, actor: SubjectDep) -> list[ApplicationOut]:
    assert actor.subject is not None
    name_of = names(ctx)
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(APPLICATIONS)
            .where(APPLICATIONS.c.subject_id == actor.subject.subject_id)
            .order_by(APPLICATIONS.c.id)
        ).all()
        return [application_out(conn, ctx, r, name_of) for r in rows]


@subject_router.post(
    "/applications/{application_id}/withdrawal",
    response_model=ApplicationOut,
    summary="Withdraw my application before the bank decides",
)
def withdraw(application_id: IdPath, ctx: ContextDep, actor: SubjectDep) -> ApplicationOut:
    assert actor.subject is not None
    with ctx.engine.begin() as conn:
        row = apps.load_application(conn, application_id)
        if bytes(row.subject_id) != actor.subject.subject_id:
            raise ForbiddenError(
                f"loan application {application_id} is not yours", code="not_your_application"
            )
        if row.status != "submitted":
            raise InputError(f"loan application is {row.status}", code="already_decided")
        apps.close_application(conn, row, "withdrawn", now_of(ctx))
    return _one_application(ctx, application_id)


@institution_router.get(
    "/applications", response_model=list[ApplicationOut], summary="Applications to my products"
)
def bank_applications(
    ctx: ContextDep,
    actor: InstitutionDep,
    status: Annotated[
        Literal["submitted", "approved", "declined", "withdrawn"] | None, Query()
    ] = None,
) -> list[ApplicationOut]:
    query = select(APPLICATIONS).where(APPLICATIONS.c.institution == actor.address)
    if status is not None:
        query = query.where(APPLICATIONS.c.status == status)
    name_of = names(ctx)
    with ctx.engine.connect() as conn:
        rows = conn.execute(query.order_by(APPLICATIONS.c.id)).all()
        return [application_out(conn, ctx, r, name_of) for r in rows]


def _check_decision(body: DecisionIn, product_row: Any) -> None:
    if body.decision == "declined":
        if body.reason is None:
            raise InputError("a decline needs a reason code", code="reason_required")
        return
    if body.amount is None or body.rate_bp is None or body.term_months is None:
        raise InputError(
            "an approval needs amount, rate_bp and term_months", code="decision_incomplete"
        )
    if not product_row.amount_min <= body.amount <= product_row.amount_max:
        raise InputError("the amount is outside the product's range", code="amount_out_of_range")
    if not product_row.rate_min_bp <= body.rate_bp <= product_row.rate_max_bp:
        raise InputError("the rate is outside the product's range", code="rate_out_of_range")
    if not product_row.term_min_months <= body.term_months <= product_row.term_max_months:
        raise InputError("the term is outside the product's range", code="term_out_of_range")


@institution_router.post(
    "/applications/{application_id}/decision",
    response_model=ApplicationOut,
    summary="Approve (recording the loan) or decline an application",
)
def decide(
    application_id: IdPath, body: DecisionIn, ctx: ContextDep, actor: InstitutionDep
) -> ApplicationOut:
    now = now_of(ctx)
    with ctx.engine.begin() as conn:
        row = apps.load_application(conn, application_id)
        apps.require_open_for(row, actor.address)
        _check_decision(body, load_product(conn, row.product_id))
        if body.decision == "declined":
            apps.close_application(conn, row, "declined", now, decline_reason=body.reason)
            event = add_event(
                conn,
                "application_declined",
                application_id,
                actor.address,
                now,
                reason=body.reason,
            )
        else:
            apps.close_application(conn, row, "approved", now)
            assert body.amount and body.rate_bp is not None and body.term_months
            loan_id = loans.insert_loan(
                conn,
                ctx.keyrings.current(),
                row,
                loans.LoanTerms(
                    amount=body.amount,
                    rate_bp=body.rate_bp,
                    term_months=body.term_months,
                    pure_credit=body.pure_credit,
                    first_loan=body.first_loan,
                    renewal_without_repayment=body.renewal_without_repayment,
                    granted_at=now,
                ),
            )
            # The anchored record names the loan, not its terms: those stay sealed.
            event = add_event(
                conn,
                "loan_recorded",
                loan_id,
                actor.address,
                now,
                application=application_id,
                terms_digest="0x" + keccak256(_sealed(conn, loan_id)).hex(),
            )
    anchor(ctx, [event])
    return _one_application(ctx, application_id)


def _sealed(conn: Connection, loan_id: int) -> bytes:
    return bytes(loans.load_loan(conn, loan_id).terms_sealed)


# -- loans -------------------------------------------------------------------------------------


def loan_out(conn: Connection, ctx: AppContext, loan: Any) -> LoanOut:
    terms = loans.open_terms(conn, ctx.keyrings.current(), loan)
    recorded = events_of(conn, "loan_recorded", int(loan.id))
    return LoanOut(
        id=loan.id,
        application_id=loan.application_id,
        institution=loan.institution,
        institution_name=names(ctx)(loan.institution),
        subject_id="0x" + bytes(loan.subject_id).hex(),
        amount=terms.amount,
        rate_bp=terms.rate_bp,
        term_months=terms.term_months,
        pure_credit=terms.pure_credit,
        first_loan=terms.first_loan,
        renewal_without_repayment=terms.renewal_without_repayment,
        granted_at=terms.granted_at,
        status=loan.status,
        outcome_at=loan.outcome_at,
        anchored=bool(recorded) and recorded[0].status == "anchored",
    )


@institution_router.get("/loans/{loan_id}", response_model=LoanOut, summary="A loan I granted")
def bank_loan(loan_id: IdPath, ctx: ContextDep, actor: InstitutionDep) -> LoanOut:
    with ctx.engine.connect() as conn:
        loan = loans.load_loan(conn, loan_id)
        if loan.institution != actor.address:
            raise ForbiddenError(f"loan {loan_id} is not this institution's", code="not_your_loan")
        return loan_out(conn, ctx, loan)


@subject_router.get("/loans/{loan_id}", response_model=LoanOut, summary="A loan I obtained")
def my_loan(loan_id: IdPath, ctx: ContextDep, actor: SubjectDep) -> LoanOut:
    assert actor.subject is not None
    with ctx.engine.connect() as conn:
        loan = loans.load_loan(conn, loan_id)
        if bytes(loan.subject_id) != actor.subject.subject_id:
            raise ForbiddenError(f"loan {loan_id} is not yours", code="not_your_loan")
        return loan_out(conn, ctx, loan)


@institution_router.post(
    "/loans/{loan_id}/outcome", response_model=LoanOut, summary="Report repayment or default"
)
def loan_outcome(
    loan_id: IdPath, body: OutcomeIn, ctx: ContextDep, actor: InstitutionDep
) -> LoanOut:
    now = now_of(ctx)
    with ctx.engine.begin() as conn:
        loan = loans.load_loan(conn, loan_id)
        loans.report_outcome(conn, loan, actor.address, body.outcome, now)
        event = add_event(conn, "loan_" + body.outcome, loan_id, actor.address, now)
    anchor(ctx, [event])
    return bank_loan(loan_id, ctx, actor)


# -- the regulator -----------------------------------------------------------------------------


@audit_router.get(
    "/overdue-applications",
    response_model=list[ApplicationOut],
    summary="Applications past their decision deadline without a decision",
)
def overdue(ctx: ContextDep, actor: RegulatorDep) -> list[ApplicationOut]:
    now = now_of(ctx)
    name_of = names(ctx)
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(APPLICATIONS)
            .where(APPLICATIONS.c.status == "submitted", APPLICATIONS.c.decision_deadline < now)
            .order_by(APPLICATIONS.c.decision_deadline)
        ).all()
        return [application_out(conn, ctx, r, name_of) for r in rows]


@audit_router.get(
    "/events/{ref_kind}/{ref_id}",
    response_model=list[EventOut],
    summary="The anchored financing events of a loan, application or white-list entry",
)
def events(
    ref_kind: Literal["loan", "application", "whitelist", "reviewer"],
    ref_id: IdPath,
    ctx: ContextDep,
    actor: RegulatorDep,
) -> list[EventOut]:
    with ctx.engine.connect() as conn:
        rows = events_of(conn, ref_kind, ref_id)
    return [
        EventOut(
            id=r.id,
            kind=r.kind,
            actor=r.actor,
            at=r.at,
            record=r.record,
            leaf="0x" + bytes(r.leaf).hex(),
            anchored=r.status == "anchored",
            anchor_sequence=r.anchor_sequence,
            tx_hash=None if r.tx_hash is None else "0x" + bytes(r.tx_hash).hex(),
        )
        for r in rows
    ]


kpi_router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEMS)


@kpi_router.get(
    "/kpis",
    summary="The plan's KPIs by month, region, industry or institution (aggregates only)",
)
def audit_kpis(
    ctx: ContextDep,
    actor: RegulatorDep,
    group_by: Literal["month", "region", "industry", "institution"] = "month",
) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        out = kpis(conn, group_by, names(ctx))
    for row in out["records_collected"]:
        row["category"] = ctx.catalog.category(int(row["category_bit"])).name
    return out
