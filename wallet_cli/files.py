"""Files the CLIs write for the user (answers, exports, receipts): whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ledger_api.errors import InputError


def write_json_file(path: Path, document: Any) -> None:
    write_text_file(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def write_text_file(path: Path, text: str) -> None:
    """Written whole or not at all (temporary file in the same directory, then renamed)."""
    directory = path.absolute().parent
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=directory, delete=False, suffix=".tmp"
        ) as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
