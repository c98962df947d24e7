"""The ``ccl-wallet`` application: global options, command registration, error handling.

Every invocation, from the console script or from a test's CliRunner, goes through
``WalletGroup.main``, which turns any exception into one ``error: ...`` line on stderr and an
exit code (see ``wallet_cli.output``). To add domain verbs, write a module with a
``register(app)`` function like ``wallet_cli.keys`` and call it below.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from wallet_cli import disputes, grants, keys, mydata, registration
from wallet_cli.config import API_URL_ENV, DEFAULT_API_URL, HOME_ENV, load_config, using_config
from wallet_cli.output import run_guarded

PROG_NAME = "ccl-wallet"
# Flags accepted anywhere on the command line (``ccl-wallet list --json``), not only first.
_HOISTED_FLAGS = ("--json", "--debug")


class WalletGroup(TyperGroup):
    """Runs the command in non-standalone mode and reports errors our way (one line)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = hoist_global_flags(list(sys.argv[1:] if args is None else args))
        debug = "--debug" in _options_part(argv)
        parent_main = super().main

        def run() -> object:
            return parent_main(
                argv, prog_name or PROG_NAME, complete_var, standalone_mode=False, **extra
            )

        code = run_guarded(run, debug=debug)
        if standalone_mode:
            sys.exit(code)
        return code


def _options_part(argv: list[str]) -> list[str]:
    return argv[: argv.index("--")] if "--" in argv else argv


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Move ``--json`` / ``--debug`` written after the verb to the front (before any ``--``)."""
    head = _options_part(argv)
    flags = [a for a in head if a in _HOISTED_FLAGS]
    rest = [a for a in head if a not in _HOISTED_FLAGS]
    return flags + rest + argv[len(head) :]


app = typer.Typer(
    cls=WalletGroup,
    name=PROG_NAME,
    help="Enterprise wallet of the Credit Consent Ledger: keystores and signed requests.",
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


keys.register(app)
registration.register(app)
grants.register(app)
mydata.register(app)
disputes.register(app)


def main() -> None:
    """Console-script entry point (``ccl-wallet``)."""
    typer.main.get_command(app).main(prog_name=PROG_NAME)


if __name__ == "__main__":
    main()
