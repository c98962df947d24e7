"""Parse a batch (JSON lines or CSV) into ``(row_number, mapping | error)`` pairs.

Row numbers are 1-based line numbers of the input (for CSV the header is line 1), so a
provider can find the row in its own file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

import orjson

from ledger_api.errors import InputError
from ledger_api.json_depth import MAX_JSON_DEPTH, nesting_exceeds

Format = Literal["jsonl", "csv"]
FORMATS: tuple[str, ...] = ("jsonl", "csv")
ParsedRow = tuple[int, dict[str, Any] | None, str | None]


def detect_format(name: str | None, data: bytes) -> Format:
    """From a file name's extension, else from the first byte ('{' means JSON lines)."""
    if name:
        lower = name.lower()
        if lower.endswith((".jsonl", ".ndjson", ".json")):
            return "jsonl"
        if lower.endswith(".csv"):
            return "csv"
    return "jsonl" if data.lstrip()[:1] == b"{" else "csv"


def parse_rows(data: bytes, fmt: Format) -> Iterator[ParsedRow]:
    """Yield ``(row, values, None)`` or ``(row, None, reason)`` for each non-blank row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"batch is not UTF-8: {exc}", code="bad_encoding") from None
    if fmt == "jsonl":
        yield from _parse_jsonl(text)
    elif fmt == "csv":
        yield from _parse_csv(text)
    else:
        raise InputError(f"unknown batch format {fmt!r}; use one of {', '.join(FORMATS)}")


# Lines that are one flat object (the norm) are parsed by orjson, which is faster than the
# json module. It is trusted only where it returns what ``json.loads`` returns: values that
# are strings, integers, booleans or null (orjson turns integers beyond 64 bits into floats,
# so any float, and any nested value, goes to ``json.loads``), and anything orjson refuses
# (NaN, lone surrogates, ...) is parsed by ``json.loads``, which also words the errors.
_PLAIN_VALUES = frozenset({str, int, bool, type(None)})


def _parse_jsonl(text: str) -> Iterator[ParsedRow]:
    return parse_jsonl_lines(text.splitlines(), 1)


def jsonl_lines(data: bytes) -> list[str]:
    """The lines of a JSON-lines batch, as ``parse_rows`` numbers them (from 1)."""
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"batch is not UTF-8: {exc}", code="bad_encoding") from None


def parse_jsonl_lines(lines: list[str], first: int) -> Iterator[ParsedRow]:
    """Parse JSON lines numbered from ``first`` (a slice of ``jsonl_lines``)."""
    loads = json.loads
    fast_loads = orjson.loads
    plain = _PLAIN_VALUES.issuperset
    for number, line in enumerate(lines, start=first):
        if line[:1] == "{" and line[-1:] == "}":
            try:
                value = fast_loads(line)
            except ValueError:  # orjson.JSONDecodeError
                pass
            else:
                if plain(map(type, value.values())):
                    yield number, value, None
                    continue
        if not line.strip():
            continue
        if nesting_exceeds(line.encode(), MAX_JSON_DEPTH):  # json.loads would recurse that deep
            yield number, None, f"nests deeper than {MAX_JSON_DEPTH} levels"
            continue
        try:
            value = loads(line)
        except ValueError as exc:
            yield number, None, f"not valid JSON: {exc.args[0] if exc.args else exc}"
            continue
        if not isinstance(value, dict):
            yield number, None, "a JSON line must be an object"
            continue
        yield number, value, None


def _parse_csv(text: str) -> Iterator[ParsedRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or not all(header):
        raise InputError("CSV header has empty or repeated column names", code="bad_csv_header")
    width = len(header)
    for cells in reader:
        number = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != width:
            yield number, None, f"has {len(cells)} columns, the header has {width}"
            continue
        # An empty CSV cell means "no value".
        yield number, {k: v for k, v in zip(header, cells, strict=True) if v != ""}, None
