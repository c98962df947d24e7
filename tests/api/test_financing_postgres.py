"""The financing loop's core flow on PostgreSQL: publish, apply with the grant, approve (a
sealed loan anchored on chain), report the outcome, and a refused decision changing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, ApiWorld, FakeClock
from fastapi.testclient import TestClient
from financing_support import apply, approval, assert_refused, publish
from nodes import PG_URL, postgres_schema
from sqlalchemy import func, select
from test_financing_kpis import assert_kpis_equal_an_independent_computation, store_generated
from test_whitelist import _recommended
from world import USCCS, World

from ledger_api.api.app import create_app
from ledger_api.api.context import build_context
from ledger_api.crypto.keys import insert_subjects
from ledger_api.financing import client as fin
from ledger_api.financing.tables import EVENTS, LOANS
from ledger_api.store.db import make_engine, migrate

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_api(api_world: ApiWorld, world: World, tmp_path: Path) -> Iterator[Api]:
    with postgres_schema("ccl_test_financing") as schema:
        engine = make_engine(PG_URL, schema=schema)
        migrate(engine)
        clock = FakeClock()
        settings = api_world.settings
        ctx = build_context(
            settings,
            w3=world.w3,
            deployment=world.ledger.deployment,
            engine=engine,
            relayer=world.operator,
            clock=clock,
            run_migrations=False,
        )
        # The enterprise's data key, as its first ingested record would have created it.
        keyring = ctx.keyrings.current()
        with engine.begin() as conn:
            keys = keyring.keys_for(conn, {world.subject_ids[0]: USCCS[0]})
            insert_subjects(conn, keys.new_subjects)
        api = Api(world, ctx, TestClient(create_app(settings, context=ctx)), clock, settings)
        try:
            yield api
        finally:
            ctx.close()
            engine.dispose()


def test_the_core_financing_flow_runs_on_postgresql(pg_api: Api) -> None:
    api = pg_api
    product = publish(api)
    application = apply(api, product)
    bank = api.client(api.world.bank.account)
    other = api.client(api.world.bank_b.account)
    path = f"/v1/institution/financing/applications/{application.id}/decision"
    before = api.entry_count()
    refused = other.send("POST", path, json_body=approval())
    assert_refused(api, before, refused, 403, "not_your_application")
    decided = fin.decide(bank, application.id, approval())
    assert decided.loan_id is not None
    loan = fin.bank_loan(bank, decided.loan_id)
    assert loan.anchored and loan.amount == 400_000
    assert fin.report_outcome(bank, loan.id, "defaulted").status == "defaulted"
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LOANS)).scalar_one() == 1
        statuses = conn.execute(select(EVENTS.c.status)).scalars().all()
    assert statuses == ["anchored", "anchored"]


def test_the_white_list_and_the_kpis_run_on_postgresql(pg_api: Api) -> None:
    api = pg_api
    entry, _reviewer = _recommended(api)
    wallet = api.client(api.world.subject_keys[0])
    pushed = wallet.call(
        "POST",
        f"/v1/subject/whitelist/{entry['id']}/pushes",
        json_body={"banks": [{"institution": api.world.bank.address, "grant_id": api.grant(0)}]},
    )
    bank = api.client(api.world.bank.account)
    push_id = pushed["pushes"][0]["id"]
    path = f"/v1/institution/whitelist/pushes/{push_id}/decision"
    bank.call("POST", path, json_body={"decision": "approved"})
    product = publish(api)
    application = apply(api, product)
    fin.decide(bank, application.id, approval(first_loan=False))
    regulator = api.client(api.world.regulator.account)
    for group_by in ("month", "region", "industry", "institution"):
        kpis = regulator.call("GET", "/v1/audit/kpis", params={"group_by": group_by})
        assert kpis["totals"]["credit_loans"] == 1
        assert kpis["totals"]["enterprises_whitelisted"] == 1
        assert kpis["totals"]["pure_credit_share"] == 1.0
        assert kpis["totals"]["first_loans"] == 0
        assert kpis["totals"]["enterprises_covered"] == 1


def test_the_kpis_of_a_generated_set_equal_an_independent_computation_on_postgresql(
    pg_api: Api,
) -> None:
    generated = store_generated(pg_api).apps
    for group_by in ("month", "region", "industry", "institution"):
        assert_kpis_equal_an_independent_computation(pg_api, generated, group_by)
