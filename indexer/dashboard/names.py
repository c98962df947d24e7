"""People names for what the replica stores as addresses and numbers.

Institution names come from the replica's registry (the current version of each registered
institution), category names from the catalog; an address nobody registered is shown as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from indexer.tables import INSTITUTIONS
from ledger_api.catalog.loader import Catalog, default_catalog
from ledger_api.chain.types import bits_of
from ledger_api.errors import NotFoundError


@dataclass(frozen=True)
class Names:
    institutions: dict[str, str]  # checksum address -> registered name
    catalog: Catalog
    lang: str

    @classmethod
    def load(cls, conn: Connection, lang: str) -> Names:
        rows = conn.execute(
            select(INSTITUTIONS.c.address, INSTITUTIONS.c.name).where(
                INSTITUTIONS.c.valid_to_block.is_(None)
            )
        )
        return cls({row.address: row.name for row in rows}, default_catalog(), lang)

    def institution(self, address: str | None) -> str:
        if address is None:
            return ""
        return self.institutions.get(address) or address

    def category(self, bit: int | None) -> str:
        if bit is None:
            return ""
        try:
            found = self.catalog.category(int(bit))
        except NotFoundError:
            return str(bit)
        return found.title_zh if self.lang == "zh" else found.title

    def category_list(self, bits: list[int] | int | None) -> str:
        if bits is None:
            return ""
        listed = bits_of(bits) if isinstance(bits, int) else bits
        return "、".join(self.category(bit) for bit in listed)

    def category_choices(self) -> list[tuple[str, str]]:
        return [(str(c.bit), self.category(c.bit)) for c in self.catalog.categories]
