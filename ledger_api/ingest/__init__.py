"""Row validation and the crash-safe ingestion pipeline."""

from ledger_api.ingest.parse import detect_format, parse_rows
from ledger_api.ingest.pipeline import (
    FAULT_STEPS,
    Ingestor,
    IngestResult,
    ingest_batch,
    resume_pending,
)
from ledger_api.ingest.validate import RowError, RowValidator

__all__ = [
    "FAULT_STEPS",
    "IngestResult",
    "Ingestor",
    "RowError",
    "RowValidator",
    "detect_format",
    "ingest_batch",
    "parse_rows",
    "resume_pending",
]
