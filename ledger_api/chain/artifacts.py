"""Load the committed contract artifacts (no compiler needed at run time)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@cache
def load_artifact(name: str = "ConsentLedger", directory: Path = ARTIFACTS) -> dict[str, Any]:
    return json.loads((directory / f"{name}.json").read_text())


def ledger_abi() -> list[dict[str, Any]]:
    return load_artifact()["abi"]
