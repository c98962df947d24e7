"""Each domain command, driven through CliRunner against the API app on the eth-tester world."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from enterprisekit import USCC, Enterprise, add_key_secret
from eth_account import Account
from platformkit import (
    CHAIN_URL,
    InProcessPlatform,
)
from sqlalchemy import update
from walletkit import OTHER_PASSWORD, PASSWORD, Wallet, assert_one_line_error

from ledger_api.accesslog import ANCHORS
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.client import LedgerClient
from ledger_api.errors import GrantError, LedgerError

# -- registration ----------------------------------------------------------------------------


def test_register_signs_the_platforms_message_and_status_follows_approval(
    wallet: Wallet, platform: InProcessPlatform
) -> None:
    pw = wallet.secret_file("pw.txt", PASSWORD)
    wallet(["new", "--password-file", str(pw)])
    account = add_key_secret(wallet)
    result = wallet(["register", USCC.lower(), "--yes", "--password-file", str(pw)])
    assert result.exit_code == 0, result.stderr
    assert "pending_approval" in result.stdout and "registration-status" in result.stdout
    for shown in (
        account.address,
        str(platform.world.w3.eth.chain_id),
        platform.world.ledger.address,
    ):
        assert shown in result.stderr
    assert USCC not in result.stdout + result.stderr  # only the masked form is shown
    state = wallet.home / "state" / f"{account.address.lower()}.json"
    assert (state.stat().st_mode & 0o777) == 0o600
    status = wallet(["--json", "registration-status", "--password-file", str(pw)])
    assert json.loads(status.stdout)["status"] == "pending_approval"
    platform.approve_pending()
    status = wallet(["registration-status", "--password-file", str(pw)])
    assert "bound" in status.stdout
    assert platform.world.ledger.subject_of(account.address)[1] > 0


def test_register_refuses_an_invalid_uscc_before_anything_else(wallet: Wallet) -> None:
    result = wallet(
        ["register", "91350100M000100Y44", "--yes"], CCL_WALLET_API_URL="http://127.0.0.1:9"
    )
    assert_one_line_error(result, 2, "invalid USCC", "check character")


def test_registration_status_without_a_registration_says_so(
    wallet: Wallet, password_file: Path
) -> None:
    wallet(["new", "--password-file", str(password_file)])
    assert_one_line_error(
        wallet(["registration-status", "--password-file", str(password_file)]),
        1,
        "no registration recorded",
    )


# -- grants ----------------------------------------------------------------------------------


def test_grant_shows_the_terms_in_words_then_relays_and_the_bank_can_read(
    enterprise: Enterprise,
) -> None:
    bank = enterprise.platform.bank.address
    result = enterprise(
        "--json",
        "grant",
        "--institution",
        bank.lower(),
        "--categories",
        "tax,social_insurance",
        "--purpose",
        "loan_application",
        "--level",
        "query",
        "--days",
        "30",
        "--max-uses",
        "3",
        "--chain-url",
        CHAIN_URL,
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    for shown in (
        "中原银行郑州分行",
        "bank",
        "tax, social_insurance",
        "loan_application",
        "query",
        "3 queries",
        "30 days",
        "platform relay",
        str(enterprise.platform.world.w3.eth.chain_id),
        enterprise.platform.world.ledger.address,
    ):
        assert shown in result.stderr, shown
    grant_id = json.loads(result.stdout)["grant_id"]
    assert len(enterprise.bank_reads(grant_id).records) == 2
    table = enterprise("grants", "--chain-url", CHAIN_URL)
    assert "usable" in table.stdout and "中原银行郑州分行" in table.stdout
    listed = enterprise.json("grants")
    assert listed[0]["used"] == 1 and listed[0]["max_uses"] == 3


def test_grant_without_yes_and_without_a_terminal_is_refused_after_showing_the_terms(
    enterprise: Enterprise,
) -> None:
    result = enterprise(
        "grant",
        "--institution",
        enterprise.platform.bank.address,
        "--categories",
        "tax",
        "--purpose",
        "loan_application",
        input="y\n",
    )
    assert_one_line_error(result, 2, "refusing to sign without confirmation")
    assert "loan_application" in result.stderr
    assert enterprise.json("grants") == []


def test_grant_to_an_unknown_institution_is_one_line_error(enterprise: Enterprise) -> None:
    stranger = Account.create().address
    checked = enterprise(
        "grant",
        "--institution",
        stranger,
        "--categories",
        "tax",
        "--purpose",
        "loan_application",
        "--chain-url",
        CHAIN_URL,
        "--yes",
    )
    assert_one_line_error(checked, 1, f"institution {stranger} is not registered")
    assert "You are about to sign" not in checked.stderr  # refused before showing/signing
    relayed = enterprise(
        "grant",
        "--institution",
        stranger,
        "--categories",
        "tax",
        "--purpose",
        "loan_application",
        "--yes",
    )
    assert_one_line_error(relayed, 1, "is not registered on the ledger")
    assert "You are about to sign" not in relayed.stderr  # the platform directory said no
    assert enterprise.json("grants") == []


def test_grant_input_errors_are_usage_errors(enterprise: Enterprise) -> None:
    bank = enterprise.platform.bank.address
    cases = [
        (["--categories", "tax,weather"], "unknown category 'weather'"),
        (["--categories", "tax", "--purpose", "gambling"], "unknown purpose 'gambling'"),
        (["--categories", "tax", "--level", "all"], "unknown access level 'all'"),
    ]
    for extra, message in cases:
        args = ["grant", "--institution", bank, "--purpose", "loan_application", *extra, "--yes"]
        assert_one_line_error(enterprise(*args), 2, message)
    assert_one_line_error(
        enterprise(
            "grant",
            "--institution",
            "0x1234",
            "--categories",
            "tax",
            "--purpose",
            "loan_application",
            "--yes",
        ),
        2,
        "is not an address",
    )


def test_grant_and_revoke_directly_on_a_node_with_the_wallets_own_key(
    enterprise: Enterprise,
) -> None:
    w3 = enterprise.platform.world.w3
    w3.eth.send_transaction(
        {"from": w3.eth.accounts[9], "to": enterprise.account.address, "value": 10**18}
    )
    grant_id = enterprise.grant("--rpc", CHAIN_URL)
    assert enterprise.platform.world.ledger.grant(grant_id).revoked is False
    assert len(enterprise.bank_reads(grant_id).records) == 2
    revoked = enterprise.json("revoke", str(grant_id), "--rpc", CHAIN_URL, "--yes")
    assert revoked["revoked"] is True
    with pytest.raises(GrantError):
        enterprise.bank_reads(grant_id)


def test_direct_submission_without_gas_fails_in_one_line(enterprise: Enterprise) -> None:
    result = enterprise(
        "grant",
        "--institution",
        enterprise.platform.bank.address,
        "--categories",
        "tax",
        "--purpose",
        "loan_application",
        "--rpc",
        CHAIN_URL,
        "--yes",
    )
    assert_one_line_error(result, 1)
    assert enterprise.json("grants") == []


def test_revoke_refuses_grants_that_are_not_yours_or_already_revoked(
    enterprise: Enterprise,
) -> None:
    assert_one_line_error(enterprise("revoke", "999", "--yes"), 1, "no grant 999 among yours")
    grant_id = enterprise.grant()
    assert enterprise("revoke", str(grant_id), "--yes").exit_code == 0
    assert_one_line_error(enterprise("revoke", str(grant_id), "--yes"), 1, "already revoked")
    assert [g["status"] for g in enterprise.json("grants")] == ["revoked"]


def test_revoke_all_invalidates_outstanding_signatures_and_revokes_every_grant(
    enterprise: Enterprise,
) -> None:
    world = enterprise.platform.world
    first, second = enterprise.grant(), enterprise.grant("--level", "verify")
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    pending = world.ledger.sign_grant(
        enterprise.account,
        GrantTerms(
            institution=world.bank.address,
            categories=0b100,
            purpose=Purpose.LOAN_APPLICATION,
            level=AccessLevel.DETAIL,
            not_before=now - 60,
            not_after=now + 86400,
        ),
    )
    done = enterprise.json("revoke-all", "--yes")
    assert [r["grant_id"] for r in done["revoked"]] == [first, second]
    assert {g["status"] for g in enterprise.json("grants")} == {"revoked"}
    mine = enterprise.platform.client(enterprise.account)
    with pytest.raises(LedgerError) as refused:  # a signature handed out before is now void
        mine.relay_grants([pending])
    assert refused.value.code in {"invalid_signature", "signature_invalid"}
    assert len(enterprise.json("grants")) == 2


# -- own data, access log --------------------------------------------------------------------


def test_my_data_shows_everything_unmasked_by_category(enterprise: Enterprise) -> None:
    everything = enterprise.json("my-data")
    registration = next(r for r in everything["records"] if r["category"] == "registration")
    assert registration["fields"]["legal_representative"] == "李四光"
    assert registration["fields"]["contact_phone"] == "13900139000"
    only_tax = enterprise.json("my-data", "--category", "tax")
    assert {r["category"] for r in only_tax["records"]} == {"tax"}
    table = enterprise("my-data")
    assert "registration (1 record)" in table.stdout and "tax (2 records)" in table.stdout
    assert_one_line_error(enterprise("my-data", "--category", "weather"), 2, "unknown category")


def test_access_log_checks_each_proof_locally_and_flags_tampering(
    enterprise: Enterprise,
) -> None:
    platform = enterprise.platform
    grant_id = enterprise.grant()
    enterprise.bank_reads(grant_id)
    before = enterprise.json("access-log")
    assert before and {e["proof"] for e in before} == {"not yet anchored"}
    assert platform.client(platform.operator).anchor_access_log() is not None
    after = enterprise.json("access-log", "--chain-url", CHAIN_URL)
    reads = [e for e in after if e["actor"] == platform.bank.address]
    assert reads[0]["grant_id"] == grant_id and reads[0]["category"] == "tax"
    assert reads[0]["purpose"] == "loan_application"
    assert {e["proof"] for e in after} == {"verified"}
    assert all("on chain" in e["proof_detail"] for e in after)
    reported = enterprise.json("access-log")
    assert all("reported by the platform" in e["proof_detail"] for e in reported)

    with platform.ctx.engine.begin() as conn:  # the platform rewrites history
        conn.execute(update(ANCHORS).values(root=b"\x99" * 32))
    platform.ctx.anchoring._trees.clear()
    tampered = enterprise("access-log")
    assert "INVALID" in tampered.stdout
    assert_one_line_error(tampered, 1, "failed verification")


# -- disputes, commitments -------------------------------------------------------------------


def test_object_and_repair_are_signed_relayed_and_listed(enterprise: Enterprise) -> None:
    tax = enterprise.json("my-data", "--category", "tax")["records"]
    objection = enterprise.json(
        "object", tax[0]["record_uid"], "--reason", "这笔欠税已于上月缴清", "--yes"
    )
    assert objection["kind"] == "objection" and objection["status"] == "open"
    again = enterprise("object", tax[0]["record_uid"], "--reason", "再次异议", "--yes")
    assert_one_line_error(again, 1, "DisputeAlreadyOpen")  # one open dispute per record
    repair = enterprise.json("repair", tax[1]["record_uid"], "--reason", "已整改", "--yes")
    assert repair["kind"] == "credit_repair"
    listed = enterprise.json("disputes")
    assert [(d["dispute_id"], d["kind"]) for d in listed] == [
        (objection["dispute_id"], "objection"),
        (repair["dispute_id"], "credit_repair"),
    ]
    assert "open" in enterprise("disputes").stdout
    flagged = enterprise.json("my-data", "--category", "tax")["records"]
    assert {r["record_uid"]: r["disputed"] for r in flagged}[tax[0]["record_uid"]] is True
    bad = enterprise("object", "0x" + "ab" * 32, "--reason", "x", "--yes")
    assert_one_line_error(bad, 1)
    assert_one_line_error(
        enterprise("object", "0x12", "--reason", "x", "--yes"), 2, "64 hex digits"
    )


def test_commit_signs_a_credit_commitment_and_commitments_lists_it(
    enterprise: Enterprise, tmp_path: Path
) -> None:
    made = enterprise.json("commit", "--text", "本企业承诺按期足额偿还融资款项。", "--yes")
    assert made["status"] == "anchored"
    text_file = tmp_path / "commitment.txt"
    text_file.write_text("We volunteer our utility bills.", encoding="utf-8")
    assert enterprise.json("commit", "--file", str(text_file), "--yes")["id"] == made["id"] + 1
    listed = enterprise.json("commitments")
    assert [c["text"] for c in listed] == [
        "本企业承诺按期足额偿还融资款项。",
        "We volunteer our utility bills.",
    ]
    assert_one_line_error(enterprise("commit", "--yes"), 2, "--text or --file")


# -- failures that must stay one line --------------------------------------------------------


def test_wrong_password_and_missing_keystore_are_one_line_errors(
    wallet: Wallet, password_file: Path
) -> None:
    wallet(["new", "--password-file", str(password_file)])
    wrong = wallet.secret_file("wrong.txt", OTHER_PASSWORD)
    for verb in (["grants"], ["my-data"], ["access-log"], ["revoke", "1", "--yes"]):
        assert_one_line_error(wallet([*verb, "--password-file", str(wrong)]), 1, "wrong password")
        assert_one_line_error(wallet([*verb, "--name", "nobody"]), 1, "nobody")


def test_unreachable_platform_is_one_line_error(wallet: Wallet, password_file: Path) -> None:
    wallet(["new", "--password-file", str(password_file)])
    result = wallet(
        ["grants", "--password-file", str(password_file)], CCL_WALLET_API_URL="http://127.0.0.1:9"
    )
    assert_one_line_error(result, 1, "platform unreachable at http://127.0.0.1:9")
    debug = wallet(
        ["--debug", "grants", "--password-file", str(password_file)],
        CCL_WALLET_API_URL="http://127.0.0.1:9",
    )
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            503,
            {"code": "replica_lagging", "detail": "replica 9 blocks behind"},
            "the platform is behind the chain",
        ),
        (502, {"code": "chain_error", "detail": "node down"}, "node down"),
        (200, None, "unexpected response from the platform"),
    ],
)
def test_platform_problems_are_one_line_errors(
    wallet: Wallet,
    password_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: dict[str, str] | None,
    message: str,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, text="<html>not an API</html>")
        return httpx.Response(
            status, json=body, headers={"content-type": "application/problem+json"}
        )

    monkeypatch.setattr(
        "wallet_cli.platform.CLIENT_FACTORY",
        lambda url, account: LedgerClient(url, account, transport=httpx.MockTransport(answer)),
    )
    wallet(["new", "--password-file", str(password_file)])
    assert_one_line_error(wallet(["grants", "--password-file", str(password_file)]), 1, message)
