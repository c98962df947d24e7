"""``ccl-bank``: an institution's CLI (keystores, agreements, grants, reads, receipts)."""
