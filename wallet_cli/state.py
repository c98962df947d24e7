"""Small per-account facts the wallet remembers between commands (HOME/state/ADDRESS.json).

Nothing secret lives here: registration ids and the masked USCC the platform echoed back.
Files are 0600 in a 0700 directory, written atomically like the keystores.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from wallet_cli.config import current_config

STATE_SUBDIR = "state"


def state_path(address: str) -> Path:
    return current_config().home / STATE_SUBDIR / f"{address.lower()}.json"


def load_state(address: str) -> dict[str, Any]:
    path = state_path(address)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged state file only loses conveniences, never keys
    return data if isinstance(data, dict) else {}


def save_state(address: str, data: dict[str, Any]) -> Path:
    path = state_path(address)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remember_registration(address: str, registration_id: int, uscc_masked: str) -> None:
    data = load_state(address)
    known = [r for r in data.get("registrations", []) if isinstance(r, dict)]
    known = [r for r in known if r.get("id") != registration_id]
    known.append({"id": registration_id, "uscc_masked": uscc_masked})
    data["registrations"] = known
    data["last_registration_id"] = registration_id
    save_state(address, data)


def last_registration_id(address: str) -> int | None:
    value = load_state(address).get("last_registration_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def remember_grants(address: str, grants: dict[int, dict[str, Any]]) -> None:
    """Keep the terms of grants seen (issued or listed), to show them before a revocation is
    signed: the platform only tells them to a signed-in account, i.e. after the password."""
    data = load_state(address)
    known = data.get("grants") if isinstance(data.get("grants"), dict) else {}
    assert isinstance(known, dict)
    known.update({str(grant_id): terms for grant_id, terms in grants.items()})
    data["grants"] = known
    save_state(address, data)


def known_grants(address: str) -> dict[int, dict[str, Any]]:
    known = load_state(address).get("grants")
    if not isinstance(known, dict):
        return {}
    return {int(k): v for k, v in known.items() if k.isdigit() and isinstance(v, dict)}


def remember_disputes(address: str, disputes: dict[int, str]) -> None:
    """Dispute id -> the record id the user gave (the chain keeps only the record's leaf)."""
    data = load_state(address)
    known = data.get("disputes") if isinstance(data.get("disputes"), dict) else {}
    assert isinstance(known, dict)
    known.update({str(k): v for k, v in disputes.items()})
    data["disputes"] = known
    save_state(address, data)


def known_disputes(address: str) -> dict[int, str]:
    known = load_state(address).get("disputes")
    if not isinstance(known, dict):
        return {}
    return {int(k): v for k, v in known.items() if k.isdigit() and isinstance(v, str)}
