"""The API process's allocator kept to the memory it uses (glibc only; elsewhere nothing).

Under steady load the API's resident memory crept about 10 MiB a minute while the memory in
use stayed flat: glibc gives each thread that allocates while another holds an arena a new
arena (up to 8 per core), and keeps what a thread freed in its arena instead of returning it.
The worker threads that serve synchronous work each came to hold their own peak. Two levers,
both through ``mallopt``/``malloc_trim`` (docs/operators.md, "Memory"):

- ``cap_arenas``: at most ``CCL_MALLOC_ARENAS`` arenas (default 2), set once per process before
  the serving threads start, so freed memory is shared instead of parked per thread;
- ``Trimmer``: ``malloc_trim(0)`` every ``CCL_MALLOC_TRIM_EVERY_S`` seconds (default 30) in a
  thread of its own, off the request path, handing freed pages back to the system.

0 turns either off.

A third lever bounds the threads themselves: ``bound_thread_pool`` sets the event loop's
default thread limiter (synchronous routes and dependencies) to ``CCL_THREAD_POOL_SIZE``
(default 8) instead of anyio's 40. Every thread that ever served keeps its stack and its
thread-local caches, and the connections a burst of threads opened keep their page caches, so
the process's memory would follow the largest burst it has seen; the database pool is sized to
match (``ledger_api.store.db.serving_pool_size``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from anyio import to_thread

from ledger_api.settings import Settings

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h


class Allocator(Protocol):
    """The two glibc calls used (a ctypes CDLL, or a test's stand-in)."""

    def mallopt(self, param: int, value: int) -> int: ...

    def malloc_trim(self, pad: int) -> int: ...


def glibc() -> Allocator | None:
    """The running glibc, or None on another C library or platform (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it; musl raises AttributeError
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_capped_lock = threading.Lock()
_capped: int | None = None  # the arena cap set in this process, once


def cap_arenas(arenas: int, allocator: Allocator | None = None) -> bool:
    """Limit the allocator to ``arenas`` arenas (0: leave glibc's default); True if set now.

    Called once per process, as early as its entry point allows: glibc fixes the limit for
    good once the process has more than 8 arenas, so it must come before the threads do.
    """
    global _capped
    if arenas <= 0 or _set_for_glibc_itself():
        return False
    with _capped_lock:
        if _capped is not None:
            return False
        allocator = allocator or glibc()
        if allocator is None:
            return False
        if allocator.mallopt(M_ARENA_MAX, arenas) != 1:  # mallopt answers 1 on success
            log.warning("mallopt(M_ARENA_MAX, %d) was refused", arenas)
            return False
        _capped = arenas
        return True


def _set_for_glibc_itself() -> bool:
    """An operator's own MALLOC_ARENA_MAX / glibc tunable is left as they set it."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in tunables


class Trimmer:
    """Returns freed heap memory to the system every ``every_s`` seconds, in its own thread."""

    def __init__(self, every_s: float, allocator: Allocator) -> None:
        self.every_s = every_s
        self.allocator = allocator
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.allocator.malloc_trim(0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def bound_thread_pool(threads: int) -> None:
    """At most ``threads`` threads run the running event loop's synchronous work (FastAPI's
    sync routes and dependencies, ``run_in_threadpool``). Call from the event loop."""
    to_thread.current_default_thread_limiter().total_tokens = threads


@contextmanager
def serving_allocator(settings: Settings, allocator: Allocator | None = None) -> Iterator[None]:
    """While the API serves: arenas capped (if not already) and freed memory trimmed."""
    allocator = allocator or glibc()
    if allocator is None:
        yield
        return
    cap_arenas(settings.malloc_arenas, allocator)
    trimmer = Trimmer(settings.malloc_trim_every_s, allocator)
    if settings.malloc_trim_every_s > 0:
        trimmer.start()
    try:
        yield
    finally:
        trimmer.stop()
