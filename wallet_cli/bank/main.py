"""The ``ccl-bank`` application: the wallet's application with the bank's commands.

Same conventions as ``ccl-wallet`` (hidden prompts, ``--password-file``, ``--json``, one-line
errors, plain help); its own home (``CCL_BANK_HOME``, default ~/.ccl-bank), platform URL
(``CCL_BANK_API_URL``) and password variable (``CCL_BANK_PASSWORD``), so a bank's keys never
mix with an enterprise wallet's on the same machine.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli.bank.registry import COMMANDS
from wallet_cli.config import load_config, using_config
from wallet_cli.main import WalletGroup
from wallet_cli.registry import CommandEntry

PROG_NAME = "ccl-bank"
HOME_ENV = "CCL_BANK_HOME"
API_URL_ENV = "CCL_BANK_API_URL"
PASSWORD_ENV = "CCL_BANK_PASSWORD"
DEFAULT_HOME = Path("~/.ccl-bank")


def _bank_words(text: str | None) -> str | None:
    """Help written for the wallet, with the bank's variable and program names."""
    if text is None:
        return None
    return (
        text.replace("CCL_WALLET_", "CCL_BANK_")
        .replace("ccl-wallet", PROG_NAME)
        .replace("Wallet directory", "Bank directory")
    )


class BankGroup(WalletGroup):
    commands_registry = COMMANDS
    program_name = PROG_NAME

    def build_command(self, name: str, entry: CommandEntry) -> Any:
        command = super().build_command(name, entry)
        for param in command.params:
            if getattr(param, "help", None):
                param.help = _bank_words(param.help)
        return command


app = typer.Typer(
    cls=BankGroup,
    name=PROG_NAME,
    help="Institution CLI of the Credit Consent Ledger: accept agreements, check grants, "
    "read under them, and verify the access receipts.\n\n"
    "Global options (--home, --api-url, --json, --debug) may come before or after the command.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def global_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help=f"Bank directory (keystores in HOME/keystores). Env {HOME_ENV}; "
            "default ~/.ccl-bank.",
            file_okay=False,
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help=f"Platform API URL. Env {API_URL_ENV}."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print results as JSON (machine-readable).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    # The wallet's resolution (option, variable, default) over the bank's variables only.
    environ = {
        "CCL_WALLET_HOME": os.environ.get(HOME_ENV) or str(DEFAULT_HOME),
        "CCL_WALLET_API_URL": os.environ.get(API_URL_ENV, ""),
    }
    config = load_config(
        home=home, api_url=api_url, json_output=json_output, debug=debug, environ=environ
    )
    config = dataclasses.replace(
        config, password_env=PASSWORD_ENV, new_password_env="CCL_BANK_NEW_PASSWORD"
    )
    ctx.obj = config
    ctx.with_resource(using_config(config))
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point (``ccl-bank``)."""
    typer.main.get_command(app).main(prog_name=PROG_NAME)


if __name__ == "__main__":
    main()
