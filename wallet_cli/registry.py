"""Every ``ccl-wallet`` command: where its code lives and its one-line help.

``ccl-wallet --help`` lists the commands from here without importing their modules (they pull
in eth-account, pydantic and the platform client); running one imports only its own module. The
one-line help is the first line of the function's docstring (a test checks that they agree).
"""

from __future__ import annotations

from typing import NamedTuple

from wallet_cli.meanings import GRANT_EPILOG


class CommandEntry(NamedTuple):
    module: str
    function: str
    summary: str
    epilog: str | None = None  # shown after the options in the command's --help


COMMANDS: dict[str, CommandEntry] = {
    "new": CommandEntry(
        "wallet_cli.keys",
        "new",
        "Create a new account: a fresh random key in an encrypted keystore.",
    ),
    "import": CommandEntry(
        "wallet_cli.keys",
        "import_",
        "Import an existing key (hidden prompt or --private-key-file) or v3 keystore file.",
    ),
    "list": CommandEntry(
        "wallet_cli.keys",
        "list_",
        "List the accounts in the keystore directory (no password needed).",
    ),
    "address": CommandEntry(
        "wallet_cli.keys",
        "address",
        "Print an account's address (no password needed).",
    ),
    "change-password": CommandEntry(
        "wallet_cli.keys",
        "change_password",
        "Re-encrypt an account's keystore under a new password (atomically).",
    ),
    "remove": CommandEntry(
        "wallet_cli.keys",
        "remove",
        "Delete an account's keystore (asks its password first, then for confirmation).",
    ),
    "sign-message": CommandEntry(
        "wallet_cli.keys",
        "sign_message",
        "Sign a text with EIP-191 personal_sign, to prove control of the account.",
    ),
    "register": CommandEntry(
        "wallet_cli.registration",
        "register_enterprise",
        "Bind this account to an enterprise: request, sign and submit a registration.",
    ),
    "registration-status": CommandEntry(
        "wallet_cli.registration",
        "registration_status",
        "Show the status of a registration (awaiting_signature, pending_approval, approved...).",
    ),
    "grant": CommandEntry(
        "wallet_cli.grants",
        "grant",
        "Authorize an institution to read some of your categories, for a purpose and a time.",
        GRANT_EPILOG,
    ),
    "grants": CommandEntry(
        "wallet_cli.grants",
        "grants",
        "List your grants with their live status (usable, revoked, expired, ...).",
    ),
    "revoke": CommandEntry(
        "wallet_cli.grants",
        "revoke",
        "Revoke a grant (final: the institution can no longer use it).",
    ),
    "revoke-all": CommandEntry(
        "wallet_cli.grants",
        "revoke_all",
        "Invalidate every signature you gave out (nonce increase), then revoke every grant.",
    ),
    "my-data": CommandEntry(
        "wallet_cli.mydata",
        "my_data",
        "Everything the platform holds about your enterprise, unmasked, by category.",
    ),
    "access-log": CommandEntry(
        "wallet_cli.mydata",
        "access_log",
        "Who read your data, when, under which grant; each entry's proof checked locally.",
    ),
    "object": CommandEntry(
        "wallet_cli.disputes",
        "object_",
        "Raise an objection (异议) to one of your records.",
    ),
    "repair": CommandEntry(
        "wallet_cli.disputes",
        "repair",
        "Apply for credit repair (信用修复) of one of your records.",
    ),
    "disputes": CommandEntry(
        "wallet_cli.disputes",
        "disputes",
        "Your objections and credit-repair requests, with their status.",
    ),
    "commit": CommandEntry(
        "wallet_cli.disputes",
        "commit",
        "Sign a credit commitment (信用承诺); the platform stores and anchors it.",
    ),
    "commitments": CommandEntry(
        "wallet_cli.disputes",
        "commitments",
        "Your credit commitments and their anchoring status.",
    ),
    "receivable": CommandEntry(
        "wallet_cli.receivables",
        "app",
        "Supply-chain receivables: register, register-payable, confirm, split, transfer, finance, "
        "settle, list.",
    ),
    "products": CommandEntry(
        "wallet_cli.financing",
        "products",
        "Loan products open now, with their bank, ranges and the categories they read.",
    ),
    "apply": CommandEntry(
        "wallet_cli.financing",
        "apply",
        "Apply for a loan product; one confirmation signs the application and its grant.",
    ),
    "applications": CommandEntry(
        "wallet_cli.financing",
        "applications",
        "Your loan applications and where each stands (submitted, approved, declined...).",
    ),
    "withdraw-application": CommandEntry(
        "wallet_cli.financing",
        "withdraw_application",
        "Withdraw a loan application the bank has not decided yet.",
    ),
    "loan": CommandEntry(
        "wallet_cli.financing",
        "loan",
        "A loan you obtained: its terms (kept sealed at the platform) and status.",
    ),
    "whitelist-apply": CommandEntry(
        "wallet_cli.financing",
        "whitelist_apply",
        "Apply to your region's financing white list with evidence for the five criteria.",
    ),
    "whitelist": CommandEntry(
        "wallet_cli.financing",
        "whitelist",
        "Your white-list entries: state, reason, and each bank's answer.",
    ),
    "whitelist-push": CommandEntry(
        "wallet_cli.financing",
        "whitelist_push",
        "Push your recommended entry to banks holding your loan_application grant.",
    ),
    "self-report": CommandEntry(
        "wallet_cli.financing",
        "self_report",
        "Add information about your enterprise, signed with a credit commitment that it is true.",
    ),
    "self-reports": CommandEntry(
        "wallet_cli.financing",
        "self_reports",
        "Your self-reported information and whether each is active or withdrawn.",
    ),
    "withdraw-self-report": CommandEntry(
        "wallet_cli.financing",
        "withdraw_self_report",
        "Withdraw self-reported information (the withdrawal is recorded; the anchor stays).",
    ),
}
