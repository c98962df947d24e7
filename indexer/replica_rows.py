"""What every query of the replica shares: which rows are live, and addresses as stored."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import BigInteger, ColumnElement, Table, and_, bindparam, or_


@lru_cache(maxsize=65536)
def checksum_address(value: str) -> str:
    """``value`` in EIP-55 form, as the indexer stores addresses."""
    from web3 import Web3

    return str(Web3.to_checksum_address(value))


def live(table: Table, pinned: bool) -> ColumnElement[bool]:
    """Rows of a versioned table describing the state now, or right after block
    ``:at_block`` when ``pinned`` (``indexer.tables`` explains the versions)."""
    if not pinned:
        return table.c.valid_to_block.is_(None)
    at = bindparam("at_block", type_=BigInteger)
    return and_(
        table.c.valid_from_block <= at,
        or_(table.c.valid_to_block.is_(None), table.c.valid_to_block > at),
    )
