"""Validate and normalise one row against its catalog category.

Normal forms (what is encrypted and hashed): strings as given, integers as ints, decimals as
strings with the field's scale, dates as ``YYYY-MM-DD``, booleans as bools, the USCC upper-case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ledger_api.catalog.loader import Catalog, Category, Field
from ledger_api.identity.uscc import CHARSET, LENGTH, WEIGHTS, uscc_problem

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_MAX_REASON_VALUE = 40
_USCC_VALUE = {ch: i for i, ch in enumerate(CHARSET)}
# raw USCC -> (normalised, problem), shared by every validator: subjects recur across rows,
# categories and batches. Bounded; a pure function of the key, so never stale.
_USCCS: dict[str, tuple[str, str | None]] = {}
_USCCS_MAX = 1_000_000
# The canonical form of a row: sorted keys, no whitespace, UTF-8 (encrypted and digested, so
# it must never change: record uids of stored rows depend on it).
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_dumps_sorted = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS
_DIGITS = frozenset("0123456789")


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


def _valid_uscc(code: str) -> bool:
    """``uscc_problem(code) is None``, without building the reasons (the common case)."""
    if len(code) != LENGTH or not _DIGITS.issuperset(code[2:8]):
        return False
    value = _USCC_VALUE.get
    total = 0
    for ch, weight in zip(code[:17], WEIGHTS, strict=True):
        v = value(ch)
        if v is None:
            return False
        total += v * weight
    return code[17] in _USCC_VALUE and CHARSET[(31 - total % 31) % 31] == code[17]


# Memoised conversions per field keep at most this many distinct inputs (dates and amounts recur).
_MEMO_MAX = 65_536
_MISSING = object()


def _plain_decimal(field: Field, general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``_decimal`` for plain non-negative ASCII amounts ("1234.5"), without a regex."""
    scale = 2 if field.scale is None else field.scale

    def decimal(value: Any) -> Any:
        whole, dot, frac = value.partition(".")
        if (
            0 < len(whole) <= 30
            and whole.isascii()
            and whole.isdigit()
            and (not dot or (0 < len(frac) <= scale and frac.isascii() and frac.isdigit()))
        ):
            return str(int(whole)) + ("." + frac.ljust(scale, "0") if scale else "")
        return general(value)

    return decimal


def _compile(field: Field) -> Callable[[Any], Any]:
    """A converter for ``field`` with the common cases inlined and the rest delegated.

    The fast path only accepts values the general converter would return unchanged, so the
    result and every error message are the general converter's.
    """
    general = _CONVERTERS[field.type]

    def slow(value: Any) -> Any:
        return general(field, value)

    kind = field.type
    if kind == "string":
        max_length = field.max_length
        fullmatch = re.compile(field.pattern).fullmatch if field.pattern is not None else None

        def string(value: Any) -> Any:
            if (
                type(value) is str
                and (max_length is None or len(value) <= max_length)
                and (fullmatch is None or fullmatch(value) is not None)
            ):
                return value
            return slow(value)

        return string
    if kind == "enum":
        members = frozenset(field.values)

        def enum(value: Any) -> Any:
            if type(value) is str and value in members:
                return value
            return slow(value)

        return enum
    if kind == "integer":
        minimum = field.minimum

        def integer(value: Any) -> Any:
            if type(value) is int and (minimum is None or value >= minimum):
                return value
            return slow(value)

        return integer
    if kind == "boolean":

        def boolean(value: Any) -> Any:
            if type(value) is bool:
                return value
            return slow(value)

        return boolean
    from_string = _plain_decimal(field, slow) if kind == "decimal" else slow
    # decimal, date: a pure function of the input string, so remember valid inputs.
    memo: dict[str, Any] = {}

    def memoised(value: Any) -> Any:
        if type(value) is not str:
            return slow(value)
        hit = memo.get(value, _MISSING)
        if hit is not _MISSING:
            return hit
        result = from_string(value)  # raises FieldProblem: invalid inputs are not remembered
        if len(memo) < _MEMO_MAX:
            memo[value] = result
        return result

    return memoised


class RowValidator:
    """Validates rows of one category; ``normalise`` returns the clean row or raises.

    Converters are compiled once per validator (keep one per category to reuse them and their
    memo across batches).
    """

    def __init__(self, catalog: Catalog, category: Category) -> None:
        self.catalog = catalog
        self.category = category
        self._fields = tuple((f.name, f.required, _compile(f)) for f in category.fields)
        self._known = frozenset(category.field_names) | {"uscc", "record_key"}
        self.key_max = catalog.common_fields[1].max_length or 128
        self._usccs = _USCCS

    def normalise(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        if not raw.keys() <= self._known:
            unknown = [k for k in raw if k not in self._known]
            raise FieldProblem(
                f"unknown field(s) for category {self.category.name}: {', '.join(sorted(unknown))}"
            )
        uscc = raw.get("uscc")
        if type(uscc) is not str:
            if not isinstance(uscc, str):
                raise FieldProblem("missing required field uscc")
            uscc = str(uscc)
        uscc, problem = self.checked_uscc(uscc)
        if problem is not None:
            raise FieldProblem(problem)
        key = raw.get("record_key")
        if type(key) is not str:
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            if not isinstance(key, str):
                raise FieldProblem("missing required field record_key")
        if len(key) > self.key_max or not key.strip():
            if not key.strip():
                raise FieldProblem("missing required field record_key")
            raise FieldProblem(f"record_key: longer than {self.key_max} characters")
        out: dict[str, Any] = {"uscc": uscc, "record_key": key}
        missing: list[str] | None = None
        get = raw.get
        name = ""
        try:
            for name, required, convert in self._fields:
                value = get(name)
                if value is None or value == "":
                    if required:
                        if missing is None:
                            missing = [name]
                        else:
                            missing.append(name)
                    continue
                out[name] = convert(value)
        except FieldProblem as exc:
            raise FieldProblem(f"{name}: {exc}") from None
        if missing:
            raise FieldProblem(f"missing required field(s): {', '.join(missing)}")
        return out

    def checked_uscc(self, raw: str) -> tuple[str, str | None]:
        """The USCC ``raw`` in normal form and what is wrong with it (None: valid)."""
        known = self._usccs.get(raw)
        return self._check_uscc(raw) if known is None else known

    def _check_uscc(self, raw: str) -> tuple[str, str | None]:
        if not raw.strip():
            return raw, "missing required field uscc"
        uscc = raw.strip().upper()
        problem = None if _valid_uscc(uscc) else uscc_problem(uscc)
        known = (uscc, None if problem is None else f"uscc: {problem}")
        if len(self._usccs) < _USCCS_MAX:
            self._usccs[raw] = known
        return known

    def canonical(self, row: Mapping[str, Any]) -> bytes:
        """``CANONICAL.encode(row)`` as UTF-8, by orjson where it gives those same bytes.

        orjson with sorted keys writes the same compact JSON, escapes and UTF-8 for the
        strings, integers and booleans of a normalised row; it refuses integers beyond 64
        bits and lone surrogates, which take the json module's path (its result or error).
        """
        try:
            return _dumps_sorted(row, option=_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError
            return CANONICAL.encode(row).encode()


def not_unicode_problem(row: Mapping[str, Any]) -> str:
    """Why ``row`` has no UTF-8 form: the fields whose text holds a lone surrogate (JSON can
    escape one, ``"\\ud800"``; Unicode text can't contain it)."""
    fields = sorted(k for k, v in row.items() if isinstance(v, str) and not _is_utf8(v))
    return f"{', '.join(fields) or 'a field'}: text with a lone surrogate is not valid Unicode"


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
