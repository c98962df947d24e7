"""The ingest pool starts urgent tasks (sealing, trees) before queued validation tasks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger_api.ingest.pool import PriorityPool


def test_urgent_tasks_overtake_queued_background_tasks() -> None:
    gate = threading.Event()
    order: list[str] = []
    pool = PriorityPool(ThreadPoolExecutor(max_workers=1), slots=1)
    try:
        first = pool.submit_background(gate.wait)  # occupies the only slot
        later = [pool.submit_background(order.append, f"background-{i}") for i in range(3)]
        urgent = pool.submit(order.append, "urgent")
        gate.set()
        for future in [first, *later, urgent]:
            future.result(timeout=10)
    finally:
        pool.shutdown()
    assert order == ["urgent", "background-0", "background-1", "background-2"]


def test_results_and_exceptions_come_back_and_shutdown_cancels_the_queue() -> None:
    gate = threading.Event()
    pool = PriorityPool(ThreadPoolExecutor(max_workers=2), slots=2)
    assert pool.submit(pow, 2, 10).result(timeout=10) == 1024
    with pytest.raises(ZeroDivisionError):
        pool.submit_background(divmod, 1, 0).result(timeout=10)
    started = [threading.Event() for _ in range(2)]

    def block(i: int) -> bool:
        started[i].set()
        return gate.wait()

    blockers = [pool.submit(block, i) for i in range(2)]
    assert all(event.wait(10) for event in started)  # running, not just handed over
    queued = pool.submit_background(pow, 3, 3)
    closing = threading.Thread(target=pool.shutdown)
    closing.start()
    for _ in range(1000):  # shutdown cancels the queue first, then waits for the running
        if queued.cancelled():
            break
        threading.Event().wait(0.01)
    gate.set()
    closing.join(timeout=10)
    assert all(b.result(timeout=10) for b in blockers)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(pow, 1, 1)
