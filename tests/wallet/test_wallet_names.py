"""The wallet's screens name institutions as registered on chain, without a node of one's own
(the platform's public directory reads the same registry); JSON keeps the addresses."""

from __future__ import annotations

from enterprisekit import Enterprise

BANK_NAME = "中原银行郑州分行"


def test_grants_and_access_log_show_the_institution_name_beside_its_address(
    enterprise: Enterprise,
) -> None:
    grant_id = enterprise.grant()
    enterprise.bank_reads(grant_id)
    bank = enterprise.platform.bank.address

    grants = enterprise("grants")
    assert grants.exit_code == 0, grants.stderr
    assert BANK_NAME in grants.stdout and bank in grants.stdout

    log = enterprise("access-log")
    assert log.exit_code == 0, log.stderr
    assert BANK_NAME in log.stdout

    rows = enterprise.json("grants")
    assert rows[0]["institution"] == bank and rows[0]["institution_name"] == BANK_NAME
    entries = enterprise.json("access-log")
    assert any(e["actor"] == bank and e["who"] == BANK_NAME for e in entries)
