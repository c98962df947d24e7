"""Recompile contracts/ into the committed artifacts. Usage: python scripts/compile_contracts.py"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger_api.chain.build import REPO, write_artifacts

if __name__ == "__main__":
    for path in write_artifacts():
        size = len(path.read_text())
        print(f"wrote {path.relative_to(REPO)} ({size} bytes)")
