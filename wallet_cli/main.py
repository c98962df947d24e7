"""The ``ccl-wallet`` application: global options, command registry, error handling.

Every invocation, from the console script or from a test's CliRunner, goes through
``WalletGroup.main``, which puts options where click expects them (``wallet_cli.arguments``)
and turns any exception into one ``error: ...`` line on stderr and an exit code (see
``wallet_cli.output``).

Commands are loaded lazily from ``wallet_cli.registry``: to add a verb, write the function in a
module and add its entry there.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from wallet_cli.arguments import reorder_arguments
from wallet_cli.config import API_URL_ENV, DEFAULT_API_URL, HOME_ENV, load_config, using_config
from wallet_cli.globals import global_options_for_commands
from wallet_cli.output import run_guarded
from wallet_cli.registry import COMMANDS, CommandEntry

PROG_NAME = "ccl-wallet"


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
    """Lazy commands; runs in non-standalone mode and reports errors our way (one line).

    ``ccl-bank`` is the same application with its own registry and program name (subclass).
    """

    commands_registry: Mapping[str, CommandEntry] = COMMANDS
    program_name = PROG_NAME

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands_registry)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands_registry:
            return None
        return LazyCommand(
            cmd_name,
            self.commands_registry[cmd_name].summary,
            lambda: self.load_command(cmd_name),
        )

    def build_command(self, name: str, entry: CommandEntry) -> Any:
        """The click command of a registry entry, with the global options."""
        function = getattr(importlib.import_module(entry.module), entry.function)
        command: Any
        if isinstance(function, typer.Typer):  # a verb with sub-verbs (receivable split)
            command = typer.main.get_group(function)
            for sub in getattr(command, "commands", {}).values():
                sub.params.extend(global_options_for_commands())
        else:
            command = typer.main.get_command_from_info(
                typer.models.CommandInfo(name=name, callback=function, epilog=entry.epilog),
                pretty_exceptions_short=True,
                rich_markup_mode=self.rich_markup_mode,
            )
        command.params.extend(global_options_for_commands())
        return command

    def load_command(self, name: str) -> Any:
        """Import the command's module and build its click command (with the global options)."""
        loaded: dict[str, Any] = self.__dict__.setdefault("_loaded", {})
        if name not in loaded:
            loaded[name] = self.build_command(name, self.commands_registry[name])
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
            ordered = reorder_arguments(
                argv, self.params, self.commands_registry, self.load_command
            )
            return parent_main(
                ordered,
                prog_name or self.program_name,
                complete_var,
                standalone_mode=False,
                **extra,
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
    rich_markup_mode=None,  # plain help, as `ccl` and `ccl-indexer` print it
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
