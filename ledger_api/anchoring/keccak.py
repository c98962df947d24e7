"""keccak256 from eth_hash, pinned to the fastest installed backend.

``eth_hash.auto`` may pick pycryptodome (~18 µs a call); the pysha3 backend (pulled in by
``eth-tester[py-evm]`` on CPython) is ~1 µs, which is what makes ingestion and verification
fast enough. Both compute the same function.
"""

from __future__ import annotations

from collections.abc import Callable

keccak256: Callable[[bytes], bytes]

try:
    from eth_hash.backends.pysha3 import keccak256 as _pysha3_keccak

    keccak256 = _pysha3_keccak
except ImportError:  # pragma: no cover - depends on the installed extras
    from eth_hash.auto import keccak as _auto_keccak

    keccak256 = _auto_keccak
