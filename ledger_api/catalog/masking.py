"""What an institution may see of a record: masking of SENSITIVE fields below DETAIL level, and
the PUBLIC-only view of the standard report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger_api.catalog.loader import Category


def _none(value: str) -> str:
    return value


def _name_first_char(value: str) -> str:
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


def _keep_first3_last4(value: str) -> str:
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def _hide_all(value: str) -> str:
    return "***"


def _year_month(value: str) -> str:
    return value[:7]


MASKING_RULES: Mapping[str, Callable[[str], str]] = {
    "none": _none,
    "name_first_char": _name_first_char,
    "keep_first3_last4": _keep_first3_last4,
    "hide_all": _hide_all,
    "year_month": _year_month,
}


def mask_value(rule: str, value: Any) -> Any:
    """Apply masking ``rule`` to one value; ``None`` stays ``None``.

    Every rule but ``none`` returns a string (a masked number is no longer a number).
    """
    if value is None or rule == "none":
        return value
    return MASKING_RULES[rule](value if isinstance(value, str) else str(value))


def mask_record(category: Category, record: Mapping[str, Any], *, detail: bool) -> dict[str, Any]:
    """The record as an institution below DETAIL level may see it.

    SENSITIVE fields are masked by their rule unless ``detail``; other fields pass unchanged.
    """
    out = dict(record)
    if detail:
        return out
    for field in category.fields:
        if field.classification == "SENSITIVE" and field.name in out:
            out[field.name] = mask_value(field.masking, out[field.name])
    return out


def public_fields(category: Category, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the standard report (no grant) may show it: the category's PUBLIC fields.

    Only fields the catalog classifies PUBLIC in this category pass; everything else is left
    out, including the common ``record_key`` (RESTRICTED: the provider's own key) and any field
    the catalog does not name.
    """
    return {
        field.name: record[field.name]
        for field in category.fields
        if field.classification == "PUBLIC" and field.name in record
    }
