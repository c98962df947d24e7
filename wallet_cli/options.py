"""Command options shared by the key verbs and the domain verbs (grant, revoke, ...).

Use them as parameter annotations so that every command spells them the same way::

    def grant(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None,
              yes: AssumeYes = False) -> None:
        account = unlock(name, password_file=password_file)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_ACCOUNT = "default"

AccountName = Annotated[
    str,
    typer.Option("--name", "-n", help="Name of the account (keystore) to use.", show_default=True),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the keystore password from the first line of this file "
        "(else env CCL_WALLET_PASSWORD, else a hidden prompt).",
        dir_okay=False,
    ),
]
AssumeYes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (never skips the password)."),
]
