"""One line in plain words for each access level and purpose a grant names.

Shown in ``ccl-wallet grant --help`` and in the summary before a grant is signed, so that an
enterprise knows what it allows without reading the contract. Plain strings (no ledger imports):
the help of a command must stay cheap to build.
"""

from __future__ import annotations

LEVELS: dict[str, str] = {
    "verify": "yes/no answers and scores computed from your records; never the records",
    "query": "your records, with sensitive fields (ids, phone numbers, amounts) masked",
    "detail": "your records in full, sensitive fields unmasked",
}

PURPOSES: dict[str, str] = {
    "loan_application": "deciding on a loan you applied for (贷前审查)",
    "post_loan_monitoring": "watching a loan already granted to you (贷后管理)",
    "guarantee": "deciding whether to guarantee your debts (担保)",
    "insurance_underwriting": "underwriting an insurance policy for you (承保)",
    "credit_rating": "producing a credit rating of your enterprise (信用评级)",
    "supply_chain_finance": "financing you against your trade: orders, receivables (供应链金融)",
}


def explained(name: str, meanings: dict[str, str]) -> str:
    """``query — your records, with ...`` (the name alone when it has no explanation)."""
    meaning = meanings.get(name)
    return f"{name} — {meaning}" if meaning else name


def help_lines(meanings: dict[str, str]) -> str:
    """The meanings as help text, one per line (typer keeps paragraphs as lines)."""
    return "\n\n".join(f"  {name}: {meaning}." for name, meaning in meanings.items())


GRANT_EPILOG = (
    "Purposes (--purpose), what the institution may use your data for:\n\n"
    + help_lines(PURPOSES)
    + "\n\nAccess levels (--level), how much it may see:\n\n"
    + help_lines(LEVELS)
)


# Why an access was denied, by the code the access log records (GrantCheck codes and the
# refusals the API logs); an unknown code is shown as it is.
REFUSALS: dict[str, str] = {
    "unknown_grant": "no such grant",
    "revoked": "you revoked the grant",
    "unknown_institution": "the reader is not a registered institution",
    "wrong_institution": "the grant was issued to another institution",
    "institution_suspended": "the institution is suspended",
    "not_yet_valid": "the grant was not valid yet",
    "expired": "the grant had expired",
    "category_not_granted": "the grant does not cover this category",
    "purpose_mismatch": "the grant is for another purpose",
    "level_too_low": "the grant's access level is too low for this request",
    "no_agreement": "the institution has no data-sharing agreement",
    "agreement_not_active": "the institution's agreement was not active",
    "category_not_in_agreement": "the institution's agreement does not cover this category",
    "purpose_not_in_agreement": "the institution's agreement does not allow this purpose",
    "usage_cap_reached": "the grant's usage cap was reached",
    "nonce_replayed": "a replayed request",
    "wrong_subject": "the grant is for another enterprise",
    "rate_limited": "too many requests",
}


def reason_in_words(decision: str, code: str) -> str | None:
    """Why an access-log entry was denied, in words with its code; None when it was allowed."""
    if decision != "denied":
        return None
    meaning = REFUSALS.get(code)
    return f"{meaning} ({code})" if meaning else code
