"""Receipts the platform signs for others to keep: ISO/IEC TS 27560-shaped consent records."""
