"""ledger_api.memory: glibc's arenas capped once per process, freed memory trimmed while serving."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from anyio import to_thread
from api_support import ApiWorld, make_api
from fastapi.testclient import TestClient
from sqlalchemy.pool import QueuePool
from world import World

from ledger_api import memory
from ledger_api.api.app import create_app
from ledger_api.memory import M_ARENA_MAX, Trimmer, cap_arenas, glibc, serving_allocator
from ledger_api.settings import Settings
from ledger_api.store.db import BACKGROUND_CONNECTIONS, make_serving_engine


class FakeAllocator:
    """Records the calls; ``trimmed`` is set on each malloc_trim."""

    def __init__(self, mallopt_result: int = 1) -> None:
        self.mallopt_calls: list[tuple[int, int]] = []
        self.trims = 0
        self.trimmed = threading.Event()
        self.mallopt_result = mallopt_result

    def mallopt(self, param: int, value: int) -> int:
        self.mallopt_calls.append((param, value))
        return self.mallopt_result

    def malloc_trim(self, pad: int) -> int:
        assert pad == 0
        self.trims += 1
        self.trimmed.set()
        return 1


@pytest.fixture(autouse=True)
def _uncapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test process's own app already capped its arenas: each test starts from "not yet".
    monkeypatch.setattr(memory, "_capped", None)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)


def test_arena_cap_is_set_once_per_process() -> None:
    allocator = FakeAllocator()
    assert cap_arenas(2, allocator) is True
    assert cap_arenas(2, allocator) is False
    assert cap_arenas(4, allocator) is False
    assert allocator.mallopt_calls == [(M_ARENA_MAX, 2)]


def test_arena_cap_of_zero_leaves_the_allocator_alone() -> None:
    allocator = FakeAllocator()
    assert cap_arenas(0, allocator) is False
    assert allocator.mallopt_calls == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("MALLOC_ARENA_MAX", "4"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")],
)
def test_arena_cap_set_for_glibc_itself_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    allocator = FakeAllocator()
    assert cap_arenas(2, allocator) is False
    assert allocator.mallopt_calls == []


def test_a_refused_arena_cap_is_not_taken_for_set() -> None:
    refusing = FakeAllocator(mallopt_result=0)
    assert cap_arenas(2, refusing) is False
    accepting = FakeAllocator()
    assert cap_arenas(2, accepting) is True


def test_trimmer_trims_until_stopped() -> None:
    allocator = FakeAllocator()
    trimmer = Trimmer(0.001, allocator)
    trimmer.start()
    assert allocator.trimmed.wait(10)
    trimmer.stop()
    assert not trimmer.running
    after_stop = allocator.trims
    allocator.trimmed.clear()
    assert not allocator.trimmed.wait(0.05)
    assert allocator.trims == after_stop


def test_serving_allocator_caps_arenas_and_stops_trimming_on_shutdown() -> None:
    allocator = FakeAllocator()
    settings = Settings(malloc_arenas=3, malloc_trim_every_s=0.001)
    with serving_allocator(settings, allocator):
        assert allocator.trimmed.wait(10)
        assert any(t.name == "malloc-trim" for t in threading.enumerate())
    assert allocator.mallopt_calls == [(M_ARENA_MAX, 3)]
    assert not any(t.name == "malloc-trim" for t in threading.enumerate())


def test_settings_of_zero_disable_both_levers() -> None:
    allocator = FakeAllocator()
    settings = Settings(malloc_arenas=0, malloc_trim_every_s=0)
    with serving_allocator(settings, allocator):
        assert not any(t.name == "malloc-trim" for t in threading.enumerate())
    assert allocator.mallopt_calls == []
    assert allocator.trims == 0


def test_levers_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCL_MALLOC_ARENAS", "0")
    monkeypatch.setenv("CCL_MALLOC_TRIM_EVERY_S", "0")
    settings = Settings()
    assert (settings.malloc_arenas, settings.malloc_trim_every_s) == (0, 0)


def test_other_platforms_have_no_glibc_to_tune(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert glibc() is None


def test_without_glibc_serving_starts_no_trimmer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "glibc", lambda: None)
    with serving_allocator(Settings(malloc_trim_every_s=0.001)):
        assert not any(t.name == "malloc-trim" for t in threading.enumerate())
    assert memory._capped is None


def test_the_serving_app_runs_synchronous_work_on_its_thread_pool_size(
    api_world: ApiWorld, world: World, tmp_path: Path
) -> None:
    """anyio's default (40 threads) is replaced by CCL_THREAD_POOL_SIZE once the app serves."""
    api = make_api(api_world, world, tmp_path, thread_pool_size=3, monitoring_enabled=False)
    try:
        with TestClient(create_app(api.settings, context=api.ctx)) as http:
            limiter = http.portal.call(to_thread.current_default_thread_limiter)  # type: ignore[union-attr]
            assert limiter.total_tokens == 3
    finally:
        api.ctx.engine.dispose()


def test_the_serving_pool_keeps_a_connection_per_serving_and_background_thread(
    tmp_path: Path,
) -> None:
    engine = make_serving_engine(Settings(data_dir=tmp_path, thread_pool_size=3))
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 3 + BACKGROUND_CONNECTIONS
    finally:
        engine.dispose()


def test_serving_sqlite_connections_stop_growing_their_caches_at_the_heap_limit(
    tmp_path: Path,
) -> None:
    engine = make_serving_engine(Settings(data_dir=tmp_path, sqlite_heap_limit_mib=5))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA soft_heap_limit").scalar() == 5 * 2**20
            conn.exec_driver_sql("PRAGMA soft_heap_limit=0")  # process-wide: not for others
    finally:
        engine.dispose()
