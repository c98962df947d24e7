"""The compiled row validator gives exactly the results and reasons of the field converters."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from ledger_api.catalog import default_catalog
from ledger_api.catalog.loader import Category
from ledger_api.identity.uscc import CHARSET, uscc_problem
from ledger_api.ingest.parse import parse_rows
from ledger_api.ingest.validate import _CONVERTERS, CANONICAL, FieldProblem, RowValidator
from ledger_api.synth.generator import iter_all_records


def _reference(category: Category, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The row rules written plainly, one general converter per field."""
    known = set(category.field_names) | {"uscc", "record_key"}
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise FieldProblem(
            f"unknown field(s) for category {category.name}: {', '.join(sorted(unknown))}"
        )
    uscc = raw.get("uscc")
    if not isinstance(uscc, str) or not uscc.strip():
        raise FieldProblem("missing required field uscc")
    uscc = uscc.strip().upper()
    problem = uscc_problem(uscc)
    if problem is not None:
        raise FieldProblem(f"uscc: {problem}")
    key = raw.get("record_key")
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key.strip():
        raise FieldProblem("missing required field record_key")
    if len(key) > 128:
        raise FieldProblem("record_key: longer than 128 characters")
    out: dict[str, Any] = {"uscc": uscc, "record_key": key}
    missing = []
    for field in category.fields:
        value = raw.get(field.name)
        if value is None or (isinstance(value, str) and value == ""):
            if field.required:
                missing.append(field.name)
            continue
        try:
            out[field.name] = _CONVERTERS[field.type](field, value)
        except FieldProblem as exc:
            raise FieldProblem(f"{field.name}: {exc}") from None
    if missing:
        raise FieldProblem(f"missing required field(s): {', '.join(missing)}")
    return out


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", json.dumps(fn(*args), sort_keys=True)
    except FieldProblem as exc:
        return "problem", str(exc)


_ODD_VALUES: list[Any] = [
    None, "", " ", "0", "-0", "-0.5", "12.345", "1e3", "NaN", "inf", "1234.5\n", "0012.50",
    "2024-02-29", "2024-02-30", "2024-2-1", "20240201", "2024-01-01\n", 7, -3, 0, 1, 2, 1.0,
    1.5, True, False, "true", "N", "yes", "maybe", "A", "B", "Z", "vat", "x" * 400, [], {},
    "410100", "41010", "410100\n", "12", "+12", " 12 ", "１２", "12.", ".5", "٣.5", "1.234",
    "00.10", "1" * 31, "1." + "0" * 13, "²", 'say "hi"\\', "tab\there", "é中\u2028",
]  # fmt: skip


def mutated(row: Mapping[str, Any], category: Category, rng: random.Random) -> dict[str, Any]:
    """``row`` with one or two of its fields (or USCC, record key) removed or set to an odd
    value."""
    names = [f.name for f in category.fields] + ["uscc", "record_key"]
    out = dict(row)
    for _ in range(rng.randint(1, 2)):
        name = rng.choice(names)
        if rng.random() < 0.1:
            out.pop(name, None)
        else:
            out[name] = rng.choice(_ODD_VALUES)
    return out


def test_compiled_validator_matches_the_plain_rules_on_generated_and_mutated_rows() -> None:
    catalog = default_catalog()
    rng = random.Random(7)
    validators: dict[str, RowValidator] = {}
    checked = 0
    for category_name, row in iter_all_records(300, seed=4):
        category = catalog.category(category_name)
        validator = validators.setdefault(category_name, RowValidator(catalog, category))
        variants: list[dict[str, Any]] = [dict(row)]
        variants += [mutated(row, category, rng) for _ in range(4)]
        uscc = str(row["uscc"])
        position = rng.randrange(18)
        variants.append(
            {**row, "uscc": uscc[:position] + rng.choice(CHARSET) + uscc[position + 1 :]}
        )
        variants.append({**row, "uscc": " " + uscc.lower() + " "})
        variants.append({**row, "colour": "red"})
        for raw in variants:
            # twice: the second call goes through the memoised paths
            expected = _outcome(_reference, category, raw)
            assert _outcome(validator.normalise, raw) == expected, raw
            assert _outcome(validator.normalise, raw) == expected, raw
            if expected[0] == "ok":
                row = validator.normalise(raw)
                assert validator.canonical(row) == CANONICAL.encode(row).encode()
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    "line",
    ['{"a": 1}', ' {"a": 1} ', '{"a": 1}{"b": 2}', '{"a": 1', "[1]", '"x"', "{}", '{"a":"\\u00e9"}',
     '{"a": 1} x', '{"a": NaN}', '{"a": 1}\t',
     # where orjson differs from json.loads (big integers become floats) or refuses
     '{"a": 123456789012345678901234567890}', '{"a": 18446744073709551616}',
     '{"a": -9223372036854775809}', '{"a": 1.5}', '{"a": -0.0}', '{"a": 1e400}',
     '{"a": "\\ud800"}', '{"a": [1, 2.0]}', '{"a": {"b": 1}}', '{"a": 1, "a": true}'],
)  # fmt: skip
def test_jsonl_fast_path_agrees_with_json_loads(line: str) -> None:
    [(number, value, problem)] = list(parse_rows(line.encode(), "jsonl"))
    assert number == 1
    try:
        expected = json.loads(line)
    except ValueError:
        assert value is None and problem is not None and problem.startswith("not valid JSON")
        return
    if isinstance(expected, dict):
        assert (repr(value), problem) == (repr(expected), None)  # repr: 2**64 == 2.0**64
    else:
        assert (value, problem) == (None, "a JSON line must be an object")


def test_canonical_bytes_are_the_json_modules_for_every_kind_of_value() -> None:
    catalog = default_catalog()
    validator = RowValidator(catalog, catalog.category("tax"))
    texts = [chr(c) for c in range(0x20)] + ['"', "\\", "\x7f", "é", "中", "\u2028", "😀"]
    rows: list[dict[str, object]] = [
        {"a": "x" + text + "y", "b" + text: 1, "z": True} for text in texts
    ]
    rows += [{"n": 2**63 - 1, "m": -(2**63)}, {"n": 2**64}, {"n": -(2**70)}, {"b": False}]
    for row in rows:
        assert validator.canonical(row) == CANONICAL.encode(row).encode(), row
    with pytest.raises(UnicodeEncodeError):  # as the json module's bytes would
        validator.canonical({"a": "\ud800"})


def test_a_jsonl_row_nested_past_the_limit_is_rejected_without_parsing_it() -> None:
    # A line break that only str.splitlines sees (U+2028, valid inside a JSON string) starts
    # a line of its own: each line is checked as it is parsed.
    deep = "[" * 1_000_000 + "]" * 1_000_000
    data = '{"a": 1}\n{"note": "x\u2028' + deep + '"}\n{"b": 2}'
    rows = list(parse_rows(data.encode(), "jsonl"))
    assert [(number, (problem or "")[:24]) for number, _, problem in rows] == [
        (1, ""),
        (2, "not valid JSON: Untermin"),
        (3, "nests deeper than 64 lev"),
        (4, ""),
    ]
