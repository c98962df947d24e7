"""Grants: ``grant``, ``revoke``, ``revoke-all``, ``grants``.

A grant is signed as the EIP-712 ``Grant`` message and relayed by the platform (no gas), or,
with ``--rpc URL``, issued by the wallet's own funded key directly on that node. Before
anything is signed the wallet shows it in words: who (the institution's name and type as
registered ON CHAIN), what (catalog categories), why (purpose), how much (level, usage cap),
how long (dates), and where (chain id, contract).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from eth_account.signers.local import LocalAccount

from ledger_api.api import schemas
from ledger_api.chain import eip712
from ledger_api.errors import (
    ConflictError,
    InputError,
    LedgerError,
    NotFoundError,
)
from wallet_cli.chain import (
    ChainUrlOption,
    ContractOption,
    InstitutionInfo,
    RpcOption,
    checksum,
    read_url,
)
from wallet_cli.keys import keystore_dir, unlock
from wallet_cli.meanings import LEVELS, PURPOSES, explained
from wallet_cli.names import institution_names
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, get_output, note
from wallet_cli.platform import act_as, platform
from wallet_cli.preview import ask_to_sign, show_and_confirm, show_summary
from wallet_cli.state import known_grants, remember_grants
from wallet_cli.target import Target, resolve_target, signature_deadline
from wallet_cli.terms import (
    category_bit_mask,
    category_names,
    parse_categories,
    parse_level,
    parse_purpose,
    utc_time,
)
from wallet_cli.usability import (
    Standing,
    grant_problems,
    standing_from_directory,
    standing_from_node,
)

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient

MAX_DAYS = 3650


@contextmanager
def _chain_refusals(institution: str | None = None) -> Iterator[None]:
    """Contract refusals (direct, or relayed back as problem+json) in words of their own."""
    try:
        yield
    except LedgerError as exc:
        if exc.code == "unknown_institution":
            who = f"institution {institution}" if institution else "the institution"
            raise NotFoundError(
                f"{who} is not registered on the ledger", code="unknown_institution"
            ) from exc
        if exc.code in _REFUSALS:
            raise LedgerError(f"{_REFUSALS[exc.code]} ({exc.detail})", code=exc.code) from exc
        raise


_REFUSALS = {
    "grant_already_revoked": "the grant is already revoked",
    "not_grant_subject": "the grant is not yours",
    "not_a_subject": "this account is not bound to an enterprise yet (register first)",
    "invalid_signature": "the ledger refused the signature (was the nonce moved by revoke-all?)",
    "signature_invalid": "the ledger refused the signature (was the nonce moved by revoke-all?)",
    "signature_expired": "the signature expired before it reached the chain",
    "invalid_grant_terms": "the ledger refused these grant terms",
}


def _institution(client: Any, target: Target, address: str) -> tuple[InstitutionInfo, Standing]:
    """The institution as registered on chain, and its suspension and agreement: read from a
    node when one is given, else from the platform's public directory (its replica of the
    chain); unknown -> one-line error."""
    info: InstitutionInfo | None
    if target.reader is not None:
        info = target.reader.institution(address)
        standing = None if info is None else standing_from_node(target.reader, address)
    else:
        try:
            found = client.institution(address)
        except NotFoundError:
            info = standing = None
        else:
            from ledger_api.chain.types import InstitutionType

            info = InstitutionInfo(found.address, found.name, InstitutionType[found.kind.upper()])
            standing = standing_from_directory(found)
    if info is None or standing is None:
        raise NotFoundError(
            f"institution {address} is not registered on the ledger", code="unknown_institution"
        )
    return info, standing


def _agreement_line(standing: Standing) -> str:
    agreement = standing.agreement
    if agreement is None:
        return "none" if standing.agreement_known else "not reported by the platform"
    return (
        f"#{agreement.agreement_id} {agreement.status}, "
        f"{utc_time(agreement.not_before)} to {utc_time(agreement.not_after)}"
    )


def grant(
    institution: Annotated[
        str, typer.Option("--institution", help="The institution's address (0x...).")
    ],
    categories: Annotated[
        str,
        typer.Option(
            "--categories", help="Catalog categories, comma-separated (e.g. tax,social_insurance)."
        ),
    ],
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose",
            help="What the institution may use your data for: "
            + ", ".join(PURPOSES)
            + " (see below).",
        ),
    ],
    level: Annotated[
        str,
        typer.Option("--level", help="How much it may see: " + ", ".join(LEVELS) + " (see below)."),
    ] = "query",
    days: Annotated[
        int, typer.Option("--days", min=1, max=MAX_DAYS, help="Validity in days from now.")
    ] = 90,
    max_uses: Annotated[
        int,
        typer.Option(
            "--max-uses",
            min=0,
            max=2**32 - 1,
            help="Most queries the institution may make (0: no cap).",
        ),
    ] = 0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Sign even though the institution could not use the grant (suspended, or its "
            "agreement does not cover these categories or this purpose).",
        ),
    ] = False,
    rpc: RpcOption = None,
    chain_url: ChainUrlOption = None,
    contract: ContractOption = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Authorize an institution to read some of your categories, for a purpose and a time.

    Shown in words and checked against the institution's agreement before the password.
    """
    from ledger_api.chain.ledger import GrantTerms, SignedGrant  # web3: only when granting

    institution = checksum(institution, "institution")
    names, mask = parse_categories(categories)
    chosen_purpose, chosen_level = parse_purpose(purpose), parse_level(level)
    entry = keystore_dir().find(name)
    now = int(time.time())
    terms = GrantTerms(
        institution=institution,
        categories=mask,
        purpose=chosen_purpose,
        level=chosen_level,
        not_before=now - 60,
        not_after=now + days * 86400,
        max_uses=max_uses,
    )
    with platform() as client:
        target = resolve_target(client, rpc=rpc, chain_url=chain_url, contract=contract)
        profile, standing = _institution(client, target, institution)
        purpose_name, level_name = chosen_purpose.name.lower(), chosen_level.name.lower()
        preview: dict[str, Any] = {
            "signer": f"{entry.name} ({entry.address})",
            "institution": institution,
            "institution_name": profile.name,
            "institution_type": profile.kind.name.lower(),
            "agreement": _agreement_line(standing),
            "categories": names,
            "purpose": explained(purpose_name, PURPOSES),
            "access_level": explained(level_name, LEVELS),
            "valid_from": utc_time(terms.not_before),
            "valid_until": f"{utc_time(terms.not_after)} ({days} days)",
            "usage_cap": f"{max_uses} queries" if max_uses else "no cap",
            "chain_id": target.domain.chain_id,
            "contract": target.domain.verifying_contract,
            "submitted": target.via,
        }
        problems = grant_problems(
            standing,
            {n: category_bit_mask(n) for n in names},
            chosen_purpose,
            terms.not_before,
            now,
        )
        show_summary("You are about to sign this grant:", preview)
        for problem in problems:
            note(f"WARNING: {problem}.")
        if problems and not force:
            raise ConflictError(
                f"{profile.name} could not use this grant ({problems[0]}); nothing was signed "
                "(change the terms, or pass --force to sign it anyway)",
                code="grant_unusable",
            )
        ask_to_sign("Sign and submit this grant?", assume_yes=yes)
        account = unlock(name, password_file=password_file)
        act_as(client, account)
        with _chain_refusals(institution):
            if target.direct is not None:
                grant_id = target.direct.ledger.issue_grant(target.direct.sender(account), terms)
            else:
                nonce = target.nonce(client, account)
                deadline = signature_deadline()
                signature = eip712.sign_typed(
                    account.key, target.domain, "Grant", terms.as_message(nonce, deadline)
                )
                signed = SignedGrant(
                    terms=terms, signer=account.address, deadline=deadline, signature=signature
                )
                grant_id = client.relay_grants([signed])[0]
    remember_grants(entry.address, {grant_id: _remembered(preview, institution, names)})
    get_output().done(
        f"Grant {grant_id} issued to {profile.name}",
        {
            "grant_id": grant_id,
            **preview,
            "purpose": purpose_name,
            "access_level": level_name,
            "not_before": terms.not_before,
            "not_after": terms.not_after,
            "max_uses": max_uses,
            "categories_mask": mask,
            "warnings": problems,
        },
    )


# -- listing -------------------------------------------------------------------------------


def _remembered(preview: dict[str, Any], institution: str, names: list[str]) -> dict[str, Any]:
    return {
        "institution": institution,
        "institution_name": preview.get("institution_name"),
        "categories": names,
        "purpose": preview.get("purpose"),
        "valid_until": preview.get("valid_until"),
    }


def _grant_row(g: schemas.GrantStatus, names: dict[str, str]) -> dict[str, Any]:
    return {
        "grant_id": g.grant_id,
        "institution": g.institution,
        "institution_name": names.get(g.institution or ""),
        "categories": category_names(g.categories),
        "purpose": g.purpose,
        "level": g.level,
        "valid_from": utc_time(g.not_before),
        "valid_until": utc_time(g.not_after),
        "used": g.used,
        "max_uses": g.max_uses,
        "uses": f"{g.used}/{g.max_uses}" if g.max_uses else f"{g.used}/-",
        "status": g.status,
    }


def grants(
    action: Annotated[
        str | None,
        typer.Argument(help="receipt: save a grant's consent receipt (with GRANT_ID, --out)"),
    ] = None,
    grant_id: Annotated[int | None, typer.Argument(help="the grant, for receipt")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="receipt: the file to write", dir_okay=False)
    ] = None,
    chain_url: ChainUrlOption = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """List your grants with their live status (usable, revoked, expired, ...).

    `ccl-wallet grants receipt ID --out FILE` saves one grant as a consent receipt (an
    ISO/IEC TS 27560 consent record) signed by the platform.
    """
    keystore_dir().find(name)
    if action is not None:
        _save_consent_receipt(action, grant_id, out, name, password_file)
        return
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = client.my_grants()
        reader = None
        if read_url(None, chain_url):
            reader = resolve_target(client, rpc=None, chain_url=chain_url).reader
        names = institution_names(client, (g.institution for g in mine), reader)
    rows = [_grant_row(g, names) for g in sorted(mine, key=lambda g: g.grant_id)]
    remember_grants(
        account.address,
        {
            row["grant_id"]: _remembered(row, row["institution"] or "", row["categories"])
            for row in rows
        },
    )
    columns = [
        Column("grant_id", "Grant", justify="right"),
        Column("institution_name", "Institution"),
        Column("institution", "Address", no_wrap=True),
    ]
    columns += [
        Column("categories", "Categories"),
        Column("purpose", "Purpose"),
        Column("level", "Level"),
        Column("valid_from", "Valid from", no_wrap=True),
        Column("valid_until", "Valid until", no_wrap=True),
        Column("uses", "Used/cap", justify="right"),
        Column("status", "Status"),
    ]
    get_output().rows(rows, columns, empty="no grants yet (issue one with 'ccl-wallet grant')")


def _save_consent_receipt(
    action: str, grant_id: int | None, out: Path | None, name: str, password_file: Path | None
) -> None:
    """Fetch the grant's consent receipt, check the signature covers it, write it to ``out``."""
    if action != "receipt" or grant_id is None or out is None:
        raise InputError(
            "usage: ccl-wallet grants receipt GRANT_ID --out FILE", code="bad_arguments"
        )
    from wallet_cli.consent_receipt import save_consent_receipt

    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        save_consent_receipt(client, grant_id, out, as_role="subject")


# -- revocation ----------------------------------------------------------------------------


def _revoke_one(
    client: LedgerClient, target: Target, account: LocalAccount, grant_id: int
) -> schemas.TxResult:
    with _chain_refusals():
        if target.direct is not None:
            receipt = target.direct.ledger.revoke_grant(target.direct.sender(account), grant_id)
            return schemas.TxResult(
                tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
                block_number=int(receipt["blockNumber"]),
            )
        nonce = target.nonce(client, account)
        deadline = signature_deadline()
        signature = eip712.sign_typed(
            account.key,
            target.domain,
            "Revocation",
            {"grantId": grant_id, "nonce": nonce, "deadline": deadline},
        )
        return client.relay_revocation(grant_id, deadline, signature)


def _revocation_preview(grant_id: int, known: dict[str, Any] | None) -> dict[str, Any]:
    if known is None:
        return {
            "grant_id": grant_id,
            "terms": "not seen by this wallet yet (see 'ccl-wallet grants')",
        }
    return {"grant_id": grant_id, **known}


def revoke(
    grant_id: Annotated[
        int,
        typer.Argument(help="The grant to revoke (see 'ccl-wallet grants').", min=1, max=2**63 - 1),
    ],
    rpc: RpcOption = None,
    contract: ContractOption = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Revoke a grant (final: the institution can no longer use it)."""
    entry = keystore_dir().find(name)
    # The platform tells a grant's terms only to its signed-in subject: before the password the
    # wallet shows what it remembers of the grant, and checks it against the platform after.
    known = known_grants(entry.address).get(grant_id)
    show_and_confirm(
        f"You are about to revoke grant {grant_id} (final):",
        {
            "signer": f"{entry.name} ({entry.address})",
            **_revocation_preview(grant_id, known),
            "submitted": f"directly to the node at {rpc}" if rpc else "platform relay",
        },
        "Sign and submit this revocation?",
        assume_yes=yes,
    )
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = {g.grant_id: g for g in client.my_grants()}
        if grant_id not in mine:
            raise NotFoundError(f"no grant {grant_id} among yours", code="unknown_grant")
        current = mine[grant_id]
        if current.status == "revoked":
            raise LedgerError(f"grant {grant_id} is already revoked", code="already_revoked")
        target = resolve_target(client, rpc=rpc, contract=contract)
        tx = _revoke_one(client, target, account, grant_id)
    get_output().done(
        f"Grant {grant_id} revoked (block {tx.block_number}; chain id {target.domain.chain_id}, "
        f"contract {target.domain.verifying_contract})",
        {
            "grant_id": grant_id,
            "revoked": True,
            "institution": current.institution,
            "categories": category_names(current.categories),
            "purpose": current.purpose,
            **tx.model_dump(),
        },
    )


def revoke_all(
    rpc: RpcOption = None,
    contract: ContractOption = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Invalidate every signature you gave out (nonce increase), then revoke every grant."""
    entry = keystore_dir().find(name)
    known = sorted(known_grants(entry.address))
    show_and_confirm(
        "You are about to invalidate all your outstanding signatures and revoke every grant "
        "that is not revoked yet (final):",
        {
            "signer": f"{entry.name} ({entry.address})",
            "grants_seen_by_this_wallet": known or "none yet (all grants are revoked anyway)",
            "submitted": f"directly to the node at {rpc}" if rpc else "platform relay",
        },
        "Sign and submit?",
        assume_yes=yes,
    )
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        target = resolve_target(client, rpc=rpc, contract=contract)
        # Signatures first: a grant signed earlier but not yet relayed can no longer appear
        # behind our back once the nonce has moved; then list, to revoke what exists now.
        nonce = target.nonce(client, account)
        new_nonce = nonce + 1
        if target.direct is not None:
            with _chain_refusals():
                target.direct.ledger.transact(
                    target.direct.sender(account), "increaseNonce", new_nonce
                )
        else:
            deadline = signature_deadline()
            signature = eip712.sign_typed(
                account.key,
                target.domain,
                "IncreaseNonce",
                {"newNonce": new_nonce, "nonce": nonce, "deadline": deadline},
            )
            client.relay_nonce_increase(new_nonce, deadline, signature)
        revoked: list[dict[str, Any]] = []
        for g in sorted(client.my_grants(), key=lambda g: g.grant_id):
            if g.status == "revoked":
                continue
            tx = _revoke_one(client, target, account, g.grant_id)
            note(f"revoked grant {g.grant_id}")
            revoked.append({"grant_id": g.grant_id, **tx.model_dump()})
    get_output().done(
        f"Outstanding signatures invalidated (nonce {new_nonce}); {len(revoked)} grant(s) revoked",
        {"new_nonce": new_nonce, "revoked": revoked},
    )


def register(app: typer.Typer) -> None:
    app.command("grant")(grant)
    app.command("grants")(grants)
    app.command("revoke")(revoke)
    app.command("revoke-all")(revoke_all)
