"""Envelope encryption at rest: AES-256-GCM, one data key per subject, wrapped by a master key."""

from ledger_api.crypto.envelope import (
    KEY_BYTES,
    NONCE_BYTES,
    open_record,
    open_uscc,
    record_associated_data,
    seal_record,
    seal_uscc,
    unwrap_data_key,
    wrap_data_key,
)
from ledger_api.crypto.keys import MasterKey, SubjectKeyring, rotate_master_key, shred_subject

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "MasterKey",
    "SubjectKeyring",
    "open_record",
    "open_uscc",
    "record_associated_data",
    "rotate_master_key",
    "seal_record",
    "seal_uscc",
    "shred_subject",
    "unwrap_data_key",
    "wrap_data_key",
]
