"""Showing, in words, what the user is about to sign (on stderr: stdout stays the result)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ledger_api.errors import InputError
from wallet_cli.output import confirm, format_value, note


def show_and_confirm(
    title: str, data: Mapping[str, Any], question: str, *, assume_yes: bool
) -> None:
    """Print ``data`` as aligned lines under ``title``, then ask (``--yes`` skips asking)."""
    show_summary(title, data)
    ask_to_sign(question, assume_yes=assume_yes)


def show_summary(title: str, data: Mapping[str, Any]) -> None:
    """``data`` as aligned lines under ``title`` (before any password is asked)."""
    width = max((len(k) for k in data), default=0)
    note(title)
    for key, value in data.items():
        note(f"  {key.replace('_', ' '):<{width}}  {format_value(value)}")


def ask_to_sign(question: str, *, assume_yes: bool) -> None:
    """Ask ``question`` (``--yes`` skips asking).

    Without ``--yes`` and without a terminal to answer on, the command is refused rather than
    signing something nobody has seen.
    """
    if not assume_yes and not sys.stdin.isatty():
        raise InputError(
            "refusing to sign without confirmation: there is no terminal to ask on "
            "(review the terms above and pass --yes)",
            code="confirmation_required",
        )
    confirm(question, assume_yes=assume_yes)
