"""The webhook delivery worker: per subscription in order, signed, retried with backoff.

Each pass takes the subscriptions that have undelivered events and are due, and delivers
each one's events in number order (subscriptions in parallel, one at a time within one).
Every event is re-checked first (``messages.recheck``); a refusal is logged and skipped.
A 2xx answer delivers it; 410 Gone disables the endpoint (events keep being numbered and
stay available by polling and the stream); 429 (its Retry-After honoured) and 5xx, like a
network error, throttle: the subscription waits an exponentially growing delay with jitter
(5 s doubling up to an hour, so retries run over hours) and the same event, with the same
``webhook-id``, is sent again. Progress is committed after the access-log entries are, so a
crash can only repeat a delivery (same id), never skip one.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Engine, and_, bindparam, select, update
from standardwebhooks import Webhook

from ledger_api.accesslog import AccessLogWriter
from ledger_api.catalog.loader import Catalog
from ledger_api.chain.state import ChainState
from ledger_api.errors import LedgerError
from ledger_api.monitoring.messages import cloud_event, log_draft, recheck, webhook_id
from ledger_api.monitoring.posting import HttpxPoster, KeepAlivePoster, Poster, PostError
from ledger_api.monitoring.subscriptions import ACTIVE, DISABLED, check_public_host
from ledger_api.store.monitoring_tables import SUBSCRIPTION_EVENTS, SUBSCRIPTIONS

log = logging.getLogger(__name__)

Clock = Callable[[], float]
DELIVERED = "alert_delivered"
BASE_DELAY_S = 5.0
MAX_DELAY_S = 3600.0


def backoff(failures: int, rng: random.Random = random.SystemRandom()) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential, full jitter
    in its upper half (so a fleet of failing endpoints does not retry in step)."""
    delay = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** max(0, failures - 1))
    return delay * (0.5 + rng.random() / 2)


@functools.lru_cache(maxsize=4096)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)  # decodes the secret once, not per delivery


def signature_headers(secrets: list[str], msg_id: str, at: float, body: str) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation the old secret signs too."""
    stamp = datetime.fromtimestamp(int(at), UTC)
    signatures = " ".join(_signer(s).sign(msg_id, stamp, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


@dataclass
class _Outcome:
    """What one subscription's run did, committed with the pass's others."""

    sub: Any
    events: list[Any]
    done: list[tuple[int, str, float]] = field(default_factory=list)  # (number, outcome, at)
    logged: list[concurrent.futures.Future[Any]] = field(default_factory=list)
    failure: tuple[str, float | None, bool] | None = None  # (error, retry-after, gone)
    delivered: int = 0


class DeliveryWorker:
    def __init__(
        self,
        engine: Engine,
        state: Callable[[], ChainState],
        catalog: Catalog,
        writer: AccessLogWriter,
        *,
        clock: Clock = time.time,
        production: bool = False,
        http: httpx.Client | None = None,
        parallel: int = 16,
        per_pass: int = 500,
    ) -> None:
        self.engine = engine
        self.state = state
        self.catalog = catalog
        self.writer = writer
        self.clock = clock
        self.production = production
        self.poster: Poster = KeepAlivePoster() if http is None else HttpxPoster(http)
        self.parallel = parallel
        self.per_pass = per_pass
        self._pool = concurrent.futures.ThreadPoolExecutor(parallel, "webhook")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.poster.close()

    def run_once(self) -> int:
        """One pass over the due subscriptions; returns how many events were delivered.

        The subscriptions' runs are sent in parallel; then the pass waits for all their
        access-log entries and commits every subscription's progress in one transaction."""
        now = self.clock()
        with self.engine.connect() as conn:
            due = conn.execute(
                select(SUBSCRIPTIONS).where(
                    and_(
                        SUBSCRIPTIONS.c.status == ACTIVE,
                        SUBSCRIPTIONS.c.webhook_url.is_not(None),
                        SUBSCRIPTIONS.c.delivered_number < SUBSCRIPTIONS.c.last_number,
                        SUBSCRIPTIONS.c.next_attempt_at <= now,
                    )
                )
            ).all()
            if not due:
                return 0
            pending = self._pending(conn, due)
        state = self.state()
        runs = [(sub, pending.get(sub.id, []), state) for sub in due]
        outcomes = [o for o in self._pool.map(self._send_run, runs) if o is not None]
        for outcome in outcomes:
            for future in outcome.logged:
                future.result()  # the log holds every delivery before progress is committed
        with self.engine.begin() as conn:
            for outcome in outcomes:
                self._commit(conn, outcome)
        return sum(o.delivered for o in outcomes)

    def _pending(self, conn: Any, due: Sequence[Any]) -> dict[int, list[Any]]:
        """Each due subscription's next undelivered events, in number order."""
        ev = SUBSCRIPTION_EVENTS.c
        query = (
            select(SUBSCRIPTION_EVENTS)
            .join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == ev.subscription_id)
            .where(
                ev.subscription_id.in_([sub.id for sub in due]),
                ev.number > SUBSCRIPTIONS.c.delivered_number,
            )
            .order_by(ev.subscription_id, ev.number)
        )
        pending: dict[int, list[Any]] = {}
        for row in conn.execute(query):
            run = pending.setdefault(row.subscription_id, [])
            if len(run) < self.per_pass:
                run.append(row)
        return pending

    def _send_run(self, run: tuple[Any, list[Any], ChainState]) -> _Outcome | None:
        sub, events, state = run
        try:
            return self._send(sub, events, state)
        except Exception:  # one endpoint's failure never stops the others
            log.exception("delivering subscription %s failed", sub.id)
            return None

    def _send(self, sub: Any, events: list[Any], state: ChainState) -> _Outcome:
        block = state.position().block_number
        secrets = [sub.secret]
        if sub.previous_secret and (sub.previous_until or 0) > self.clock():
            secrets.append(sub.previous_secret)
        outcome = _Outcome(sub, events)
        for row in events:
            now = self.clock()
            verdict = recheck(state, sub.institution, row, int(max(now, 0)))
            if not verdict.allowed:
                outcome.logged.append(
                    self.writer.submit(log_draft(sub.institution, row, verdict, DELIVERED, block))
                )
                outcome.done.append((row.number, f"refused:{verdict.reason}"[:32], now))
                continue
            outcome.failure = self._post(sub, row, secrets)
            if outcome.failure is not None:
                break
            outcome.logged.append(
                self.writer.submit(log_draft(sub.institution, row, verdict, DELIVERED, block))
            )
            outcome.done.append((row.number, "delivered", self.clock()))
            outcome.delivered += 1
        return outcome

    def _post(
        self, sub: Any, row: Any, secrets: list[str]
    ) -> tuple[str, float | None, bool] | None:
        """None when delivered; else (error, retry-after seconds, endpoint gone)."""
        body = orjson.dumps(cloud_event(row, self.catalog)).decode()
        # Signed at wall-clock time (the receiver checks it against its own clock), whatever
        # clock schedules the retries.
        headers = signature_headers(
            secrets, webhook_id(row.subscription_id, row.number), time.time(), body
        )
        try:
            if self.production:  # re-resolved per delivery: DNS may have changed (rebinding)
                check_public_host(urlsplit(sub.webhook_url).hostname or "")
            status, retry_header = self.poster.post(sub.webhook_url, body.encode(), headers)
        except LedgerError as error:
            return (error.code, None, False)
        except PostError as error:
            return (f"network: {error}", None, False)
        if 200 <= status < 300:
            return None
        if status == 410:
            return ("410 gone", None, True)
        retry_after = None
        if status == 429:
            try:
                retry_after = float(retry_header or "")
            except ValueError:
                retry_after = None
        return (f"http {status}", retry_after, False)

    def _commit(self, conn: Any, outcome: _Outcome) -> None:
        sub, events, done, failure = outcome.sub, outcome.events, outcome.done, outcome.failure
        now = self.clock()
        values: dict[str, Any] = {}
        if done:
            values["delivered_number"] = done[-1][0]
        if failure is None:
            values.update(failures=0, last_error=None)
        else:
            error, retry_after, gone = failure
            failures = sub.failures + 1
            wait = backoff(failures)
            if retry_after is not None:
                wait = max(wait, min(retry_after, MAX_DELAY_S))
            values.update(failures=failures, last_error=error[:200], next_attempt_at=now + wait)
            if gone:
                values["status"] = DISABLED
        ev = SUBSCRIPTION_EVENTS.c
        if done:
            conn.execute(
                update(SUBSCRIPTION_EVENTS)
                .where(ev.subscription_id == sub.id, ev.number == bindparam("n"))
                .values(
                    outcome=bindparam("o"), delivered_at=bindparam("at"), attempts=ev.attempts + 1
                ),
                [{"n": number, "o": result, "at": at} for number, result, at in done],
            )
        if failure is not None and len(done) < len(events):  # the attempt that failed
            conn.execute(
                update(SUBSCRIPTION_EVENTS)
                .where(ev.subscription_id == sub.id, ev.number == events[len(done)].number)
                .values(attempts=ev.attempts + 1)
            )
        if values and (done or failure is not None or sub.failures):
            conn.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub.id).values(**values))
