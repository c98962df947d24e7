"""Options anywhere: a command's own options written before the command are moved after it.

Click only accepts ``ccl-wallet my-data -n acme``; people also type ``ccl-wallet -n acme
my-data``. The global options are declared on every command as well (``wallet_cli.globals``),
so this module only has to handle the other direction. It rewrites the words before the command
when each of them is a global option or an option of that command (with its value); anything
else is left for click to report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


def _arity(params: Iterable[Any]) -> dict[str, bool]:
    """Option word -> whether it takes a value (click parameters, duck-typed: typer vendors
    its own copy of click)."""
    found: dict[str, bool] = {}
    for param in params:
        if getattr(param, "param_type_name", None) == "option":
            takes_value = not (param.is_flag or param.count)
            for word in [*param.opts, *param.secondary_opts]:
                found[word] = takes_value
    return found


def _option_word(token: str) -> tuple[str, bool]:
    """``--name=acme`` -> (``--name``, value attached); ``--name`` -> (``--name``, no value)."""
    if token.startswith("--") and "=" in token:
        return token.split("=", 1)[0], True
    return token, False


def _split_before(
    head: Sequence[str], root: Mapping[str, bool], command: Mapping[str, bool]
) -> tuple[list[str], list[str]] | None:
    """The words before the command as (global options, the command's options), or None."""
    front: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(head):
        word, attached = _option_word(head[i])
        if word in root:
            target, takes_value = front, root[word]
        elif word in command:
            target, takes_value = moved, command[word]
        else:
            return None
        width = 2 if takes_value and not attached else 1
        if i + width > len(head):
            return None
        target.extend(head[i : i + width])
        i += width
    return front, moved


def reorder_arguments(
    argv: Sequence[str],
    root_params: Iterable[Any],
    commands: Mapping[str, Any],
    load_command: Callable[[str], Any],
) -> list[str]:
    """``argv`` with the command's own options moved from before the command to after it."""
    args = list(argv)
    head = args[: args.index("--")] if "--" in args else args
    root = _arity(root_params)
    for position, word in enumerate(head):
        if word not in commands:
            continue
        if _split_before(head[:position], root, {}) is not None:
            return args  # already in click's order: nothing to load or move
        split = _split_before(head[:position], root, _arity(load_command(word).params))
        if split is not None:
            front, moved = split
            return [*front, word, *moved, *args[position + 1 :]]
    return args
