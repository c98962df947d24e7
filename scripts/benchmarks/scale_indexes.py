"""PostgreSQL's indexes and constraints after a bulk load, built on two sessions at once.

One ``CREATE INDEX`` keeps both cores busy only while it scans and sorts; its final merge and
the writing of the tree run on one. Two sessions building different indexes at once, each
without parallel workers, fill that gap: at 10^6 enterprises the state's indexes took 17 s
this way against 28 s one at a time with two workers each (docs/benchmarks.md, "Scale").

``rebuild(engine, statements)`` takes the statements a loader saved before dropping what they
make (``ALTER TABLE .. ADD CONSTRAINT .. PRIMARY KEY|UNIQUE|FOREIGN KEY ..``, ``CREATE
INDEX ..``) and ends with the same catalog: a primary key or unique constraint becomes its
unique index, built in the pool under the constraint's name, then the constraint ``USING
INDEX`` it (what ``ADD CONSTRAINT`` would have built); foreign keys and anything else run
afterwards, in their order. The load's rows must be committed: the pool's sessions see only
committed rows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, text

SESSIONS = 2
_KEY = re.compile(
    r'^ALTER TABLE (?P<table>\S+) ADD CONSTRAINT "?(?P<name>[^"\s]+)"? '
    r"(?P<kind>PRIMARY KEY|UNIQUE) \((?P<columns>[^()]*)\)$"
)
_INDEX_ON = re.compile(r"^CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?(?P<table>\S+) ")
_ALTER = re.compile(r"^ALTER TABLE (?:ONLY )?(?P<table>\S+) ")


def table_of(statement: str) -> str | None:
    """The table a ``CREATE INDEX`` or ``ALTER TABLE`` statement builds on, without its
    schema; None for another statement."""
    found = _INDEX_ON.match(statement) or _ALTER.match(statement)
    return None if found is None else found["table"].rsplit(".", 1)[-1].strip('"')


@dataclass(frozen=True)
class Plan:
    pooled: list[tuple[str, str]]  # (table, statement): built two at a time
    after: list[str]  # in order, once the pool is done


def plan(statements: Iterable[str]) -> Plan:
    pooled: list[tuple[str, str]] = []
    keys: list[str] = []
    others: list[str] = []
    for statement in statements:
        key = _KEY.match(statement)
        index = _INDEX_ON.match(statement)
        if key:
            table, name = key["table"], key["name"]
            pooled.append((table, f'CREATE UNIQUE INDEX "{name}" ON {table} ({key["columns"]})'))
            keys.append(
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {key["kind"]} USING INDEX "{name}"'
            )
        elif index:
            pooled.append((index["table"], statement))
        else:
            others.append(statement)
    return Plan(pooled, keys + others)  # the keys first: foreign keys need them


def rebuild(engine: Engine, statements: Iterable[str], *, sessions: int = SESSIONS) -> None:
    """Run ``statements`` as ``plan`` orders them; the largest tables' indexes start first."""
    work = plan(statements)
    if not work.pooled and not work.after:
        return
    with engine.connect() as conn:
        sizes = {
            table: int(conn.execute(
                text("SELECT pg_relation_size(CAST(:t AS regclass))"), {"t": table}
            ).scalar_one())
            for table in {table for table, _ in work.pooled}
        }  # fmt: skip
    queue = [s for _, s in sorted(work.pooled, key=lambda p: sizes[p[0]], reverse=True)]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def build() -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
                conn.exec_driver_sql("SET max_parallel_maintenance_workers = 0")
                conn.exec_driver_sql("SET synchronous_commit = off")
                conn.commit()
                while True:
                    with lock:
                        if not queue or failures:
                            return
                        statement = queue.pop(0)
                    conn.exec_driver_sql(statement)
                    conn.commit()
        except BaseException as error:  # re-raised in the caller's thread
            with lock:
                failures.append(error)

    threads = [threading.Thread(target=build) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    with engine.begin() as conn:
        for statement in work.after:
            conn.exec_driver_sql(statement)
