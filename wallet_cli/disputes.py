"""Objections (异议), credit repair (信用修复) and credit commitments (信用承诺).

``object`` / ``repair`` sign an EIP-712 ``OpenDispute`` about one of your records: the record's
leaf and the anchored root it is proven against (checked locally first), and the keccak-256 of
your reason (the reason text itself stays off chain). The platform relays it.
``commit`` signs a credit commitment text (EIP-191); the platform stores and anchors it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from eth_utils import keccak

from ledger_api.anchoring.merkle import record_leaf, verify_proof
from ledger_api.api import schemas
from ledger_api.chain import eip712
from ledger_api.chain.types import DisputeKind
from ledger_api.errors import ConflictError, InputError, IntegrityError
from wallet_cli.keys import keystore_dir, unlock
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, get_output
from wallet_cli.platform import account_nonce, act_as, domain_of, platform
from wallet_cli.preview import show_and_confirm
from wallet_cli.state import known_disputes, remember_disputes
from wallet_cli.target import signature_deadline
from wallet_cli.terms import utc_time

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient

_RECORD_UID = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_REASON_CHARS = 2000
MAX_COMMITMENT_CHARS = 10_000

RecordUid = Annotated[str, typer.Argument(help="The record's id (0x + 64 hex, see my-data).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept off chain; its hash is signed).")]


def _open(
    kind: DisputeKind,
    record_uid: str,
    reason: str,
    name: str,
    password_file: Path | None,
    yes: bool,
) -> None:
    if not _RECORD_UID.match(record_uid):
        raise InputError(f"record id must be 0x followed by 64 hex digits, got {record_uid!r}")
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise InputError(f"the reason must be 1..{MAX_REASON_CHARS} characters")
    entry = keystore_dir().find(name)
    reason_hash = keccak(text=reason)
    label = "objection" if kind is DisputeKind.OBJECTION else "credit-repair request"
    with platform() as client:
        info = client.chain_info()
        show_and_confirm(
            f"You are about to sign this {label}:",
            {
                "kind": kind.name.lower(),
                "record": record_uid,
                "reason": reason,
                "reason_hash": "0x" + reason_hash.hex(),
                "signer": f"{entry.name} ({entry.address})",
                "chain_id": info.chain_id,
                "contract": info.contract,
            },
            f"Sign and submit this {label}?",
            assume_yes=yes,
        )
        account = unlock(name, password_file=password_file)
        act_as(client, account)
        proof = client.record_proof(record_uid.lower())
        if not proof.anchored:
            raise ConflictError(
                f"record {record_uid} is not anchored on chain yet; try again later",
                code="not_anchored",
            )
        root, leaf = bytes.fromhex(proof.root[2:]), bytes.fromhex(proof.leaf[2:])
        _require_own_leaf(proof, record_uid, client.me().subject_id)
        if not verify_proof([bytes.fromhex(p[2:]) for p in proof.proof], root, leaf):
            raise IntegrityError(
                f"the platform's proof for record {record_uid} does not lead to its root; "
                "nothing was signed",
                code="bad_record_proof",
            )
        info, nonce = account_nonce(client)
        domain = domain_of(info)
        deadline = signature_deadline()
        signature = eip712.sign_typed(
            account.key,
            domain,
            "OpenDispute",
            {
                "kind": int(kind),
                "anchorRoot": root,
                "leaf": leaf,
                "reasonHash": reason_hash,
                "nonce": nonce,
                "deadline": deadline,
            },
        )
        dispute = client.open_dispute(
            record_uid.lower(), int(kind), reason_hash, deadline, signature
        )
    remember_disputes(entry.address, {dispute.dispute_id: record_uid.lower()})
    get_output().done(
        f"{label.capitalize()} {dispute.dispute_id} opened about record {record_uid}",
        {
            **dispute.model_dump(),
            "record_uid": record_uid.lower(),
            "reason_hash": "0x" + reason_hash.hex(),
        },
    )


def _require_own_leaf(proof: Any, record_uid: str, my_subject_id: str) -> None:
    """The contract recomputes the leaf from the record's preimage and requires it to name the
    disputing subject: check both here, before anything is signed."""
    try:
        preimage = [
            bytes.fromhex(proof.salt[2:]),
            bytes.fromhex(record_uid[2:]),
            bytes.fromhex(proof.subject_id[2:]),
            proof.category,
            bytes.fromhex(proof.content_digest[2:]),
        ]
        rehashed = record_leaf(*preimage)
    except (ValueError, InputError):
        rehashed = b""
    if (
        "0x" + rehashed.hex() != proof.leaf.lower()
        or proof.subject_id.lower() != my_subject_id.lower()
    ):
        raise IntegrityError(
            f"the platform's leaf for record {record_uid} is not one of your records; "
            "nothing was signed",
            code="bad_record_leaf",
        )


def object_(
    record_uid: RecordUid,
    reason: Reason,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Raise an objection (异议) to one of your records."""
    _open(DisputeKind.OBJECTION, record_uid, reason, name, password_file, yes)


def repair(
    record_uid: RecordUid,
    reason: Reason,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Apply for credit repair (信用修复) of one of your records."""
    _open(DisputeKind.CREDIT_REPAIR, record_uid, reason, name, password_file, yes)


def disputes(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """Your objections and credit-repair requests, with their status."""
    entry = keystore_dir().find(name)
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = client.my_disputes()
        record_ids = record_ids_of(client, entry.address, mine)
    rows: list[dict[str, Any]] = [
        {
            **d.model_dump(),
            "record_uid": record_ids.get(d.dispute_id),
            "opened": utc_time(d.opened_at),
            "resolved": utc_time(d.resolved_at) if d.resolved_at else None,
        }
        for d in mine
    ]
    get_output().rows(
        rows,
        [
            Column("dispute_id", "Dispute", justify="right"),
            Column("kind", "Kind"),
            Column("status", "Status"),
            Column("outcome", "Outcome"),
            Column("opened", "Opened", no_wrap=True),
            Column("resolved", "Resolved", no_wrap=True),
            Column("record_uid", "Record", no_wrap=True),
        ],
        empty="no objections or repair requests",
    )


def record_ids_of(
    client: LedgerClient, address: str, mine: list[schemas.DisputeOut]
) -> dict[int, str]:
    """Dispute id -> the record id the user objected to (the chain only keeps the record's
    Merkle leaf). From the platform's answer when it says, else what this wallet remembers
    from opening the dispute, else matched through the leaves of the user's disputed records."""
    found: dict[int, str] = {}
    for d in mine:
        given = getattr(d, "record_uid", None)
        if isinstance(given, str):
            found[d.dispute_id] = given.lower()
    remembered = known_disputes(address)
    for d in mine:
        if d.dispute_id not in found and d.dispute_id in remembered:
            found[d.dispute_id] = remembered[d.dispute_id]
    missing = {d.leaf.lower(): d.dispute_id for d in mine if d.dispute_id not in found}
    if missing:
        for record in client.my_records().records:
            if record.disputed and missing:
                leaf = client.record_proof(record.record_uid.lower()).leaf.lower()
                if leaf in missing:
                    found[missing.pop(leaf)] = record.record_uid.lower()
    return found


def commit(
    text: Annotated[str | None, typer.Option("--text", help="The commitment text.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Read the commitment text from this UTF-8 file.", dir_okay=False
        ),
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Sign a credit commitment (信用承诺); the platform stores and anchors it."""
    if (text is None) == (file is None):
        raise InputError("give the commitment with --text or --file (one of them)")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read commitment file {file}: {exc}") from None
    assert text is not None
    if not text.strip() or len(text) > MAX_COMMITMENT_CHARS:
        raise InputError(f"a commitment is 1..{MAX_COMMITMENT_CHARS} characters of text")
    entry = keystore_dir().find(name)
    show_and_confirm(
        "You are about to sign this credit commitment (EIP-191):",
        {"account": entry.address, "text": text},
        "Sign and submit this commitment?",
        assume_yes=yes,
    )
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        made = client.make_commitment(text)
    get_output().done(f"Commitment {made.id} signed and {made.status}", made.model_dump())


def commitments(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """Your credit commitments and their anchoring status."""
    keystore_dir().find(name)
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = client.my_commitments()
    get_output().rows(
        [c.model_dump() for c in mine],
        [
            Column("id", "#", justify="right"),
            Column("status", "Status"),
            Column("anchor_sequence", "Anchor", justify="right"),
            Column("text", "Text"),
        ],
        empty="no credit commitments",
    )


def register(app: typer.Typer) -> None:
    app.command("object")(object_)
    app.command("repair")(repair)
    app.command("disputes")(disputes)
    app.command("commit")(commit)
    app.command("commitments")(commitments)
