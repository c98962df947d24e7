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
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, and_, bindparam, select, update
from standardwebhooks import Webhook

from ledger_api.accesslog import AccessLogWriter
from ledger_api.catalog.loader import Catalog
from ledger_api.chain.state import ChainState
from ledger_api.errors import LedgerError
from ledger_api.monitoring.messages import cloud_event, log_draft, recheck, webhook_id
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


def signature_headers(secrets: list[str], msg_id: str, at: float, body: str) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation the old secret signs too."""
    stamp = datetime.fromtimestamp(int(at), UTC)
    signatures = " ".join(Webhook(s).sign(msg_id, stamp, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


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
        self.http = http or httpx.Client(timeout=10.0, follow_redirects=False)
        self.parallel = parallel
        self.per_pass = per_pass
        self._pool = concurrent.futures.ThreadPoolExecutor(parallel, "webhook")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.http.close()

    def run_once(self) -> int:
        """One pass over the due subscriptions; returns how many events were delivered."""
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
        return sum(self._pool.map(self._deliver_subscription, due))

    def _deliver_subscription(self, sub: Any) -> int:
        try:
            return self._deliver(sub)
        except Exception:  # one endpoint's failure never stops the others
            log.exception("delivering subscription %s failed", sub.id)
            return 0

    def _deliver(self, sub: Any) -> int:
        with self.engine.connect() as conn:
            events: list[Any] = list(
                conn.execute(
                    select(SUBSCRIPTION_EVENTS)
                    .where(
                        SUBSCRIPTION_EVENTS.c.subscription_id == sub.id,
                        SUBSCRIPTION_EVENTS.c.number > sub.delivered_number,
                    )
                    .order_by(SUBSCRIPTION_EVENTS.c.number)
                    .limit(self.per_pass)
                )
            )
        state = self.state()
        block = state.position().block_number
        secrets = [sub.secret]
        if sub.previous_secret and (sub.previous_until or 0) > self.clock():
            secrets.append(sub.previous_secret)
        done: list[tuple[int, str, float]] = []  # (number, outcome, at)
        logged: list[concurrent.futures.Future[Any]] = []
        failure: tuple[str, float | None, bool] | None = None  # (error, retry-after, gone)
        for row in events:
            now = self.clock()
            verdict = recheck(state, sub.institution, row, int(max(now, 0)))
            if not verdict.allowed:
                logged.append(
                    self.writer.submit(log_draft(sub.institution, row, verdict, DELIVERED, block))
                )
                done.append((row.number, f"refused:{verdict.reason}"[:32], now))
                continue
            failure = self._post(sub, row, secrets)
            if failure is not None:
                break
            logged.append(
                self.writer.submit(log_draft(sub.institution, row, verdict, DELIVERED, block))
            )
            done.append((row.number, "delivered", self.clock()))
        for future in logged:
            future.result()  # the log holds every delivery before progress is committed
        self._commit(sub, events, done, failure)
        return sum(1 for _, outcome, _ in done if outcome == "delivered")

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
                check_public_host(httpx.URL(sub.webhook_url).host)
            response = self.http.post(sub.webhook_url, content=body, headers=headers)
        except LedgerError as error:
            return (error.code, None, False)
        except httpx.HTTPError as error:
            return (f"network: {type(error).__name__}", None, False)
        status = response.status_code
        if 200 <= status < 300:
            return None
        if status == 410:
            return ("410 gone", None, True)
        retry_after = None
        if status == 429:
            try:
                retry_after = float(response.headers.get("retry-after", ""))
            except ValueError:
                retry_after = None
        return (f"http {status}", retry_after, False)

    def _commit(
        self,
        sub: Any,
        events: list[Any],
        done: list[tuple[int, str, float]],
        failure: tuple[str, float | None, bool] | None,
    ) -> None:
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
        attempted = {n for n, _, _ in done}
        if failure is not None and len(done) < len(events):
            attempted_number = events[len(done)].number
        else:
            attempted_number = None
        with self.engine.begin() as conn:
            if done:
                conn.execute(
                    update(SUBSCRIPTION_EVENTS)
                    .where(
                        SUBSCRIPTION_EVENTS.c.subscription_id == sub.id,
                        SUBSCRIPTION_EVENTS.c.number == bindparam("n"),
                    )
                    .values(
                        outcome=bindparam("o"),
                        delivered_at=bindparam("at"),
                        attempts=SUBSCRIPTION_EVENTS.c.attempts + 1,
                    ),
                    [{"n": number, "o": outcome, "at": at} for number, outcome, at in done],
                )
            if attempted_number is not None and attempted_number not in attempted:
                conn.execute(
                    update(SUBSCRIPTION_EVENTS)
                    .where(
                        SUBSCRIPTION_EVENTS.c.subscription_id == sub.id,
                        SUBSCRIPTION_EVENTS.c.number == attempted_number,
                    )
                    .values(attempts=SUBSCRIPTION_EVENTS.c.attempts + 1)
                )
            if values:
                conn.execute(
                    update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub.id).values(**values)
                )
