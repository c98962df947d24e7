"""Your own data and who read it: ``my-data`` and ``access-log``.

Every access-log entry comes with an inclusion proof against an anchored Merkle root. The
wallet does not take the platform's word for it: it recomputes the entry's leaf from its hash,
walks the proof up to the root (``verify_proof``), and, when it can read the chain
(``--chain-url``), checks that this root is anchored there as an access-log anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ledger_api.anchoring.merkle import verify_proof
from ledger_api.api import schemas
from ledger_api.chain.types import AccessLevel, AnchorKind, Purpose
from ledger_api.errors import IntegrityError
from wallet_cli.chain import ChainUrlOption, Node, read_url
from wallet_cli.keys import keystore_dir, unlock
from wallet_cli.meanings import reason_in_words
from wallet_cli.names import institution_names
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, format_value, get_output, note
from wallet_cli.platform import platform
from wallet_cli.target import resolve_target
from wallet_cli.terms import category_bit_mask, category_name, enum_name, iso_time

VERIFIED = "verified"
NOT_ANCHORED = "not yet anchored"
INVALID = "INVALID"


def my_data(
    category: Annotated[
        str | None, typer.Option("--category", help="Only this catalog category.")
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Everything the platform holds about your enterprise, unmasked, by category."""
    if category is not None:
        category_bit_mask(category)  # unknown names fail here, before any password
    keystore_dir().find(name)
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        page = client.my_records(category)
    output = get_output()
    if output.json_mode:
        output.json(page.model_dump(mode="json"))
        return
    if not page.records:
        note("the platform holds no records about you" + (f" in {category}" if category else ""))
        return
    by_category: dict[str, list[schemas.RecordOut]] = {}
    for record in page.records:
        by_category.setdefault(record.category, []).append(record)
    for cat, records in by_category.items():
        rows = [
            {
                "record_uid": r.record_uid,
                "disputed": r.disputed,
                "fields": "; ".join(f"{k}={format_value(v)}" for k, v in r.fields.items()),
            }
            for r in records
        ]
        output.rows(
            rows,
            [
                Column("record_uid", "Record", no_wrap=True),
                Column("disputed", "Disputed"),
                Column("fields", "Fields"),
            ],
            title=f"{cat} ({len(records)} record{'s' if len(records) != 1 else ''})",
        )


@dataclass(frozen=True)
class ProofCheck:
    verdict: str  # verified / not yet anchored / INVALID
    detail: str


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def check_entry(entry: schemas.AccessLogEntryOut, node: Node | None) -> ProofCheck:
    """Verify one entry's inclusion proof locally, and its root on chain when possible."""
    if entry.proof is None or entry.root is None or entry.leaf is None:
        return ProofCheck(NOT_ANCHORED, "no anchor covers this entry yet")
    try:
        leaf, root = _hex(entry.leaf), _hex(entry.root)
        proof = [_hex(p) for p in entry.proof]
        entry_hash = _hex(entry.entry_hash)
    except ValueError:
        return ProofCheck(INVALID, "malformed proof data")
    from ledger_api.accesslog import entry_leaf  # SQLAlchemy-heavy: only when checking

    if leaf != entry_leaf(entry_hash):
        return ProofCheck(INVALID, "the leaf is not this entry's hash")
    if not verify_proof(proof, root, leaf):
        return ProofCheck(INVALID, "the proof does not lead to the root")
    if entry.anchor_status != "anchored":
        return ProofCheck(NOT_ANCHORED, f"root computed, anchor {entry.anchor_status}")
    if node is None:
        return ProofCheck(VERIFIED, "proof checked; root anchored as reported by the platform")
    anchor = node.anchor_of(root)
    if anchor is None or anchor.kind != AnchorKind.ACCESS_LOG:
        return ProofCheck(INVALID, "the root is not anchored on chain as an access-log root")
    if entry.anchor_sequence is not None and anchor.sequence != entry.anchor_sequence:
        return ProofCheck(
            INVALID, f"anchored as #{anchor.sequence}, platform says #{entry.anchor_sequence}"
        )
    return ProofCheck(VERIFIED, f"proof checked; root anchored on chain (#{anchor.sequence})")


def access_log(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Entries to show.")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip the newest N.")] = 0,
    chain_url: ChainUrlOption = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Who read your data, when, under which grant; each entry's proof checked locally."""
    keystore_dir().find(name)
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        node = None
        if read_url(None, chain_url):
            node = resolve_target(client, rpc=None, chain_url=chain_url).reader
        page = client.my_access_log(limit=limit, offset=offset)
        names = institution_names(
            client,
            (e.actor for e in page.entries if e.actor_role == "institution"),
            node,
        )
        rows = [
            _entry_row(entry, check_entry(entry, node), names.get(entry.actor))
            for entry in page.entries
        ]
    output = get_output()
    output.rows(
        rows,
        [
            Column("id", "#", justify="right"),
            Column("at", "When", no_wrap=True),
            Column("who", "Who"),
            Column("actor", "Address", no_wrap=True),
            Column("action", "Action"),
            Column("category", "Category"),
            Column("purpose", "Purpose"),
            Column("grant_id", "Grant", justify="right"),
            Column("decision", "Decision"),
            Column("why", "Why denied"),
            Column("proof", "Proof"),
        ],
        empty="nobody has read your data yet",
    )
    invalid = [r["id"] for r in rows if r["proof"] == INVALID]
    if not output.json_mode and rows:
        where = "checked on chain" if node else "as reported by the platform (--chain-url checks)"
        note(f"{len(rows)} entries; anchored roots {where}")
    if invalid:  # the table is shown; the exit code tells scripts something is wrong
        raise IntegrityError(
            f"{len(invalid)} access-log entr{'y' if len(invalid) == 1 else 'ies'} failed "
            f"verification: {', '.join(map(str, invalid))}",
            code="access_log_invalid",
        )


def _entry_row(
    entry: schemas.AccessLogEntryOut, check: ProofCheck, actor_name: str | None = None
) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso_time(entry.at),
        "who": actor_name or entry.actor_role,
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "category": category_name(entry.category),
        "purpose": enum_name(Purpose, entry.purpose),
        "level": enum_name(AccessLevel, entry.level),
        "grant_id": entry.grant_id,
        "checked_block": entry.checked_block,
        "decision": entry.decision,
        "reason": entry.reason,
        "why": reason_in_words(entry.decision, entry.reason),
        "entry_hash": entry.entry_hash,
        "root": entry.root,
        "anchor_sequence": entry.anchor_sequence,
        "anchor_tx": entry.anchor_tx,
        "proof": check.verdict,
        "proof_detail": check.detail,
    }


def register(app: typer.Typer) -> None:
    app.command("my-data")(my_data)
    app.command("access-log")(access_log)
