"""Helpers shared by the API tests (a uniquely named module: several conftest.py exist).

API fixtures: the session's eth-tester world plus records ingested once into a template
SQLite database; each test gets a copy of that database and a fresh app (no shared caches)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from world import World

from ledger_api.accesslog import ACCESS_LOG
from ledger_api.api.app import create_app
from ledger_api.api.context import AppContext, build_context
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.client import LedgerClient
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine


class FakeClock:
    """Injectable wall clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _month(offset: int) -> str:
    today = date.today()
    total = today.year * 12 + today.month - 1 - offset
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def sample_rows(uscc: str, *, arrears: str = "0.00", headcount: int = 25) -> dict[str, list[dict]]:
    return {
        "registration": [
            {
                "uscc": uscc,
                "record_key": "reg-1",
                "enterprise_name": "郑州示例科技有限公司",
                "enterprise_type": "limited_company",
                "industry_section": "C",
                "division_code": "410100",
                "registered_capital": "1000000.00",
                "established_on": "2015-03-01",
                "business_status": "active",
                "legal_representative": "张三丰",
                "legal_rep_id_number": "410101199001011234",
                "contact_phone": "13800138000",
            }
        ],
        "tax": [
            {
                "uscc": uscc,
                "record_key": f"tax-{i}",
                "period": _month(i),
                "tax_type": "vat",
                "taxable_sales": "50000.00",
                "tax_paid": "3000.00",
                "arrears_amount": arrears if i == 1 else "0.00",
                "paid_on_time": True,
                "tax_grade": "A",
            }
            for i in range(1, 4)
        ],
        "social_insurance": [
            {
                "uscc": uscc,
                "record_key": f"si-{i}",
                "month": _month(i),
                "insured_headcount": headcount,
                "contribution_base_total": "90000.00",
                "paid_amount": "20000.00",
                "arrears_months": 0,
                "arrears_amount": "0.00",
            }
            for i in range(1, 3)
        ],
        "judicial": [
            {
                "uscc": uscc,
                "record_key": "case-1",
                "case_no": "(2024)豫01民初1号",
                "case_type": "civil",
                "court": "郑州市中级人民法院",
                "role": "plaintiff",
                "judgment_date": "2024-05-01",
                "status": "closed",
            }
        ],
    }


@dataclass
class ApiWorld:
    world: World
    template: Path
    settings: Settings


@dataclass
class Api:
    world: World
    ctx: AppContext
    http: TestClient
    clock: FakeClock
    settings: Settings

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    def client(self, account: LocalAccount) -> LedgerClient:
        return LedgerClient("http://testserver", account, transport=self.http, clock=self.clock)

    def grant(
        self,
        subject: int = 0,
        institution: str | None = None,
        *,
        categories: int = 0b1111,
        purpose: Purpose = Purpose.LOAN_APPLICATION,
        level: AccessLevel = AccessLevel.QUERY,
        not_before: int | None = None,
        not_after: int | None = None,
        max_uses: int = 0,
    ) -> int:
        now = int(self.clock())
        terms = GrantTerms(
            institution=institution or self.world.bank.address,
            categories=categories,
            purpose=purpose,
            level=level,
            not_before=now - 60 if not_before is None else not_before,
            not_after=now + 86400 if not_after is None else not_after,
            max_uses=max_uses,
        )
        return self.world.ledger.issue_grant(self.world.subject_tx[subject], terms)

    def last_entry(self) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(select(ACCESS_LOG).order_by(ACCESS_LOG.c.id.desc()).limit(1)).one()
        return dict(row._mapping)

    def entry_count(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(ACCESS_LOG.c.id)).all())


def make_api(api_world: ApiWorld, world: World, tmp_path: Path, **overrides: object) -> Api:
    db = tmp_path / "ledger.sqlite"
    shutil.copy(api_world.template, db)
    settings = api_world.settings.model_copy(update=overrides)
    clock = FakeClock()
    ctx = build_context(
        settings,
        w3=world.w3,
        deployment=world.ledger.deployment,
        engine=make_engine(f"sqlite:///{db}"),
        relayer=world.operator,
        clock=clock,
        run_migrations=False,
    )
    return Api(world, ctx, TestClient(create_app(settings, context=ctx)), clock, settings)
