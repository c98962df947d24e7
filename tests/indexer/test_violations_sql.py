"""The violations view answered by the database equals the Python re-check of every entry."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from forged_log import BANKS, DAY, SUBJECTS, T0, load_log, load_replica
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from violations_oracle import python_violations

from indexer import audit_views
from ledger_api.chain.types import GrantCheck

ENTRIES = 3000
EVERY_REASON = {check.code for check in GrantCheck if check != GrantCheck.USABLE} | {"no_grant"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def forged(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    rng = random.Random(32)
    load_log(engine, rng, load_replica(engine, rng), ENTRIES)
    return engine


def _both(engine: Engine, **filters: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with Session(engine) as session:
        sql = audit_views.violations(session, limit=ENTRIES, **filters)
        oracle = python_violations(session, **filters)
    return sql, oracle


def test_the_sql_view_names_the_same_violations_as_the_python_recheck(forged: Engine) -> None:
    sql, oracle = _both(forged)
    assert sql == oracle
    assert {row["violation"] for row in oracle} == EVERY_REASON  # every kind was forged
    assert 0 < len(oracle) < ENTRIES


@pytest.mark.parametrize(
    "filters",
    [
        {"institution": BANKS[1]},
        {"subject_id": SUBJECTS[2]},
        {"since": datetime.fromtimestamp(T0 + 3 * DAY, UTC),
         "until": datetime.fromtimestamp(T0 + 4 * DAY, UTC)},
        {"institution": BANKS[0], "since": datetime.fromtimestamp(T0 + 5 * DAY, UTC)},
    ],
    ids=["institution", "subject", "one-day", "institution-since"],
)  # fmt: skip
def test_filters_select_the_same_violations_in_sql_and_python(
    forged: Engine, filters: dict[str, Any]
) -> None:
    sql, oracle = _both(forged, **filters)
    assert sql == oracle and oracle


def test_pages_by_key_and_by_offset_add_up_to_the_whole_list(forged: Engine) -> None:
    with Session(forged) as session:
        whole = [row["entry_id"] for row in audit_views.violations(session, limit=ENTRIES)]
        by_key: list[int] = []
        after: int | None = None
        while page := audit_views.violations(session, limit=97, after_id=after):
            by_key += [row["entry_id"] for row in page]
            after = by_key[-1]
        by_offset = [
            row["entry_id"] for row in audit_views.violations(session, limit=50, offset=50)
        ]
    assert by_key == whole and by_offset == whole[50:100]
