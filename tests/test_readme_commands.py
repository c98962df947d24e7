"""Every command line the README shows names a real command of `ccl`, `ccl-indexer`,
`ccl-wallet` or `ccl-bank`, and every option it gives exists on that command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import typer

from indexer.cli import app as indexer_app
from ledger_api.cli import app as ccl_app
from wallet_cli.bank.main import app as bank_app
from wallet_cli.main import app as wallet_app

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAMS = {
    "ccl": ccl_app,
    "ccl-indexer": indexer_app,
    "ccl-wallet": wallet_app,
    "ccl-bank": bank_app,
}


def readme_command_lines() -> list[str]:
    """Each command the README's shell blocks run; alternatives (`ccl admin a | b`) are kept
    as one line and split by the test."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    commands = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.split("  #", 1)[0].strip().removesuffix("&").strip()
            if line.split(" ", 1)[0] in PROGRAMS:
                commands.append(line)
    return commands


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")  # typer vendors its own click: no isinstance


def _resolve(program: str, words: list[str]) -> tuple[Any, list[str]]:
    """The command ``words`` name under ``program``, and the words left for it."""
    command: Any = typer.main.get_command(PROGRAMS[program])
    while True:
        if hasattr(command, "_load"):  # the wallet's commands are imported when first used
            command = command._load()  # (a verb with sub-verbs is a group once loaded)
        if not (_is_group(command) and words and not words[0].startswith("-")):
            return command, words
        sub = command.get_command(click.Context(command), words[0])
        if sub is None:
            return command, words
        command, words = sub, words[1:]


def _alternatives(line: str) -> list[list[str]]:
    """``ccl admin a --x | b`` -> [[ccl, admin, a, --x], [ccl, admin, b]]: an alternative is
    a sibling of the first one's command when there is one, else a command of the tool."""

    def words_of(text: str) -> list[str]:
        return [w for w in shlex.split(re.sub(r"\[([^\]]*)\]", r"\1", text)) if w != "..."]

    first, *others = line.split(" | ")
    head = words_of(first)
    program = head[0]
    _command, rest = _resolve(program, head[1:])
    path = head[1 : len(head) - len(rest)]
    found = [head]
    for other in others:
        words = words_of(other)
        sibling = [program, *path[:-1], *words]
        nested, _ = _resolve(program, sibling[1:])
        found.append(sibling if not _is_group(nested) else [program, *words])
    return found


COMMANDS = readme_command_lines()


def test_the_readme_shows_commands_of_every_tool() -> None:
    assert {line.split(" ", 1)[0] for line in COMMANDS} == set(PROGRAMS)


@pytest.mark.parametrize("line", COMMANDS)
def test_a_readme_command_line_names_a_real_command_and_real_options(line: str) -> None:
    for words in _alternatives(line):
        program = words[0]
        command, rest = _resolve(program, words[1:])
        assert not _is_group(command), f"{line!r}: no such command ({rest[:1]})"
        known = {o for param in command.params for o in (*param.opts, *param.secondary_opts)}
        given = [w.split("=", 1)[0] for w in rest if w.startswith("-")]
        unknown = [option for option in given if option not in known]
        assert not unknown, f"{line!r}: {program} {command.name} has no {unknown}"
