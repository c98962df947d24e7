"""The institution's data-sharing agreements: list them, and accept a proposed one gaslessly.

``accept`` shows in words what the key is about to sign (institution, categories, purposes,
term, the signature's deadline), asks to confirm, then signs the platform's EIP-712
``AgreementAcceptance`` and has the platform relay it. The typed data comes from the platform,
so before signing the command checks that it names this agreement and the contract the
platform serves (a platform cannot make the key sign for something else than what is shown).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from eth_account import Account
from eth_account.messages import encode_typed_data

from ledger_api.errors import ConflictError, InputError, NotFoundError
from wallet_cli.bank.session import signed_client
from wallet_cli.bank.shapes import moment, names
from wallet_cli.keys import unlock
from wallet_cli.meanings import PURPOSES, explained
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, confirm, get_output, note
from wallet_cli.platform import act_as, platform


def _row(a: dict[str, Any]) -> dict[str, Any]:
    term = a.get("term") or {}
    return {
        **a,
        "institution_label": a.get("institution_name") or a.get("institution"),
        "category_names": ", ".join(names(a.get("categories"))),
        "purpose_names": ", ".join(names(a.get("purposes"))),
        "term_text": f"{moment(term.get('starts_at'))} - {moment(term.get('ends_at'))}",
    }


def agreements(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """List your institution's data-sharing agreements and their status."""
    with signed_client(name, password_file) as client:
        found = [a.model_dump() for a in client.institution_agreements()]
    out = get_output()
    if out.json_mode:
        out.json(found)
        return
    out.rows(
        [_row(a) for a in found],
        [
            Column("agreement_id", "Agreement", justify="right"),
            Column("institution_label", "Institution"),
            Column("status", "Status"),
            Column("category_names", "Categories"),
            Column("purpose_names", "Purposes"),
            Column("term_text", "Term"),
        ],
        empty="no agreements name your institution (ask the platform operator to propose one)",
    )


def accept(
    agreement_id: Annotated[int, typer.Argument(help="The proposed agreement's id.")],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Accept a proposed agreement by signature (the platform relays it: no gas)."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        act_as(client, account)
        found = [a.model_dump() for a in client.institution_agreements()]
        agreement = next((a for a in found if int(a.get("agreement_id", 0)) == agreement_id), None)
        if agreement is None:
            raise NotFoundError(
                f"agreement {agreement_id} is not one of your institution's agreements",
                code="unknown_agreement",
            )
        acceptance = agreement.get("acceptance")
        if agreement.get("status") != "proposed" or not acceptance:
            raise ConflictError(
                f"agreement {agreement_id} is {agreement.get('status')}, not proposed: "
                "nothing to accept",
                code="agreement_not_proposed",
            )
        typed_data: dict[str, Any] = acceptance["typed_data"]
        _check_typed_data(typed_data, agreement_id, client.chain_info().contract)
        _summary(agreement, int(acceptance["deadline"]))
        confirm(f"Sign and accept agreement {agreement_id}?", assume_yes=yes)
        signed = Account.sign_message(encode_typed_data(full_message=typed_data), account.key)
        result = client.relay_acceptance(
            agreement_id, bytes(signed.signature), int(acceptance["deadline"])
        ).model_dump()
    get_output().done(
        f"Accepted agreement {agreement_id} (status {result.get('status')}); "
        f"transaction {result.get('tx_hash')} in block {result.get('block_number')}",
        result,
    )


def _check_typed_data(typed_data: dict[str, Any], agreement_id: int, contract: str) -> None:
    message = typed_data.get("message") or {}
    domain = typed_data.get("domain") or {}
    if (
        typed_data.get("primaryType") != "AgreementAcceptance"
        or int(message.get("agreementId", -1)) != agreement_id
        or str(domain.get("verifyingContract", "")).lower() != contract.lower()
    ):
        raise InputError(
            f"the platform's message to sign is not an acceptance of agreement {agreement_id} "
            "on its contract; nothing was signed",
            code="bad_typed_data",
        )


def _summary(agreement: dict[str, Any], deadline: int) -> None:
    term = agreement.get("term") or {}
    categories = ", ".join(names(agreement.get("categories"))) or "-"
    lines = [
        "You are about to sign, with your institution's key:",
        f"  accept data-sharing agreement {agreement['agreement_id']} for "
        f"{agreement.get('institution_name') or agreement.get('institution')} "
        f"({agreement.get('institution')})",
        f"  categories it lets you read under grants: {categories}",
        "  purposes it allows:",
        *(f"    {explained(p, PURPOSES)}" for p in names(agreement.get("purposes"))),
        f"  term: from {moment(term.get('starts_at'))} until {moment(term.get('ends_at'))}",
        f"  document hash: {agreement.get('document_hash')}",
        f"  this signature is valid until {moment(deadline)} (the platform relays it; no gas)",
    ]
    for line in lines:
        note(line)
