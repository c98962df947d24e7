"""The ``ccl-wallet`` application: global options, command registry, error handling.

Every invocation, from the console script or from a test's CliRunner, goes through
``WalletGroup.main``, which puts options where click expects them (``wallet_cli.arguments``)
and turns any exception into one ``error: ...`` line on stderr and an exit code (see
``wallet_cli.output``).

Commands are loaded lazily: ``ccl-wallet --help`` lists them from ``COMMANDS`` without importing
their modules (eth-account, pydantic, the platform client), and running one imports only its
own module. To add a verb, write the function in a module and add a line to ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from wallet_cli.arguments import reorder_arguments
from wallet_cli.config import API_URL_ENV, DEFAULT_API_URL, HOME_ENV, load_config, using_config
from wallet_cli.globals import global_options_for_commands
from wallet_cli.output import run_guarded

PROG_NAME = "ccl-wallet"

# name -> (module, function, one-line help shown by ``ccl-wallet --help``). The one-line help is
# the first line of the function's docstring (tests/wallet/test_wallet_cli_style.py checks it).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "new": ("wallet_cli.keys", "new", "Create a new account: a fresh random key in an encrypted keystore."),
    "import": ("wallet_cli.keys", "import_", "Import an existing key (hidden prompt or --private-key-file) or v3 keystore file."),
    "list": ("wallet_cli.keys", "list_", "List the accounts in the keystore directory (no password needed)."),
    "address": ("wallet_cli.keys", "address", "Print an account's address (no password needed)."),
    "change-password": ("wallet_cli.keys", "change_password", "Re-encrypt an account's keystore under a new password (atomically)."),
    "remove": ("wallet_cli.keys", "remove", "Delete an account's keystore (asks its password first, then for confirmation)."),
    "sign-message": ("wallet_cli.keys", "sign_message", "Sign a text with EIP-191 personal_sign, to prove control of the account."),
    "register": ("wallet_cli.registration", "register_enterprise", "Bind this account to an enterprise: request, sign and submit a registration."),
    "registration-status": ("wallet_cli.registration", "registration_status", "Show the status of a registration (awaiting_signature, pending_approval, approved...)."),
    "grant": ("wallet_cli.grants", "grant", "Authorize an institution to read some of your categories, for a purpose and a time."),
    "grants": ("wallet_cli.grants", "grants", "List your grants with their live status (usable, revoked, expired, ...)."),
    "revoke": ("wallet_cli.grants", "revoke", "Revoke a grant (final: the institution can no longer use it)."),
    "revoke-all": ("wallet_cli.grants", "revoke_all", "Invalidate every signature you gave out (nonce increase), then revoke every grant."),
    "my-data": ("wallet_cli.mydata", "my_data", "Everything the platform holds about your enterprise, unmasked, by category."),
    "access-log": ("wallet_cli.mydata", "access_log", "Who read your data, when, under which grant; each entry's proof checked locally."),
    "object": ("wallet_cli.disputes", "object_", "Raise an objection (异议) to one of your records."),
    "repair": ("wallet_cli.disputes", "repair", "Apply for credit repair (信用修复) of one of your records."),
    "disputes": ("wallet_cli.disputes", "disputes", "Your objections and credit-repair requests, with their status."),
    "commit": ("wallet_cli.disputes", "commit", "Sign a credit commitment (信用承诺); the platform stores and anchors it."),
    "commitments": ("wallet_cli.disputes", "commitments", "Your credit commitments and their anchoring status."),
}  # fmt: skip


class LazyCommand(TyperCommand):
    """A registry entry: its name and one-line help for listings; the real command on use."""

    def __init__(self, name: str, short_help: str, load: Callable[[], Any]) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self._load = load

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> typer.Context:
        context: typer.Context = self._load().make_context(info_name, args, parent=parent, **extra)
        return context


class WalletGroup(TyperGroup):
    """Lazy commands; runs in non-standalone mode and reports errors our way (one line)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        return LazyCommand(cmd_name, COMMANDS[cmd_name][2], lambda: self.load_command(cmd_name))

    def load_command(self, name: str) -> Any:
        """Import the command's module and build its click command (with the global options)."""
        loaded: dict[str, Any] = self.__dict__.setdefault("_loaded", {})
        if name not in loaded:
            module_name, function_name, _ = COMMANDS[name]
            function = getattr(importlib.import_module(module_name), function_name)
            command = typer.main.get_command_from_info(
                typer.models.CommandInfo(name=name, callback=function),
                pretty_exceptions_short=True,
                rich_markup_mode=self.rich_markup_mode,
            )
            command.params.extend(global_options_for_commands())
            loaded[name] = command
        return loaded[name]

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in _options_part(argv)
        parent_main = super().main

        def run() -> object:
            ordered = reorder_arguments(argv, self.params, COMMANDS, self.load_command)
            return parent_main(
                ordered, prog_name or PROG_NAME, complete_var, standalone_mode=False, **extra
            )

        code = run_guarded(run, debug=debug)
        if standalone_mode:
            sys.exit(code)
        return code


def _options_part(argv: list[str]) -> list[str]:
    return argv[: argv.index("--")] if "--" in argv else argv


app = typer.Typer(
    cls=WalletGroup,
    name=PROG_NAME,
    help="Enterprise wallet of the Credit Consent Ledger: keystores and signed requests.\n\n"
    "Global options (--home, --api-url, --json, --debug) may come before or after the "
    "command; so may a command's own options (ccl-wallet -n acme my-data).",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def global_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help=f"Wallet directory (keystores in HOME/keystores). Env {HOME_ENV}; "
            "default ~/.ccl-wallet.",
            file_okay=False,
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", help=f"Platform API URL. Env {API_URL_ENV}; default {DEFAULT_API_URL}."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print results as JSON (machine-readable).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    config = load_config(home=home, api_url=api_url, json_output=json_output, debug=debug)
    ctx.obj = config
    ctx.with_resource(using_config(config))
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point (``ccl-wallet``)."""
    typer.main.get_command(app).main(prog_name=PROG_NAME)


if __name__ == "__main__":
    main()
