"""The soak's memory probe, loaded into the server only when ``CCL_SOAK_DIAGNOSE`` names a
directory (a debugging aid of the benchmark; the product never imports it).

``install(directory)``: on each SIGUSR1 the server writes ``probe-N.json`` (RSS split into
anonymous and file-backed pages from ``/proc/self/smaps_rollup``, glibc's ``mallinfo2`` summed
over its arenas, SQLite's own allocator, the thread count). The first signal also starts
``tracemalloc`` (not earlier: tracing the start-up would slow it past the benchmark's bound);
later ones write ``probe-N.tracemalloc``, the Python allocations made since the first and still
alive. ``report(directory)`` compares the first and the last probe: heap growth (anonymous,
allocated) is told from page cache (file-backed) and from free space the allocator keeps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import signal
import threading
import tracemalloc
from pathlib import Path
from typing import Any

# Frames kept per traced allocation (CCL_SOAK_TRACE_FRAMES; 0: no tracemalloc). Tracing slows
# the server several times over, so the soak then serves far fewer requests than without.
_FRAMES = int(os.environ.get("CCL_SOAK_TRACE_FRAMES", "0"))


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mallinfo() -> dict[str, float]:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    mib = 2**20
    return {
        "heap_mb": round(info.arena / mib, 1),  # obtained with brk/arenas (not mmap)
        "mmapped_mb": round(info.hblkhd / mib, 1),
        "allocated_mb": round(info.uordblks / mib, 1),
        "free_mb": round(info.fordblks / mib, 1),
    }


def _sqlite() -> dict[str, float]:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    except OSError:
        return {}
    values = {}
    # SQLITE_STATUS_MEMORY_USED (all of SQLite's heap), PAGECACHE_OVERFLOW (its page caches)
    for name, op in (("sqlite_mb", 0), ("sqlite_pagecache_mb", 2)):
        current, peak = ctypes.c_int64(), ctypes.c_int64()
        lib.sqlite3_status64(op, ctypes.byref(current), ctypes.byref(peak), 0)
        values[name] = round(current.value / 2**20, 1)
    return values


def _smaps() -> dict[str, float]:
    values: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in ("Rss", "Anonymous", "Private_Clean", "Shared_Clean", "Private_Dirty"):
            values[name.lower() + "_mb"] = round(int(rest.split()[0]) / 1024, 1)
    return values


def probe() -> dict[str, Any]:
    return {
        **_smaps(),
        **_mallinfo(),
        **_sqlite(),
        "threads": threading.active_count(),
        "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1),
    }


def install(directory: str) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    count = 0

    def dump(_signum: int, _frame: Any) -> None:
        nonlocal count
        count += 1
        before = probe()
        counts = gc.get_count()
        unreachable = gc.collect()  # what cyclic garbage the collector had not reached yet
        after = {f"after_collect_{k}": v for k, v in probe().items()}
        found = {"gc_counts": counts, "gc_unreachable": unreachable}
        (out / f"probe-{count}.json").write_text(json.dumps({**before, **found, **after}))
        if not _FRAMES:
            pass
        elif count == 1:
            tracemalloc.start(_FRAMES)
        else:
            tracemalloc.take_snapshot().dump(str(out / f"probe-{count}.tracemalloc"))
        (out / f"probe-{count}.done").touch()

    signal.signal(signal.SIGUSR1, dump)


def report(directory: Path, top: int = 15) -> dict[str, Any]:
    """The first and last probes, and where the Python allocations made between them and
    still alive at the last were made (largest first)."""
    probes = sorted(directory.glob("probe-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    first, last = probes[0], probes[-1]
    compared = {"first": json.loads(first.read_text()), "last": json.loads(last.read_text())}
    if not last.with_suffix(".tracemalloc").exists():
        return compared
    after = tracemalloc.Snapshot.load(str(last.with_suffix(".tracemalloc")))
    return {
        **compared,
        "python_alive_since_first_mb": round(
            sum(s.size for s in after.statistics("filename")) / 2**20, 2
        ),
        "python_growth": [
            {
                "kib": round(stat.size / 1024, 1),
                "count": stat.count,
                "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback[-4:]],
            }
            for stat in after.statistics("traceback")[:top]
        ],
    }
