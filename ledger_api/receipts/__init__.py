"""Receipts the platform signs for others to keep, and their checks.

- ``consent``: ISO/IEC TS 27560-shaped consent records;
- ``verify`` (with ``sources``): checking an access receipt without trusting the platform's
  word for it (``docs/access-receipts.md``).

Import the submodules themselves: each pulls in only what it needs.
"""
