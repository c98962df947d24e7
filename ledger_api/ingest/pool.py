"""A process pool that starts urgent tasks before queued background ones.

The ingest writer waits for its sealing tasks; validating the next batch can run
whenever a worker is free. A plain executor runs tasks in submission order, so sealing queued
behind the next batch's validation made the writer wait for work it did not need yet.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

_Task = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class PriorityPool:
    """Hands ``executor`` at most ``slots`` tasks at a time (one per worker), urgent first.

    A queued urgent task then waits for one running task at most, never for the background
    queue. Results and exceptions come back through the returned futures.
    """

    def __init__(self, executor: Executor, slots: int) -> None:
        self._executor = executor
        self._slots = max(1, slots)
        self._lock = threading.Lock()
        self._urgent: deque[_Task] = deque()
        self._background: deque[_Task] = deque()
        self._running = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in a worker before any queued background task."""
        return self._queue(self._urgent, fn, args)

    def submit_background(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in a worker when no urgent task waits."""
        return self._queue(self._background, fn, args)

    def shutdown(self) -> None:
        """Cancel the queued tasks, then wait for the running ones and stop the executor."""
        with self._lock:
            self._closed = True
            queued = [*self._urgent, *self._background]
            self._urgent.clear()
            self._background.clear()
        for future, _fn, _args in queued:
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _queue(
        self, queue: deque[_Task], fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            queue.append((future, fn, args))
            ready = self._take()
        self._start(ready)
        return future

    def _take(self) -> list[_Task]:
        """Tasks to hand to the executor now (under the lock)."""
        ready = []
        while not self._closed and self._running < self._slots:
            queue = self._urgent or self._background
            if not queue:
                break
            task = queue.popleft()
            if task[0].set_running_or_notify_cancel():
                self._running += 1
                ready.append(task)
        return ready

    def _start(self, tasks: list[_Task]) -> None:
        for future, fn, args in tasks:
            try:
                running = self._executor.submit(fn, *args)
            except BaseException as exc:  # shut down or broken meanwhile
                future.set_exception(exc)
                self._finished()
                continue
            running.add_done_callback(partial(self._relay, future))

    def _relay(self, future: Future[Any], running: Future[Any]) -> None:
        """Done callback of a running task (in the executor's thread).

        The slot is freed before the result is set: whoever sees the result may submit
        again and find the slot free.
        """
        with self._lock:
            self._running -= 1
            ready = self._take()
        if running.cancelled():
            future.set_exception(RuntimeError("the pool was shut down"))
        elif (exc := running.exception()) is not None:
            future.set_exception(exc)
        else:
            future.set_result(running.result())
        self._start(ready)

    def _finished(self) -> None:
        with self._lock:
            self._running -= 1
            ready = self._take()
        self._start(ready)


@contextmanager
def worker_pool(
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    warmup: Callable[[], Any],
) -> Iterator[PriorityPool]:
    """A process pool of ``workers`` while the block runs, its workers started.

    Forked where the platform has it (a worker starts in milliseconds with everything
    imported); the caller starts it before any thread of its own exists, and the workers run
    only the pure functions of ``ledger_api.ingest.workers``. Elsewhere, spawned.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=initializer, initargs=initargs
    )
    try:
        executor.submit(warmup).result()
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    pool = PriorityPool(executor, workers)
    try:
        yield pool
    finally:
        pool.shutdown()
