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
    """The meanings as help text, one per line (typer keeps the line breaks in rich mode)."""
    return "\n\n".join(f"{name}: {meaning}." for name, meaning in meanings.items())
