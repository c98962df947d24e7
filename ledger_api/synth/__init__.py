"""Deterministic synthetic Henan enterprises and their records, for demos, tests, benchmarks."""

from ledger_api.synth.generator import (
    PREFECTURES,
    Enterprise,
    iter_enterprises,
    iter_records,
    make_uscc,
    write_jsonl,
)

__all__ = [
    "PREFECTURES",
    "Enterprise",
    "iter_enterprises",
    "iter_records",
    "make_uscc",
    "write_jsonl",
]
