"""Who a batch comes from: a registered provider, named by address or by the provider directory.

``ccl ingest -p`` used to take any text, and the text went into the batch's content hash, so
the same file ingested as ``-p a`` and ``-p b`` was stored twice. The provider is now always
the checksummed address of an account holding PROVIDER_ROLE on the ledger (what the API's
``POST /v1/provider/batches`` records too), so the same records from the same provider are
stored once however it was named. Names come from the provider directory, a JSON object
``{"name": "0xaddress"}`` in ``providers.json`` under the data directory (docs/operators.md).

The platform's key anchors every batch ingested by ``ccl`` on the provider's behalf, so it
needs PROVIDER_ROLE too; both are checked before anything is stored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol

from ledger_api.errors import ChainError, InputError
from ledger_api.settings import Settings

DIRECTORY_FILE = "providers.json"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class RoleReader(Protocol):
    def has_role(self, role: str, account: str) -> bool: ...


def directory_path(settings: Settings) -> Path:
    return settings.data_dir / DIRECTORY_FILE


def load_directory(path: Path) -> dict[str, str]:
    """The provider directory (name -> address); empty when the file does not exist."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the provider directory {path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _ADDRESS.match(v) for k, v in data.items()
    ):
        raise InputError(
            f"the provider directory {path} must be a JSON object of names to 0x addresses"
        )
    return data


def resolve_provider(settings: Settings, given: str) -> str:
    """The checksummed address ``given`` names: itself if an address, else a directory entry."""
    from web3 import Web3

    text = given.strip()
    if _ADDRESS.match(text):
        return str(Web3.to_checksum_address(text))
    path = directory_path(settings)
    address = load_directory(path).get(text)
    if address is None:
        raise InputError(
            f"unknown provider {given!r}: give the provider's address, or a name listed in "
            f"{path} (see docs/operators.md)",
            code="unknown_provider",
        )
    return str(Web3.to_checksum_address(address))


def check_provider_roles(ledger: RoleReader, provider: str, anchoring_key: str) -> None:
    """Refuse before storing: the provider must be registered, the anchoring key able to
    anchor its batches."""
    if not ledger.has_role("PROVIDER_ROLE", provider):
        raise InputError(
            f"{provider} is not a registered provider (it lacks PROVIDER_ROLE on the ledger): "
            f"the operator registers it with `ccl admin grant-role provider {provider}`",
            code="not_a_provider",
        )
    if not ledger.has_role("PROVIDER_ROLE", anchoring_key):
        raise ChainError(
            f"the anchoring key {anchoring_key} lacks PROVIDER_ROLE, so no batch it stored "
            "could be anchored; an operator grants it with `ccl admin grant-role provider "
            f"{anchoring_key}`",
            code="missing_role",
        )
