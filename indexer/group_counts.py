"""``count_groups``: rows per group, with per-flag sums, in memory bounded by the groups.

The audit's aggregate views (volumes, statistics) count access-log entries per group. A SQL
``GROUP BY`` over them is a sort on SQLite: every matching entry goes into a sort buffer that
doubles up to the connection's cache size, inside the API process, in whichever worker thread
serves the request. The allocator keeps those buffers' memory per thread once they are freed,
so a server answering these views grew by tens of MiB as its log grew (the soak benchmark,
docs/benchmarks.md). On SQLite the rows are therefore streamed (no sort: the filters' index
or the table in order) and counted here, in memory proportional to the number of groups.
PostgreSQL groups in its own server process (a hash aggregate that spills past ``work_mem``),
so there the database counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, case, func
from sqlalchemy.sql.elements import ColumnElement

_STREAM_BATCH = 1000


def count_groups(
    conn: Connection,
    query: Select[Any],
    keys: Sequence[ColumnElement[Any]],
    flags: Mapping[str, ColumnElement[bool]],
) -> dict[tuple[Any, ...], dict[str, int]]:
    """``{group key: {"total": rows, flag: rows where flag holds, ...}}`` of ``query``'s rows
    (its FROM and WHERE; its columns and order are replaced) grouped by ``keys``."""
    width = len(keys)
    if conn.dialect.name != "sqlite":
        grouped = (
            query.with_only_columns(
                *keys,
                func.count(),
                *(func.sum(case((flag, 1), else_=0)) for flag in flags.values()),
            )
            .group_by(*keys)
            .order_by(None)
        )
        return {
            tuple(row[:width]): _named(flags, [int(v or 0) for v in row[width:]])
            for row in conn.execute(grouped)
        }
    streamed = query.with_only_columns(
        *keys, *(case((flag, 1), else_=0) for flag in flags.values())
    ).order_by(None)
    counts: dict[tuple[Any, ...], list[int]] = {}
    result = conn.execution_options(yield_per=_STREAM_BATCH).execute(streamed)
    for row in result:
        key = tuple(row[:width])
        tally = counts.get(key)
        if tally is None:
            tally = counts[key] = [0] * (len(flags) + 1)
        tally[0] += 1
        for i, value in enumerate(row[width:], 1):
            tally[i] += value
    return {key: _named(flags, tally) for key, tally in counts.items()}


def _named(flags: Mapping[str, Any], tally: list[int]) -> dict[str, int]:
    return {"total": tally[0], **dict(zip(flags, tally[1:], strict=True))}
