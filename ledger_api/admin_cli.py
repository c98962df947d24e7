"""``ccl admin``: the platform operator's everyday tasks, through the API with the operator key.

The key comes from ``CCL_OPERATOR_KEY`` (never an argument); the API from ``--api-url`` or
``CCL_API_URL`` (default: the embedded stack on http://127.0.0.1:8700).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger_api.cli_errors import one_line_errors
from ledger_api.errors import ChainError, InputError

if TYPE_CHECKING:  # imported by each command: `ccl --help` stays fast
    from ledger_api.client import LedgerClient

admin_app = typer.Typer(
    help="Operator tasks through the platform API.", no_args_is_help=True, rich_markup_mode=None
)
# The admin commands have no --debug of their own: bad input and platform errors are one line.
one_line = one_line_errors(lambda: False)

ApiUrl = Annotated[
    str,
    typer.Option("--api-url", envvar="CCL_API_URL", help="The platform API."),
]
DEFAULT_API = "http://127.0.0.1:8700"
# The task commands print JSON whatever; listings print a table unless --json.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def operator_client(api_url: str) -> Iterator[LedgerClient]:
    import httpx
    from eth_account import Account

    from ledger_api.client import LedgerClient
    from ledger_api.settings import Settings

    key = Settings().operator_key.get_secret_value()
    client = LedgerClient(api_url, Account.from_key(key))
    try:
        yield client
    except httpx.TransportError:
        raise ChainError(
            f"platform unreachable at {api_url}", code="platform_unreachable"
        ) from None
    finally:
        client.close()


def _print(data: Any) -> None:
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if hasattr(d, "model_dump") else d for d in data]
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _enum(enum: Any, name: str, what: str) -> Any:
    try:
        return enum[name.strip().upper()]
    except KeyError:
        known = ", ".join(m.name.lower() for m in enum)
        raise InputError(f"unknown {what} {name!r}; known: {known}") from None


@admin_app.command("register-institution")
@one_line
def register_institution(
    address: str,
    kind: Annotated[str, typer.Option("--type", help="bank, insurer, guarantor, credit_service")],
    name: Annotated[str, typer.Option("--name", help="Registered name, shown to enterprises.")],
    api_url: ApiUrl = DEFAULT_API,
    as_json: JsonFlag = False,
) -> None:
    """Register an institution on chain with its type and name."""
    from ledger_api.chain.types import InstitutionType

    kind_value = _enum(InstitutionType, kind, "institution type")
    with operator_client(api_url) as client:
        _print(client.register_institution(address, int(kind_value), name))


@admin_app.command("grant-role")
@one_line
def grant_role(
    role: Annotated[str, typer.Argument(help="provider or regulator")],
    address: str,
    api_url: ApiUrl = DEFAULT_API,
    as_json: JsonFlag = False,
) -> None:
    """Give an address the provider or regulator role."""
    if role.lower() not in {"provider", "regulator"}:
        raise InputError("role must be provider or regulator")
    with operator_client(api_url) as client:
        _print(client.grant_role(f"{role.upper()}_ROLE", address))


@admin_app.command("propose-agreement")
@one_line
def propose_agreement(
    institution: str,
    categories: Annotated[str, typer.Option(help="Comma-separated catalog categories.")],
    purposes: Annotated[str, typer.Option(help="Comma-separated purposes.")],
    days: Annotated[int, typer.Option(min=1, help="Term in days from now.")] = 365,
    document: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="The signed agreement document.")
    ] = Path("/dev/null"),
    api_url: ApiUrl = DEFAULT_API,
    as_json: JsonFlag = False,
) -> None:
    """Propose a data-sharing agreement; the institution accepts it on chain."""
    if document == Path("/dev/null"):
        raise InputError("pass --document FILE: its SHA-256 is anchored in the agreement")
    digest = hashlib.sha256(document.read_bytes()).digest()
    now = int(time.time())
    with operator_client(api_url) as client:
        agreement_id = client.propose_agreement(
            institution,
            [c.strip() for c in categories.split(",") if c.strip()],
            [p.strip() for p in purposes.split(",") if p.strip()],
            now,
            now + days * 86400,
            digest,
        )
    _print({"agreement_id": agreement_id, "document_sha256": "0x" + digest.hex()})


@admin_app.command("registrations")
@one_line
def registrations(
    status: Annotated[
        str | None,
        typer.Option(
            help="unsigned (awaiting_signature), signed (pending_approval: to approve), "
            "bound (approved); default: all"
        ),
    ] = None,
    as_json: JsonFlag = False,
    api_url: ApiUrl = DEFAULT_API,
) -> None:
    """Real-name registration requests: who asked (wallet account, masked USCC, subject id),
    when, and until when the enterprise's signature can still be approved."""
    from ledger_api.operator.admin_views import registration_rows, registration_status

    wanted = None if status is None else registration_status(status)
    with operator_client(api_url) as client:
        rows = registration_rows(client.list_registrations(status=wanted))
    _show(rows, as_json, empty="no registrations" + (f" {status}" if status else ""))


@admin_app.command("disputes")
@one_line
def disputes(
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Resolved disputes too (default: open ones).")
    ] = False,
    as_json: JsonFlag = False,
    api_url: ApiUrl = DEFAULT_API,
) -> None:
    """Disputes to resolve: kind, date, the disputed record's category, key and provider, and
    the enterprise's reason (its text when the wallet sent it; always its signed hash)."""
    with operator_client(api_url) as client:
        rows = client.call("GET", "/v1/operator/disputes", params={"all": include_resolved})
    _show(rows, as_json, empty="no open disputes" if not include_resolved else "no disputes")


@admin_app.command("institutions")
@one_line
def institutions(as_json: JsonFlag = False, api_url: ApiUrl = DEFAULT_API) -> None:
    """Registered institutions: name, type, address, suspended or not, agreement."""
    with operator_client(api_url) as client:
        rows = client.call("GET", "/v1/operator/institutions")
    _show(rows, as_json, empty="no institutions registered")


@admin_app.command("catalog-versions")
@one_line
def catalog_versions(as_json: JsonFlag = False, api_url: ApiUrl = DEFAULT_API) -> None:
    """Published catalog versions: hash, date, where anchored."""
    with operator_client(api_url) as client:
        rows = client.call("GET", "/v1/operator/catalog-versions")
    _show(rows, as_json, empty="no catalog version published")


def _show(rows: list[dict[str, Any]], as_json: bool, *, empty: str) -> None:
    from ledger_api.operator.admin_views import render_table

    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        typer.echo(empty)
    else:
        typer.echo(render_table(rows))


@admin_app.command("approve")
@one_line
def approve(registration_id: int, api_url: ApiUrl = DEFAULT_API, as_json: JsonFlag = False) -> None:
    """Approve a signed registration: binds the enterprise's subject id to its wallet on chain."""
    with operator_client(api_url) as client:
        _print(client.approve_registration(registration_id))


@admin_app.command("resolve-dispute")
@one_line
def resolve_dispute(
    dispute_id: int,
    outcome: Annotated[str, typer.Option(help="upheld, rejected or repaired")],
    note: Annotated[str, typer.Option(help="Resolution text; only its hash goes on chain.")],
    api_url: ApiUrl = DEFAULT_API,
    as_json: JsonFlag = False,
) -> None:
    """Resolve an objection or a credit-repair request."""
    from ledger_api.chain.types import DisputeOutcome

    value = _enum(DisputeOutcome, outcome, "outcome")
    with operator_client(api_url) as client:
        resolution = hashlib.sha256(note.encode()).digest()
        _print(client.resolve_dispute(dispute_id, int(value), resolution))


@admin_app.command("anchor-log")
@one_line
def anchor_log(api_url: ApiUrl = DEFAULT_API, as_json: JsonFlag = False) -> None:
    """Anchor the access log's pending entries now (it is also anchored periodically)."""
    with operator_client(api_url) as client:
        _print({"anchor_id": client.anchor_access_log()})


@admin_app.command("verify-log")
@one_line
def verify_log(
    api_url: ApiUrl = DEFAULT_API,
    as_json: JsonFlag = False,
    since: Annotated[
        str | None,
        typer.Option(help="only entries from then on (2026-12-07: 00:00 UTC that day)"),
    ] = None,
) -> None:
    """Check the access log's hash chain; exit 1 on any finding."""
    with operator_client(api_url) as client:
        result = client.verify_access_log(since)
    _print(result)
    if not result.clean:
        raise typer.Exit(1)
