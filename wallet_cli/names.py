"""Registered names for the addresses a screen shows (the chain's institution registry).

From a node of one's own when the command has one, else from the platform's public directory
(``GET /v1/institutions/{address}``, which reads the same registry). An address that is not a
registered institution (or cannot be looked up now) keeps no name: the screen shows the address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ledger_api.errors import LedgerError

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient


def institution_names(
    client: LedgerClient, addresses: Iterable[str | None], reader: Any = None
) -> dict[str, str]:
    """Address -> registered name, for those of ``addresses`` that are institutions."""
    names: dict[str, str] = {}
    for address in {a for a in addresses if a}:
        try:
            if reader is not None:
                found = reader.institution(address)
                name = None if found is None else found.name
            else:
                name = client.institution(address).name
        except LedgerError:
            name = None
        if name:
            names[address] = name
    return names
