"""A new enterprise's first day at its wallet (issue 26, section 5), each friction it met.

Prompts are driven through a pseudo-terminal where their order matters (``terminal.py``: the
summary before the password, the backup warning, the early password-length check); the rest
through CliRunner against the in-process platform.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from enterprisekit import Enterprise
from live_server import served
from platformkit import CHAIN_URL, InProcessPlatform
from terminal import Terminal
from walletkit import PASSWORD, TEST_KDF_N, Wallet, assert_one_line_error

from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.errors import GrantError
from wallet_cli.meanings import LEVELS, PURPOSES
from wallet_cli.secret_input import MIN_PASSWORD_LENGTH
from wallet_cli.terms import category_bit_mask

DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC")


def terminal_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCL_")}
    return {**env, "CCL_WALLET_HOME": str(home), "CCL_WALLET_KDF_N": TEST_KDF_N, **extra}


@pytest.fixture
def api_url(platform: InProcessPlatform) -> Iterator[str]:
    """The in-process platform over real HTTP, for wallets run as separate processes."""
    with served(platform.http.app) as url:
        yield url


def grant_args(institution: str, *extra: str) -> list[str]:
    return [
        "grant",
        "--institution",
        institution,
        "--categories",
        "tax",
        "--purpose",
        "loan_application",
        *extra,
    ]


# -- the order: summary first, then the password ---------------------------------------------


def test_grant_shows_the_summary_and_asks_to_sign_before_asking_the_password(
    enterprise: Enterprise, api_url: str
) -> None:
    bank = enterprise.platform.bank.address
    term = Terminal(
        grant_args(bank), terminal_env(enterprise.wallet.home, CCL_WALLET_API_URL=api_url)
    )
    summary = term.expect("Sign and submit this grant?")
    assert "Password" not in summary
    for shown in ("中原银行郑州分行", "loan_application", "query", "tax"):
        assert shown in summary, summary
    assert DATE_TIME.search(summary), summary
    term.type("y")
    term.expect("Password for keystore default: ")
    term.type(PASSWORD)
    term.expect("Grant ")
    assert term.finish() == 0, term.transcript
    assert [g["grant_id"] for g in enterprise.json("grants")] != []


def test_declining_the_summary_never_asks_the_password_nor_signs(
    enterprise: Enterprise, api_url: str
) -> None:
    bank = enterprise.platform.bank.address
    term = Terminal(
        grant_args(bank), terminal_env(enterprise.wallet.home, CCL_WALLET_API_URL=api_url)
    )
    term.expect("Sign and submit this grant?")
    term.type("n")
    assert term.finish() == 1
    assert "Password" not in term.transcript and "error: aborted" in term.transcript
    assert enterprise.json("grants") == []


@pytest.mark.parametrize(
    ("args", "title"),
    [
        (["revoke", "1", "--yes"], "You are about to revoke grant 1"),
        (["commit", "--text", "按期还款", "--yes"], "credit commitment"),
    ],
)
def test_revoke_and_commit_show_what_is_signed_before_the_password(
    enterprise: Enterprise, args: list[str], title: str
) -> None:
    enterprise.grant()
    result = enterprise.wallet(args, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.index(title) < result.stderr.index("Password for keystore")


def test_revoke_shows_the_terms_the_wallet_saw_before_the_password(
    enterprise: Enterprise,
) -> None:
    grant_id = enterprise.grant()
    result = enterprise.wallet(["revoke", str(grant_id), "--yes"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    before_password = result.stderr[: result.stderr.index("Password for keystore")]
    assert "中原银行郑州分行" in before_password and "loan_application" in before_password


def test_object_shows_the_record_and_reason_before_the_password(
    enterprise: Enterprise,
) -> None:
    record = enterprise.json("my-data", "--category", "tax")["records"][0]["record_uid"]
    result = enterprise.wallet(
        ["object", record, "--reason", "已缴清", "--yes"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.stderr
    before_password = result.stderr[: result.stderr.index("Password for keystore")]
    assert record in before_password and "已缴清" in before_password


def test_register_shows_the_enterprise_and_chain_before_the_password(
    wallet: Wallet, platform: InProcessPlatform
) -> None:
    from enterprisekit import USCC

    pw = wallet.secret_file("pw.txt", PASSWORD)
    wallet(["new", "--password-file", str(pw)])
    result = wallet(["register", USCC, "--yes"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    before_password = result.stderr[: result.stderr.index("Password for keystore")]
    assert USCC[-4:] in before_password and platform.world.ledger.address in before_password
    assert USCC not in result.stdout + result.stderr


# -- new: backup warning, early length check -------------------------------------------------


def test_new_warns_to_back_up_the_keystore_file_it_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    term = Terminal(["new", "--name", "acme"], terminal_env(home))
    term.expect("New password: ")
    term.type(PASSWORD)
    term.expect("Repeat for confirmation: ")
    term.type(PASSWORD)
    assert term.finish() == 0, term.transcript
    [keystore] = (home / "keystores").glob("acme--*.json")
    flat = " ".join(term.transcript.split())
    assert f"BACK UP {keystore}" in flat, term.transcript
    assert PASSWORD not in term.transcript


def test_a_short_password_is_refused_at_its_first_entry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    term = Terminal(["new", "--name", "acme"], terminal_env(home))
    term.expect("New password: ")
    term.type("short")
    after = term.expect(f"at least {MIN_PASSWORD_LENGTH} characters")
    assert term.finish() == 2
    assert "Repeat for confirmation" not in after + term.transcript
    assert not (home / "keystores").exists() or not list((home / "keystores").glob("*.json"))


# -- grants the institution could not use ----------------------------------------------------


def _limited_agreement(platform: InProcessPlatform) -> str:
    """The insurer gets an active agreement covering only tax, for insurance underwriting."""
    world = platform.world
    now = int(time.time())
    agreement = world.ledger.propose_agreement(
        world.operator,
        world.insurer.address,
        category_bit_mask("tax"),
        1 << int(Purpose.INSURANCE_UNDERWRITING),
        now - 60,
        now + 86400,
        b"\x02" * 32,
    )
    world.ledger.transact(world.insurer, "acceptAgreement", agreement)
    return str(world.insurer.address)


@pytest.mark.parametrize("source", ["directory", "node"])
def test_a_grant_to_an_institution_without_agreement_is_refused_unless_forced(
    enterprise: Enterprise, source: str
) -> None:
    bank_b = enterprise.platform.world.bank_b.address
    node = ["--chain-url", CHAIN_URL] if source == "node" else []
    refused = enterprise(*grant_args(bank_b, *node, "--yes"))
    assert_one_line_error(refused, 1, "Bank B could not use this grant", "--force")
    assert "WARNING: the institution has no data-sharing agreement" in refused.stderr
    assert enterprise.json("grants") == []
    forced = enterprise.json(*grant_args(bank_b, *node, "--yes", "--force"))
    assert forced["grant_id"] and forced["warnings"]
    assert [g["status"] for g in enterprise.json("grants")] == ["no_agreement"]


@pytest.mark.parametrize("source", ["directory", "node"])
def test_a_grant_outside_the_agreements_categories_or_purpose_is_refused(
    enterprise: Enterprise, source: str
) -> None:
    insurer = _limited_agreement(enterprise.platform)
    node = ["--chain-url", CHAIN_URL] if source == "node" else []
    args = [
        "grant",
        "--institution",
        insurer,
        "--categories",
        "tax,social_insurance",
        "--purpose",
        "loan_application",
        "--yes",
        *node,
    ]
    refused = enterprise(*args)
    assert_one_line_error(refused, 1, "could not use this grant")
    assert "does not cover social_insurance" in refused.stderr
    assert "does not allow the purpose loan_application" in refused.stderr
    fitting = enterprise.json(
        "grant",
        "--institution",
        insurer,
        "--categories",
        "tax",
        "--purpose",
        "insurance_underwriting",
        "--yes",
        *node,
    )
    assert fitting["warnings"] == []


def test_a_grant_to_a_suspended_institution_is_refused(enterprise: Enterprise) -> None:
    world = enterprise.platform.world
    world.ledger.transact(world.regulator, "suspendInstitution", world.bank.address)
    refused = enterprise(*grant_args(world.bank.address, "--yes"))
    assert_one_line_error(refused, 1, "the institution is suspended")


# -- options anywhere ------------------------------------------------------------------------


def test_command_options_may_come_before_the_command(enterprise: Enterprise) -> None:
    pw = str(enterprise.wallet.home.parent / "pw.txt")
    before = enterprise.wallet(["-n", "default", "--password-file", pw, "--json", "my-data"])
    assert before.exit_code == 0, before.stderr
    after = enterprise.wallet(["my-data", "--json", "-n", "default", "--password-file", pw])
    first, second = json.loads(before.stdout), json.loads(after.stdout)
    assert first["subject_id"] == second["subject_id"] == enterprise.subject_id
    assert {r["record_uid"] for r in first["records"]} == {
        r["record_uid"] for r in second["records"]
    }
    assert enterprise.wallet(["--name=default", "address"]).stdout.strip() == (
        enterprise.account.address
    )


def test_global_options_may_come_after_the_command(wallet: Wallet, tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    pw = wallet.secret_file("pw2.txt", PASSWORD)
    created = wallet(["new", "--name", "acme", "--password-file", str(pw), "--home", str(other)])
    assert created.exit_code == 0, created.stderr
    listed = wallet(["list", "--home", str(other), "--json"])
    assert [a["name"] for a in json.loads(listed.stdout)] == ["acme"]
    assert wallet(["list", "--json"]).stdout.strip() == "[]"  # the default home is untouched


# -- words: levels, purposes, dates, reasons, record ids -------------------------------------


def test_grant_help_and_summary_explain_every_level_and_purpose(
    enterprise: Enterprise,
) -> None:
    assert set(LEVELS) == {level.name.lower() for level in AccessLevel}
    assert set(PURPOSES) == {purpose.name.lower() for purpose in Purpose}
    shown = enterprise.wallet(["grant", "--help"])
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", shown.stdout).split())
    for meaning in [*LEVELS.values(), *PURPOSES.values()]:
        assert " ".join(meaning.split()) in text, meaning
    result = enterprise(*grant_args(enterprise.platform.bank.address, "--level", "detail", "--yes"))
    assert result.exit_code == 0, result.stderr
    assert f"detail — {LEVELS['detail']}" in result.stderr
    assert f"loan_application — {PURPOSES['loan_application']}" in result.stderr


def test_validity_and_times_are_shown_with_their_dates(enterprise: Enterprise) -> None:
    enterprise.grant()
    [row] = enterprise.json("grants")
    assert DATE_TIME.fullmatch(row["valid_from"]) and DATE_TIME.fullmatch(row["valid_until"])
    table = enterprise("grants").stdout
    assert len(list(DATE_TIME.finditer(table))) == 2, table
    enterprise.bank_reads(row["grant_id"])
    [entry] = [e for e in enterprise.json("access-log") if e["grant_id"] == row["grant_id"]]
    assert DATE_TIME.fullmatch(entry["at"]), entry["at"]


def test_a_narrow_terminal_keeps_each_validity_date_with_its_time(
    enterprise: Enterprise, api_url: str
) -> None:
    enterprise.grant()
    pw = str(enterprise.wallet.home.parent / "pw.txt")
    env = terminal_env(enterprise.wallet.home, CCL_WALLET_API_URL=api_url)
    term = Terminal(["grants", "--password-file", pw], env, columns=80)
    assert term.finish() == 0, term.transcript
    times = re.findall(r"\d{2}:\d{2} UTC", term.transcript)
    assert len(times) == 2 and len(list(DATE_TIME.finditer(term.transcript))) == 2, term.transcript


def test_the_access_log_says_why_an_access_was_denied(enterprise: Enterprise) -> None:
    grant_id = enterprise.grant()
    assert enterprise("revoke", str(grant_id), "--yes").exit_code == 0
    with pytest.raises(GrantError):
        enterprise.bank_reads(grant_id)
    denied = [e for e in enterprise.json("access-log") if e["decision"] == "denied"]
    assert denied and denied[0]["why"] == "you revoked the grant (revoked)"
    table = " ".join(enterprise("access-log").stdout.split())
    assert "you revoked the grant (revoked)" in table


@pytest.mark.parametrize("remembered", [True, False])
def test_disputes_show_the_record_id_the_user_objected_to(
    enterprise: Enterprise, remembered: bool
) -> None:
    record = enterprise.json("my-data", "--category", "tax")["records"][1]["record_uid"]
    opened = enterprise.json("object", record, "--reason", "金额有误", "--yes")
    if not remembered:  # another machine, or a wiped wallet home: matched through the leaves
        for state in (enterprise.wallet.home / "state").iterdir():
            state.unlink()
    [listed] = enterprise.json("disputes")
    assert listed["dispute_id"] == opened["dispute_id"]
    assert listed["record_uid"] == record.lower()
    assert record.lower() in enterprise("disputes").stdout
