r"""The fast path of JSON-lines validation: rows already in normal form, checked by msgspec.

Most rows a provider sends are already what ``RowValidator`` would make of them: strings as
strings, amounts as ``"1234.50"``, dates as ``YYYY-MM-DD``, the USCC upper-case. For those,
one msgspec decode into a per-category struct (compiled from the catalog: types, lengths,
required and unknown fields) checks the whole line in C, and encoding the struct gives the
row's canonical JSON (sorted keys, no whitespace, UTF-8: the same bytes
``RowValidator.canonical`` writes).

The struct accepts only values the validator would keep unchanged, so for every line it
accepts, the result is the validator's. Anything else (a coercion such as ``"12"`` for an
integer or ``"7.5"`` for an amount, an empty optional field, a bad row) is refused here and
takes the validator's path, which words the errors.

Patterns are not left to msgspec, which calls the regular expression once per value (about
0.3 us a call: most of a row's decoding time, with its amounts and periods). The USCC's is
implied by the validator's check that follows; a record key's ``\S`` is ``str.isspace``; the
rest, amounts and the catalog's patterns, are checked for all lines of a call at once: one
match over the values joined by newlines (``_BulkPattern``), value by value only when that
match fails, to find the lines to refuse.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ledger_api.catalog.loader import Field
from ledger_api.ingest.validate import RowValidator

# An escape other than those a catalog pattern may use and still be checked in bulk (none of
# them matches a newline, the separator of the joined values; ``\s``, ``\D``, ``\W`` or a code
# point escape could, as could ``.`` under (?s) or a negated class ``[^...]``).
_UNSAFE_ESCAPE = re.compile(r"\\[^dw.\-+()\[\]{}*?|^$\\/]")


def _bulk_safe(pattern: str) -> bool:
    """Whether ``pattern`` cannot match a newline (judged conservatively, by its text)."""
    return (
        "[^" not in pattern
        and "(?" not in pattern
        and not any(ord(ch) < 0x20 for ch in pattern)
        and _UNSAFE_ESCAPE.search(pattern) is None
    )


def _amount_pattern(scale: int) -> str:
    """An amount in normal form, the validator's output: no sign, no leading zero, exactly
    ``scale`` decimals."""
    fraction = rf"\.[0-9]{{{scale}}}" if scale else ""
    return rf"(?:0|[1-9][0-9]{{0,29}}){fraction}"


def _anchored(pattern: str) -> str:
    """``pattern`` as ``re.fullmatch`` applies it (msgspec searches)."""
    return r"\A(?:" + pattern + r")\Z"


class _BulkPattern:
    """One pattern, as ``re.fullmatch`` applies it to each value, over many values at once.

    Joined by newlines, the values match ``P(\nP)*`` (``^``/``$`` at each newline, as
    MULTILINE puts them) exactly when each one matches ``P`` on its own: ``P`` cannot match a
    newline (``_bulk_safe``) and no value holds one, so each match of ``P`` is one value.
    """

    def __init__(self, pattern: str, fields: list[str]) -> None:
        self.fields = fields
        # A row's value, or the tuple of its values for several fields.
        self.get: Callable[[Any], Any] = attrgetter(*fields)
        self._one = re.compile(_anchored(pattern))
        self._all = re.compile(f"(?:{pattern})(?:\n(?:{pattern}))*", re.MULTILINE)

    def matches(self, value: str) -> bool:
        return self._one.match(value) is not None

    def all_match(self, values: list[str]) -> bool:
        joined = "\n".join(values)
        return joined.count("\n") == len(values) - 1 and self._all.fullmatch(joined) is not None


def _normal_form(field: Field) -> tuple[Any, str | None]:
    """The type of ``field``'s values that normalising leaves unchanged, and the pattern to
    check in bulk (``_BulkPattern``) on top of it, if any."""
    if field.type == "string":
        # Non-empty: an empty value means "no value", which the validator handles.
        pattern = field.pattern
        if pattern is not None and not _bulk_safe(pattern):
            anchored = _anchored(pattern)
            return Annotated[
                str, Meta(min_length=1, max_length=field.max_length, pattern=anchored)
            ], None
        return Annotated[str, Meta(min_length=1, max_length=field.max_length)], pattern
    if field.type == "enum":
        return Literal[tuple(field.values)], None
    if field.type == "integer":
        return Annotated[int, Meta(ge=field.minimum)], None
    if field.type == "boolean":
        return bool, None
    if field.type == "date":
        return datetime.date, None  # YYYY-MM-DD and a calendar date, as the validator requires
    if field.type == "decimal":
        return str, _amount_pattern(2 if field.scale is None else field.scale)
    raise ValueError(f"no normal form for field type {field.type!r}")


def _row_struct(validator: RowValidator) -> tuple[type[msgspec.Struct], list[_BulkPattern]]:
    category = validator.category
    fields: dict[str, tuple[Any, bool]] = {
        # Any string: the validator's USCC check, which follows, accepts only the charset.
        "uscc": (str, True),
        # Not blank is checked after decoding (str.isspace, the validator's strip() test).
        "record_key": (Annotated[str, Meta(min_length=1, max_length=validator.key_max)], True),
    }
    by_pattern: dict[str, list[str]] = {}
    for field in category.fields:
        kind, pattern = _normal_form(field)
        fields[field.name] = (kind, field.required)
        if pattern is not None:
            by_pattern.setdefault(pattern, []).append(field.name)
    # Declared in key order: the encoder then writes the canonical (sorted) key order, and
    # leaves out optional fields that were absent or null, as normalising does.
    spec: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (name, kind) if required else (name, kind | None, None)
        for name, (kind, required) in sorted(fields.items())
    ]
    struct = msgspec.defstruct(
        f"NormalRow_{category.name}",
        spec,
        kw_only=True,
        forbid_unknown_fields=True,
        omit_defaults=True,
    )
    return struct, [_BulkPattern(p, names) for p, names in by_pattern.items()]


class StrictDecoder:
    """Checks JSON lines of one category that are already in normal form."""

    def __init__(self, validator: RowValidator) -> None:
        self._validator = validator
        struct, self._patterns = _row_struct(validator)
        self._decode = msgspec.json.Decoder(struct)
        self._encode = msgspec.json.Encoder().encode

    def canonical(self, line: str) -> tuple[str, str, bytes] | None:
        """``(uscc, record_key, canonical JSON)`` of a valid line in normal form, else None
        (then the validator decides)."""
        return self.canonical_lines([line])[0]

    def canonical_lines(self, lines: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """``canonical`` of each line (each pattern checked once for all of them)."""
        decode = self._decode.decode
        encode = self._encode
        checked_uscc = self._validator.checked_uscc
        found: list[tuple[str, str, bytes] | None] = []
        rows: list[tuple[int, Any]] = []  # (index in found, decoded row) of the accepted
        for line in lines:
            try:
                row: Any = decode(line)
            except msgspec.DecodeError:  # also a ValidationError
                found.append(None)
                continue
            uscc: str = row.uscc
            normal, problem = checked_uscc(uscc)
            key: str = row.record_key
            if problem is not None or normal != uscc or key.isspace():
                found.append(None)
                continue
            rows.append((len(found), row))
            found.append((uscc, key, encode(row)))
        for pattern in self._patterns:
            _refuse_unmatched(pattern, rows, found)
        return found


def _refuse_unmatched(
    pattern: _BulkPattern,
    rows: list[tuple[int, Any]],
    found: list[tuple[str, str, bytes] | None],
) -> None:
    """Refuse (``found[i] = None``) the rows whose values of ``pattern``'s fields it does not
    match; absent optional fields (None) are not checked."""
    get = pattern.get
    per_row: list[tuple[int, tuple[str | None, ...]]]
    if len(pattern.fields) == 1:
        per_row = [(i, (get(row),)) for i, row in rows]
    else:
        per_row = [(i, get(row)) for i, row in rows]
    values = [v for _i, row_values in per_row for v in row_values if v is not None]
    if not values or pattern.all_match(values):
        return
    matches = pattern.matches
    for i, row_values in per_row:
        if not all(matches(v) for v in row_values if v is not None):
            found[i] = None
