"""People's names next to the ids and addresses of audit rows (docs/audit.md).

A regulator reads "中原银行郑州分行" and "纳税", not ``0x5B38…`` and ``2``. Every row keeps its
ids and addresses (JSON and CSV are for machines too); ``with_names`` adds, right after each:

- ``institution`` / ``actor`` -> ``institution_name``: the name the chain's registry holds for
  that address (the replica's latest version), None for an address that is no institution;
- ``category`` (a catalog bit) -> ``category_name``, ``categories`` -> ``category_names``:
  the catalog's Chinese titles;
- ``purpose`` -> ``purpose_name``, ``purposes`` -> ``purpose_names``: ``PURPOSE_NAMES``.

Names are looked up once per call (one query for the institutions on the rows), so a page of
500 rows costs one extra query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from indexer.tables import INSTITUTIONS
from ledger_api.catalog.loader import Catalog, default_catalog

__all__ = ["PURPOSE_NAMES", "Names", "with_names"]

# The purposes a grant may name (ledger_api.chain.types.Purpose), as Chinese lending says them.
PURPOSE_NAMES: dict[str, str] = {
    "loan_application": "贷前审查",
    "post_loan_monitoring": "贷后管理",
    "guarantee": "担保",
    "insurance_underwriting": "保险承保",
    "credit_rating": "信用评级",
    "supply_chain_finance": "供应链金融",
}
_ADDRESS_KEYS = ("institution", "actor")


class Names:
    """Institution, category and purpose names for one batch of rows."""

    def __init__(self, conn: Connection, addresses: Iterable[str], catalog: Catalog | None = None):
        self.catalog = catalog or default_catalog()
        wanted = sorted({a for a in addresses if isinstance(a, str) and a.startswith("0x")})
        self._institutions: dict[str, str] = {}
        if wanted:
            table = INSTITUTIONS.c
            query = (
                select(table.address, table.name)
                .where(table.address.in_(wanted))
                .order_by(table.valid_from_block, table.valid_from_log)
            )
            for address, name in conn.execute(query):
                self._institutions[address] = name  # the latest version wins

    def institution(self, address: Any) -> str | None:
        return self._institutions.get(address) if isinstance(address, str) else None

    def category(self, bit: Any) -> str | None:
        if not isinstance(bit, int) or isinstance(bit, bool):
            return None
        for category in self.catalog.categories:
            if category.bit == bit:
                return category.title_zh or category.name
        return None

    def purpose(self, name: Any) -> str | None:
        return PURPOSE_NAMES.get(name) if isinstance(name, str) else None

    def named(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with each name inserted after the value it names (nested rows too)."""
        out: dict[str, Any] = {}
        for key, value in row.items():
            out[key] = self.named(value) if isinstance(value, dict) else value
            if key in _ADDRESS_KEYS and "institution_name" not in row:
                out["institution_name"] = self.institution(value)
            elif key == "category" and isinstance(value, int):
                out["category_name"] = self.category(value)
            elif key == "categories" and isinstance(value, list):
                out["category_names"] = [self.category(bit) for bit in value]
            elif key == "purpose" and isinstance(value, str):
                out["purpose_name"] = self.purpose(value)
            elif key == "purposes" and isinstance(value, list):
                out["purpose_names"] = [self.purpose(p) for p in value]
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                out[key] = [self.named(item) for item in value]
        return out


def _addresses(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _ADDRESS_KEYS and isinstance(item, str):
                yield item
            elif isinstance(item, dict | list):
                yield from _addresses(item)
    elif isinstance(value, list):
        for item in value:
            yield from _addresses(item)


def with_names(conn: Connection, result: Any) -> Any:
    """A view's result (a list of rows, or the statistics dict) with names added."""
    names = Names(conn, _addresses(result))
    if isinstance(result, list):
        return [names.named(row) for row in result]
    if isinstance(result, dict):
        return names.named(result)
    return result
