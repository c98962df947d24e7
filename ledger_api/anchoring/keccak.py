"""keccak256 from eth_hash, pinned to the fastest installed backend.

``eth_hash.auto`` may pick pycryptodome (~18 µs a call); the pysha3 backend (pulled in by
``eth-tester[py-evm]`` on CPython) is ~1 µs, which is what makes ingestion and verification
fast enough. Both compute the same function (keccak256 is not ``hashlib.sha3_256``: the padding
differs).

Hot loops use ``keccak256_hasher``, the C hash constructor itself (``keccak256_hasher(data)
.digest()``), which saves the Python call of the eth_hash wrapper on every hash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

keccak256: Callable[[bytes], bytes]
keccak256_hasher: Callable[[bytes], Any]

try:
    from eth_hash.backends.pysha3 import keccak256 as _pysha3_keccak
    from sha3 import keccak_256 as _pysha3_hasher

    keccak256 = _pysha3_keccak
    keccak256_hasher = _pysha3_hasher
except ImportError:  # pragma: no cover - depends on the installed extras
    from Crypto.Hash import keccak as _pycryptodome_keccak
    from eth_hash.auto import keccak as _auto_keccak

    def _pycryptodome_hasher(data: bytes) -> Any:
        return _pycryptodome_keccak.new(data=data, digest_bits=256)

    keccak256 = _auto_keccak
    keccak256_hasher = _pycryptodome_hasher
