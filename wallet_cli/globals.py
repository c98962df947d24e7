"""The global options (``--home``, ``--api-url``, ``--json``, ``--debug``) on every command too.

``ccl-wallet grants --json`` is how people type; rather than moving such options to the front,
each command declares them as well (so its ``--help`` lists them) and a value given there
overrides the one given before the command for the rest of the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli.config import (
    API_URL_ENV,
    HOME_ENV,
    current_config,
    resolve_api_url,
    resolve_home,
    using_config,
)

PANEL = "Global options"


def _override(field: str, convert: Callable[[Any], Any]) -> Callable[..., None]:
    def callback(ctx: typer.Context, param: Any, value: Any) -> None:
        if value is None or value is False:
            return  # not given here: the value given before the command (or the default) holds
        config = dataclasses.replace(current_config(), **{field: convert(value)})
        ctx.with_resource(using_config(config))

    return callback


def _template(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help=f"Wallet directory (keystores in HOME/keystores). Env {HOME_ENV}.",
            file_okay=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", help=f"Platform API URL. Env {API_URL_ENV}.", rich_help_panel=PANEL
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print results as JSON (machine-readable).", rich_help_panel=PANEL
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error.", rich_help_panel=PANEL)
    ] = False,
) -> None:
    """Only its parameters are used: typer builds the click options from these annotations."""


_CONVERTERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "home": ("home", resolve_home),
    "api_url": ("api_url", resolve_api_url),
    "json_output": ("json_output", bool),
    "debug": ("debug", bool),
}


def global_options_for_commands() -> list[Any]:
    """Fresh click options (one set per command) mirroring the root's global options."""
    command = typer.main.get_command_from_info(
        typer.models.CommandInfo(callback=_template),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    params = [p for p in command.params if p.name in _CONVERTERS]
    for param in params:
        assert param.name is not None
        field, convert = _CONVERTERS[param.name]
        param.expose_value = False
        param.callback = _override(field, convert)
    return params
