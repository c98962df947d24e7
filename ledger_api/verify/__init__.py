"""Tamper verification: recompute every leaf and root from the database, compare with the chain."""

from ledger_api.verify.verifier import Finding, VerificationReport, verify_database

__all__ = ["Finding", "VerificationReport", "verify_database"]
