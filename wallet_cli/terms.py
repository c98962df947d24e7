"""Words for what the ledger stores as numbers: catalog categories, purposes, levels, times."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import TypeVar

from ledger_api.catalog.loader import Catalog, default_catalog
from ledger_api.chain.types import AccessLevel, Purpose, bits_of
from ledger_api.errors import InputError, NotFoundError

E = TypeVar("E", bound=IntEnum)


def catalog() -> Catalog:
    return default_catalog()


def parse_categories(text: str) -> tuple[list[str], int]:
    """``tax,social_insurance`` -> (names, bitmask); unknown names are input errors."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InputError("give at least one category (e.g. --categories tax,social_insurance)")
    mask = 0
    for name in names:
        mask |= category_bit_mask(name)
    return list(dict.fromkeys(names)), mask


def category_bit_mask(name: str) -> int:
    try:
        return catalog().category(name).mask
    except NotFoundError:
        known = ", ".join(catalog().category_names)
        raise InputError(f"unknown category {name!r}; known: {known}") from None


def category_names(mask: int) -> list[str]:
    names = []
    for bit in bits_of(mask):
        try:
            names.append(catalog().category(bit).name)
        except NotFoundError:
            names.append(f"bit{bit}")
    return names


def category_name(bit: int | None) -> str | None:
    if bit is None:
        return None
    try:
        return catalog().category(bit).name
    except NotFoundError:
        return f"bit{bit}"


def parse_enum(enum: type[E], text: str, what: str) -> E:
    try:
        return enum[text.strip().upper().replace("-", "_")]
    except KeyError:
        known = ", ".join(m.name.lower() for m in enum)
        raise InputError(f"unknown {what} {text!r}; known: {known}") from None


def parse_purpose(text: str) -> Purpose:
    return parse_enum(Purpose, text, "purpose")


def parse_level(text: str) -> AccessLevel:
    return parse_enum(AccessLevel, text, "access level")


def enum_name(enum: type[E], value: int | None) -> str | None:
    if value is None:
        return None
    try:
        return enum(value).name.lower()
    except ValueError:
        return str(value)


TIME_FORMAT = "%Y-%m-%d %H:%M UTC"  # ISO 8601 date and time, the zone named


def utc_time(seconds: int) -> str:
    """UTC seconds as ``2025-01-31 12:00 UTC`` (always the date: a validity spans days)."""
    return datetime.fromtimestamp(seconds, UTC).strftime(TIME_FORMAT)


def iso_time(text: str) -> str:
    """An ISO 8601 time from the platform as ``2025-01-31 12:00:05 UTC`` (as given if not one)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the platform stores UTC
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
