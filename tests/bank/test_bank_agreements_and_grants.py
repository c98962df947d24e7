"""A new bank with only its key and ``ccl-bank``: it accepts its proposed agreement without
gas (seeing in words what it signs), lists the grants naming it and checks one before reading."""

from __future__ import annotations

import time

from bankkit import USCC, Bank, ServedPlatform

from wallet_cli.bank.grants import EXIT_NOT_USABLE

ALL_PURPOSES_LOAN = 1 << 0  # loan_application
TAX = 1 << 2


def _new_bank(platform: ServedPlatform, bank: Bank) -> tuple[Bank, int]:
    """Bank B (registered, no agreement) at its own terminal, an agreement proposed to it."""
    world = platform.world
    other = Bank(bank.home.parent / "bank-b-home", platform.url)
    other.import_key(bytes(world.bank_b.account.key))
    now = int(time.time())
    agreement_id = world.ledger.propose_agreement(
        world.operator,
        world.bank_b.address,
        TAX | 1 << 0,
        ALL_PURPOSES_LOAN,
        now - 60,
        now + 365 * 86400,
        b"\x02" * 32,
    )
    return other, agreement_id


def test_a_bank_accepts_its_proposed_agreement_after_reading_what_it_signs(
    bank: Bank, platform: ServedPlatform
) -> None:
    other, agreement_id = _new_bank(platform, bank)
    listed = other.json("agreements")
    proposed = next(a for a in listed if a["agreement_id"] == agreement_id)
    assert proposed["status"] == "proposed" and proposed["acceptance"] is not None

    declined = other.signed("accept", str(agreement_id), input="n\n")
    assert declined.exit_code == 1 and "aborted" in declined.stderr
    assert (
        next(a for a in other.json("agreements") if a["agreement_id"] == agreement_id)["status"]
        == "proposed"
    )

    balance = platform.world.w3.eth.get_balance(platform.world.bank_b.address)
    accepted = other.signed("accept", str(agreement_id), input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    shown = accepted.stderr
    assert "Bank B" in shown and "tax" in shown and "loan_application" in shown
    assert "deciding on a loan" in shown  # the purpose in words
    assert f"Accepted agreement {agreement_id}" in accepted.stdout
    assert platform.world.w3.eth.get_balance(platform.world.bank_b.address) == balance  # no gas
    table = other.signed("agreements")
    assert "Bank B" in table.stdout and "active" in table.stdout
    other.assert_no_secret_printed()


def test_accepting_another_institutions_agreement_is_one_line_and_changes_nothing(
    bank: Bank, platform: ServedPlatform
) -> None:
    other, _ = _new_bank(platform, bank)
    theirs = platform.world.agreement_id  # the first bank's
    result = other.signed("accept", str(theirs), "--yes")
    assert result.exit_code == 1
    assert result.stderr.count("error: ") == 1 and "not one of your" in result.stderr


def test_the_bank_lists_its_grants_by_name_and_checks_one_before_reading(
    bank: Bank, platform: ServedPlatform
) -> None:
    platform.ingest_for(USCC)
    grant_id = platform.grant()
    listed = bank.signed("grants")
    assert listed.exit_code == 0, listed.stderr
    assert USCC in listed.stdout and "tax" in listed.stdout and "usable" in listed.stdout
    usable = bank.json("grants", "--usable")
    mine = next(g for g in usable if g["grant_id"] == grant_id)
    assert mine["subject_uscc"] == USCC and mine["status"]["usable"] is True
    assert mine["categories"][0]["name"] == "tax"

    ok = bank.json("check", str(grant_id), "--category", "tax")
    assert ok["usable"] is True and ok["checked_block"] > 0
    refused = bank.signed("check", str(grant_id), "--category", "judicial")
    assert refused.exit_code == EXIT_NOT_USABLE, refused.stderr
    assert "NOT usable" in refused.stdout and "category_not_granted" in refused.stdout

    revoked = platform.grant()
    platform.world.ledger.revoke_grant(platform.world.subject_tx[0], revoked)
    now_usable = {g["grant_id"] for g in bank.json("grants", "--usable")}
    assert grant_id in now_usable and revoked not in now_usable


def test_checking_a_grant_that_names_another_institution_is_refused_in_one_line(
    bank: Bank, platform: ServedPlatform
) -> None:
    theirs = platform.grant(institution=platform.world.bank_b.address)
    result = bank.signed("check", str(theirs), "--category", "tax")
    assert result.exit_code == 1
    assert result.stderr.count("error: ") == 1 and "Traceback" not in result.stderr


def test_check_puts_its_verdict_in_the_exit_code_for_a_script(
    bank: Bank, platform: ServedPlatform
) -> None:
    grant_id = platform.grant()
    usable = bank.signed("check", str(grant_id), "--category", "tax")
    assert usable.exit_code == 0 and "usable" in usable.stdout
    platform.world.ledger.revoke_grant(platform.world.subject_tx[0], grant_id)
    revoked = bank.signed("check", str(grant_id), "--category", "tax")
    assert revoked.exit_code == EXIT_NOT_USABLE, revoked.stderr
    assert "NOT usable" in revoked.stdout and "revoked" in revoked.stdout
    assert revoked.stderr == ""  # an answer, not an error
    answer = bank.json("check", str(grant_id), "--category", "tax", code=EXIT_NOT_USABLE)
    assert (answer["usable"], answer["reason"]) == (False, "revoked")
