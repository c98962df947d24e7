"""Loan products (信贷产品): an institution publishes them, anyone lists and filters them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from ledger_api.catalog.loader import Catalog
from ledger_api.errors import InputError, NotFoundError
from ledger_api.financing.schemas import ProductIn, ProductOut
from ledger_api.financing.tables import PRODUCTS

LOAN_PURPOSE = "loan_application"
INDUSTRY_SECTIONS = frozenset("ABCDEFGHIJKLMNOPQRST")  # GB/T 4754-2017 sections
NameOf = Callable[[str], str]


def _check_product(body: ProductIn, catalog: Catalog) -> int:
    """The product's category mask; InputError with a stable code for anything inconsistent."""
    for low, high, what in (
        (body.amount_min, body.amount_max, "amount"),
        (body.term_min_months, body.term_max_months, "term"),
        (body.rate_min_bp, body.rate_max_bp, "rate"),
        (body.valid_from, body.valid_until, "validity"),
    ):
        if low > high or (what == "validity" and low == high):
            raise InputError(f"the {what} range is empty ({low} > {high})", code="empty_range")
    bad_regions = [r for r in body.regions if len(r) != 6 or not r.isdigit() or r[:2] != "41"]
    if bad_regions:
        raise InputError(
            f"not Henan division codes: {', '.join(bad_regions)}", code="unknown_region"
        )
    bad_sections = [s for s in body.industries if s not in INDUSTRY_SECTIONS]
    if bad_sections:
        raise InputError(
            f"not GB/T 4754 sections: {', '.join(bad_sections)}", code="unknown_industry"
        )
    unknown = [c for c in body.categories if c not in catalog.category_names]
    if unknown:
        raise InputError(f"unknown categories: {', '.join(unknown)}", code="unknown_category")
    return catalog.bitmask(body.categories)


def create_product(
    engine: Engine, institution: str, body: ProductIn, catalog: Catalog, now: int
) -> int:
    mask = _check_product(body, catalog)
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(PRODUCTS)
                .values(
                    institution=institution,
                    name=body.name,
                    kind=body.kind,
                    amount_min=body.amount_min,
                    amount_max=body.amount_max,
                    term_min_months=body.term_min_months,
                    term_max_months=body.term_max_months,
                    rate_min_bp=body.rate_min_bp,
                    rate_max_bp=body.rate_max_bp,
                    regions=json.dumps(sorted(set(body.regions))),
                    industries=json.dumps(sorted(set(body.industries))),
                    categories=mask,
                    purpose=LOAN_PURPOSE,
                    valid_from=body.valid_from,
                    valid_until=body.valid_until,
                    created_at=now,
                )
                .returning(PRODUCTS.c.id)
            ).scalar_one()
        )


def product_out(row: Any, catalog: Catalog, name_of: NameOf, decision_days: int) -> ProductOut:
    mask = int(row.categories)
    return ProductOut(
        id=row.id,
        institution=row.institution,
        institution_name=name_of(row.institution),
        name=row.name,
        kind=row.kind,
        amount_min=row.amount_min,
        amount_max=row.amount_max,
        term_min_months=row.term_min_months,
        term_max_months=row.term_max_months,
        rate_min_bp=row.rate_min_bp,
        rate_max_bp=row.rate_max_bp,
        regions=json.loads(row.regions),
        industries=json.loads(row.industries),
        categories=[c for c in catalog.category_names if mask & catalog.category(c).mask],
        category_mask=mask,
        purpose=row.purpose,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        decision_days=decision_days,
    )


def load_product(conn: Connection, product_id: int) -> Any:
    row = conn.execute(select(PRODUCTS).where(PRODUCTS.c.id == product_id)).first()
    if row is None:
        raise NotFoundError(f"no loan product {product_id}", code="product_not_found")
    return row


@dataclass(frozen=True)
class ProductFilter:
    region: str | None = None
    industry: str | None = None
    kind: str | None = None
    institution: str | None = None
    amount: int | None = None
    active_at: int | None = None  # only products valid at this time


def list_products(conn: Connection, where: ProductFilter) -> list[Any]:
    query = select(PRODUCTS).order_by(PRODUCTS.c.id)
    if where.kind is not None:
        query = query.where(PRODUCTS.c.kind == where.kind)
    if where.institution is not None:
        query = query.where(PRODUCTS.c.institution == where.institution)
    if where.amount is not None:
        query = query.where(
            PRODUCTS.c.amount_min <= where.amount, PRODUCTS.c.amount_max >= where.amount
        )
    if where.active_at is not None:
        query = query.where(
            PRODUCTS.c.valid_from <= where.active_at, PRODUCTS.c.valid_until > where.active_at
        )
    rows = conn.execute(query).all()
    # Regions and industries are short JSON lists: filtered here, the same on both databases.
    return [
        r
        for r in rows
        if (where.region is None or where.region in json.loads(r.regions))
        and (where.industry is None or where.industry in json.loads(r.industries))
    ]
