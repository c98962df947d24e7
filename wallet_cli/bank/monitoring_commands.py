"""``ccl-bank`` monitoring verbs: subscribe, subscriptions, events tail, webhook-receiver.

``ccl-bank`` lists them in its registry (``events`` takes the action ``tail``);
``register(app)`` adds them to any other Typer application. A webhook's signing secret is never
printed: ``subscribe --webhook`` writes it to ``--secret-out`` (mode 0600), and the receiver
reads it from ``--secret-file``. The receiver verifies every delivery with the Standard
Webhooks library, answers 400 to a bad or stale signature, prints each alert once (a retry of
the same ``webhook-id`` is acknowledged again but not printed twice).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger_api.errors import InputError
from wallet_cli.keys import unlock
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, get_output, note
from wallet_cli.platform import platform

_KINDS = {"risk-alerts": "risk_alerts", "public-push": "public_push"}
_SEEN_IDS_KEPT = 100_000  # receiver: remembered webhook ids (duplicates are retries)


def _client(name: str, password_file: Path | None) -> Any:
    return platform(unlock(name, password_file=password_file))


def _write_secret(path: Path, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")


def subscribe(
    kind: Annotated[str, typer.Option("--kind", help="risk-alerts or public-push.")],
    category: Annotated[
        list[str] | None, typer.Option("--category", help="A catalog category (repeatable).")
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option("--region", help="A Henan region code, e.g. 4101.")
    ] = None,
    industry: Annotated[
        list[str] | None, typer.Option("--industry", help="A GB/T 4754 section, A to T.")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="https URL to push to (none: pull only).")
    ] = None,
    secret_out: Annotated[
        Path | None,
        typer.Option("--secret-out", help="File the webhook's signing secret is written to."),
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Subscribe to risk alerts (needs a monitoring grant) or to public push by region."""
    if kind not in _KINDS:
        raise InputError(f"--kind must be one of {sorted(_KINDS)}")
    if webhook and secret_out is None:
        raise InputError("--webhook needs --secret-out FILE: the signing secret is not printed")
    body = {
        "kind": _KINDS[kind],
        "categories": category or [],
        "regions": region or [],
        "industries": industry or [],
        "webhook_url": webhook,
    }
    with _client(name, password_file) as client:
        created: dict[str, Any] = client.call(
            "POST", "/v1/institution/subscriptions", json_body=body
        )
    secret = created.pop("secret", None)
    if secret and secret_out is not None:
        _write_secret(secret_out, secret)
        created["secret_file"] = str(secret_out)
    get_output().done(f"subscription {created['id']} ({created['kind']}) is active", created)


def subscriptions(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """List your institution's subscriptions and how far their deliveries are."""
    with _client(name, password_file) as client:
        found: list[dict[str, Any]] = client.call("GET", "/v1/institution/subscriptions")
    rows = [
        {
            **s,
            "filters": ", ".join(s["regions"] + s["industries"]) or "-",
            "target": s["webhook_url"] or "pull only",
            "progress": f"{s['delivered_up_to']}/{s['last_event']}",
        }
        for s in found
    ]
    get_output().rows(
        rows,
        [
            Column("id", "Id", justify="right"),
            Column("kind", "Kind"),
            Column("status", "Status"),
            Column("filters", "Regions / industries"),
            Column("target", "Target", no_wrap=True),
            Column("progress", "Delivered / events"),
            Column("last_error", "Last error"),
        ],
        empty="no subscriptions yet",
    )


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":") and ":" in line:
            key, _, value = line.partition(":")
            event[key] = event.get(key, "") + value.lstrip(" ")


def _alert_line(event: dict[str, Any]) -> str:
    data = event.get("data", {})
    return (
        f"#{data.get('event_number')} {data.get('kind')} {data.get('category_name')} "
        f"({data.get('category')}) subject {data.get('subject_id')} record "
        f"{data.get('record_uid')} at {data.get('occurred_at')}"
    )


def tail(
    subscription: Annotated[int, typer.Option("--subscription", help="The subscription id.")],
    after: Annotated[int, typer.Option("--after", help="Resume after this event number.")] = 0,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep waiting.")] = True,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Print a subscription's events as they come (server-sent events)."""
    out = get_output()
    path = "/v1/institution/events/stream"
    params = {"subscription": str(subscription), "follow": "true" if follow else "false"}
    with _client(name, password_file) as client:
        headers = client.signed_headers("GET", path, params)
        headers["last-event-id"] = str(after)
        with client.http.stream(
            "GET", path, params=params, headers=headers, timeout=None
        ) as response:
            if response.status_code >= 400:
                from ledger_api.client import error_from_problem

                response.read()
                raise error_from_problem(response)
            for event in _sse_events(response.iter_lines()):
                alert = json.loads(event["data"])
                if out.json_mode:
                    typer.echo(json.dumps(alert, ensure_ascii=False))
                else:
                    typer.echo(_alert_line(alert))


class ReceiverServer(ThreadingHTTPServer):
    """The receiver's server; ``use_secret`` sets the endpoint secret it verifies with."""

    hook: Any = None

    def use_secret(self, secret: str) -> None:
        from standardwebhooks import Webhook

        self.hook = Webhook(secret)


def serve_receiver(port: int, secret: str | None, host: str = "127.0.0.1") -> ReceiverServer:
    """A webhook receiver on ``host:port`` (not started): verifies, prints each alert once.
    ``secret`` may come later (``use_secret``), e.g. once a subscription to this port exists;
    until then every delivery is refused."""
    from standardwebhooks.webhooks import WebhookVerificationError

    seen: dict[str, None] = {}
    lock = threading.Lock()
    json_mode = get_output().json_mode

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                if server.hook is None:
                    raise WebhookVerificationError("no secret to verify with yet")
                event = server.hook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as refused:
                typer.echo(f"refused a delivery: {refused}", err=True)
                self._answer(400)
                return
            msg_id = self.headers["webhook-id"]
            with lock:
                fresh = msg_id not in seen
                seen[msg_id] = None
                if len(seen) > _SEEN_IDS_KEPT:
                    seen.pop(next(iter(seen)))
            if fresh:
                line = json.dumps(event, ensure_ascii=False) if json_mode else _alert_line(event)
                typer.echo(line)
            self._answer(204)

        def log_message(self, *args: Any) -> None:
            pass

    server = ReceiverServer((host, port), Handler)
    if secret is not None:
        server.use_secret(secret)
    return server


def webhook_receiver(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (127.0.0.1).")],
    secret_file: Annotated[
        Path, typer.Option("--secret-file", help="The file subscribe --secret-out wrote.")
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Receive webhooks, verify their signatures and print each alert."""
    secret = secret_file.read_text(encoding="utf-8").strip()
    server = serve_receiver(port, secret, host)
    note(f"listening on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def events(
    action: Annotated[str, typer.Argument(help="tail: print the events as they come.")],
    subscription: Annotated[int, typer.Option("--subscription", help="The subscription id.")],
    after: Annotated[int, typer.Option("--after", help="Resume after this event number.")] = 0,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep waiting.")] = True,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Print a subscription's events as they come (events tail, server-sent events)."""
    if action != "tail":
        raise InputError(f"unknown events action {action!r}; the one action is: tail")
    tail(subscription, after, follow, name, password_file)


def register(app: typer.Typer) -> None:
    """Add the monitoring verbs to ``app`` (``events tail`` as a sub-command group)."""
    app.command("subscribe")(subscribe)
    app.command("subscriptions")(subscriptions)
    app.command("webhook-receiver")(webhook_receiver)
    events = typer.Typer(help="A subscription's events.", rich_markup_mode=None)
    events.command("tail")(tail)
    app.add_typer(events, name="events")
