"""The rows ingestion passes from validation to sealing, named.

NamedTuples: one is built per row on the hot path (and pickled back from the pool), where
they cost what a plain tuple costs, and each field still reads by name.
"""

from __future__ import annotations

from typing import NamedTuple


class PreparedRow(NamedTuple):
    """A valid row, keyed: what sealing and storing need of it."""

    row: int  # its number in the batch, from 1
    uid: bytes  # record uid: keyed hash of provider, category, record key and content
    subject_id: bytes
    uscc: str
    key_hash: bytes  # keyed hash of the provider's record key
    content: bytes  # keyed hash of the canonical payload
    payload: bytes  # the canonical payload, sealed under the subject's key


class RefusedRow(NamedTuple):
    """A row refused by validation, and why."""

    row: int
    reason: str


Checked = PreparedRow | RefusedRow
