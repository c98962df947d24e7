"""The versioned credit-information catalog: loader and masking rules."""

from ledger_api.catalog.loader import (
    Catalog,
    Category,
    Classification,
    Field,
    FieldType,
    canonical_json,
    default_catalog,
    load_catalog,
)
from ledger_api.catalog.masking import MASKING_RULES, mask_record, mask_value, public_fields

__all__ = [
    "MASKING_RULES",
    "Catalog",
    "Category",
    "Classification",
    "Field",
    "FieldType",
    "canonical_json",
    "default_catalog",
    "load_catalog",
    "mask_record",
    "mask_value",
    "public_fields",
]
