"""Validate and normalise one row against its catalog category.

Normal forms (what is encrypted and hashed): strings as given, integers as ints, decimals as
strings with the field's scale, dates as ``YYYY-MM-DD``, booleans as bools, the USCC upper-case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger_api.catalog.loader import Catalog, Category, Field
from ledger_api.identity.uscc import uscc_problem

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_MAX_REASON_VALUE = 40


@dataclass(frozen=True)
class RowError:
    row: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "reason": self.reason}


class FieldProblem(ValueError):
    pass


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REASON_VALUE else text[: _MAX_REASON_VALUE - 3] + "..."


def _string(field: Field, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldProblem(f"must be a string, got {_show(value)}")
    text = value if isinstance(value, str) else str(value)
    if field.max_length is not None and len(text) > field.max_length:
        raise FieldProblem(f"longer than {field.max_length} characters")
    if field.pattern is not None and not re.fullmatch(field.pattern, text):
        raise FieldProblem(f"{_show(text)} does not match the required format")
    return text


def _integer(field: Field, value: Any) -> int:
    if isinstance(value, bool):
        raise FieldProblem(f"must be an integer, got {_show(value)}")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, str) and _INT.match(value.strip())) or (
        isinstance(value, float) and value.is_integer()
    ):
        number = int(value)
    else:
        raise FieldProblem(f"must be an integer, got {_show(value)}")
    if field.minimum is not None and number < field.minimum:
        raise FieldProblem(f"must be at least {field.minimum}")
    return number


_PLAIN_DECIMAL = re.compile(r"^(-?[0-9]{1,30})(?:\.([0-9]{1,12}))?$")


def _decimal(field: Field, value: Any) -> str:
    scale = 2 if field.scale is None else field.scale
    if isinstance(value, str):
        plain = _PLAIN_DECIMAL.match(value)
        if plain is not None and not value.startswith("-0"):  # fast path for "1234.50"
            whole, frac = plain.groups()
            frac = frac or ""
            if len(frac) > scale:
                raise FieldProblem(f"has more than {scale} decimal places")
            return str(int(whole)) + ("." + frac.ljust(scale, "0") if scale else "")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldProblem(f"must be a decimal number, got {_show(value)}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise FieldProblem(f"must be a decimal number, got {_show(value)}") from None
    if not number.is_finite():
        raise FieldProblem("must be a finite number")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        raise FieldProblem(f"has more than {scale} decimal places")
    return f"{number:.{scale}f}"


def _date(field: Field, value: Any) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise FieldProblem(f"must be an ISO-8601 date YYYY-MM-DD, got {_show(value)}")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise FieldProblem(f"{_show(value)} is not a calendar date") from None


def _boolean(field: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise FieldProblem(f"must be true or false, got {_show(value)}")


def _enum(field: Field, value: Any) -> str:
    if not isinstance(value, str) or value not in field.values:
        raise FieldProblem(f"must be one of {', '.join(field.values)}; got {_show(value)}")
    return value


_CONVERTERS: Mapping[str, Callable[[Field, Any], Any]] = {
    "string": _string,
    "integer": _integer,
    "decimal": _decimal,
    "date": _date,
    "boolean": _boolean,
    "enum": _enum,
}


class RowValidator:
    """Validates rows of one category; ``normalise`` returns the clean row or raises."""

    def __init__(self, catalog: Catalog, category: Category) -> None:
        self.catalog = catalog
        self.category = category
        self._fields = [(f.name, f, _CONVERTERS[f.type]) for f in category.fields]
        self._known = frozenset(category.field_names) | {"uscc", "record_key"}
        self._required = [f.name for f in category.fields if f.required]
        self._key_max = catalog.common_fields[1].max_length or 128
        self._uscc_problems: dict[str, str | None] = {}  # the same subject recurs in a batch

    def normalise(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        unknown = [k for k in raw if k not in self._known]
        if unknown:
            raise FieldProblem(
                f"unknown field(s) for category {self.category.name}: {', '.join(sorted(unknown))}"
            )
        uscc = raw.get("uscc")
        if not isinstance(uscc, str) or not uscc.strip():
            raise FieldProblem("missing required field uscc")
        uscc = uscc.strip().upper()
        try:
            problem = self._uscc_problems[uscc]
        except KeyError:
            problem = self._uscc_problems[uscc] = uscc_problem(uscc)
        if problem is not None:
            raise FieldProblem(f"uscc: {problem}")
        key = raw.get("record_key")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str) or not key.strip():
            raise FieldProblem("missing required field record_key")
        if len(key) > self._key_max:
            raise FieldProblem(f"record_key: longer than {self._key_max} characters")
        out: dict[str, Any] = {"uscc": uscc, "record_key": key}
        missing = []
        for name, field, convert in self._fields:
            value = raw.get(name)
            if value is None or (isinstance(value, str) and value == ""):
                if field.required:
                    missing.append(name)
                continue
            try:
                out[name] = convert(field, value)
            except FieldProblem as exc:
                raise FieldProblem(f"{name}: {exc}") from None
        if missing:
            raise FieldProblem(f"missing required field(s): {', '.join(missing)}")
        return out
