"""Refuse to start with a master key that no longer opens the database's data keys.

After ``ccl keys rotate-master`` every data key is wrapped under the new key; a stack started
with the old one would come up and then fail on the first read an enterprise makes. One row
under the configured key id, unwrapped once, settles it before anything starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from sqlalchemy import Engine, inspect, select

from ledger_api.crypto.envelope import unwrap_data_key
from ledger_api.crypto.keys import MasterKey
from ledger_api.errors import CryptoError, InputError
from ledger_api.store.models import SUBJECTS

_SET_IT = "set CCL_MASTER_KEY and CCL_MASTER_KEY_ID to the key of the last `ccl keys rotate-master`"


def check_master_key(engine: Engine, master: MasterKey) -> None:
    """Raise ``CryptoError`` (code ``wrong_master_key``) unless ``master`` opens the data keys."""
    if not inspect(engine).has_table(SUBJECTS.name):  # a database not set up yet holds no keys
        return
    live = SUBJECTS.c.wrapped_key.is_not(None)
    key_id = SUBJECTS.c.key_id
    with engine.connect() as conn:
        # Below the configured id, then above it: each read from the key id's index, where
        # ``<>`` would scan every subject (seconds at ten million, for each worker started).
        other = None
        for side in (key_id < master.key_id, key_id > master.key_id):
            other = conn.execute(select(key_id).where(live, side).limit(1)).first()
            if other is not None:
                break
        mine = conn.execute(
            select(SUBJECTS.c.subject_id, SUBJECTS.c.wrapped_key)
            .where(live, SUBJECTS.c.key_id == master.key_id)
            .limit(1)
        ).first()
    if other is not None:
        raise CryptoError(
            f"the data keys are wrapped under master key {other.key_id!r}, not "
            f"{master.key_id!r}: {_SET_IT}",
            code="wrong_master_key",
        )
    if mine is not None:
        try:
            unwrap_data_key(master.key, master.key_id, mine.subject_id, mine.wrapped_key)
        except CryptoError:
            raise CryptoError(
                f"CCL_MASTER_KEY is not the master key {master.key_id!r} that wraps the data "
                f"keys: {_SET_IT}",
                code="wrong_master_key",
            ) from None


def read_new_master_key(file: Path | None, env_name: str | None) -> bytes:
    """The new master key from the source the operator named, else asked twice (a key typed
    once with a slip would leave every data key wrapped under a key nobody holds)."""
    if file is not None and env_name is not None:
        raise InputError("give --new-key-file or --new-key-env, not both")
    if file is not None:
        try:
            raw = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read --new-key-file {file}: {exc.strerror}") from None
        where = f"the file {file}"
    elif env_name is not None:
        raw = os.environ.get(env_name, "")
        if not raw:
            raise InputError(f"the environment variable {env_name} (--new-key-env) is not set")
        where = env_name
    elif os.environ.get("CCL_NEW_MASTER_KEY"):
        raw, where = os.environ["CCL_NEW_MASTER_KEY"], "CCL_NEW_MASTER_KEY"
    else:
        raw = typer.prompt("New master key (hex)", hide_input=True, confirmation_prompt=True)
        where = "the prompt"
    try:
        key = bytes.fromhex(raw.strip().removeprefix("0x"))
    except ValueError:
        raise InputError(f"the new master key from {where} must be hex") from None
    if len(key) != 32:
        raise InputError(f"the new master key from {where} must be 32 bytes (64 hex characters)")
    return key
