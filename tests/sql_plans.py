"""``statements_that_sort(engine, run)``: which access-log queries ``run`` issued make SQLite
sort (a temp b-tree) instead of reading an index or the table in order.

A sort holds every matching row in a buffer that grows with the log, inside the API process
(docs/benchmarks.md, the soak): pages and aggregates over the log must not need one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event


def statements_that_sort(engine: Engine, run: Callable[[], Any]) -> list[str]:
    assert engine.dialect.name == "sqlite"
    issued: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "access_log" in statement and statement.lstrip().upper().startswith("SELECT"):
            issued.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert issued, "no query over the access log was issued"
    sorting = []
    with engine.connect() as conn:
        for statement, parameters in issued:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            if any("TEMP B-TREE" in str(step[-1]) for step in plan):
                sorting.append(statement)
    return sorting
