"""The strict (msgspec) path of JSON-lines validation gives exactly the validator's results."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_api.catalog import default_catalog
from ledger_api.catalog.loader import Category
from ledger_api.ingest.parse import parse_jsonl_lines
from ledger_api.ingest.strict import StrictDecoder, _bulk_safe, _normal_form
from ledger_api.ingest.validate import RowValidator
from ledger_api.ingest.workers import Checked, check_lines, check_rows
from ledger_api.synth.generator import iter_all_records

from .test_validate import _ODD_VALUES, mutated

KEY = b"\x11" * 32
CATALOG = default_catalog()
_CHECKERS: dict[str, tuple[RowValidator, StrictDecoder]] = {}


def _checkers(category: Category) -> tuple[RowValidator, StrictDecoder]:
    if category.name not in _CHECKERS:
        validator = RowValidator(CATALOG, category)
        _CHECKERS[category.name] = (validator, StrictDecoder(validator))
    return _CHECKERS[category.name]


def _both_paths(category: Category, line: str) -> tuple[list[Checked], list[Checked]]:
    """(strict path with fallback, validator alone) for one JSON line."""
    validator, strict = _checkers(category)
    fast = check_lines(validator, strict, KEY, "p", [line], 1, {})
    plain = check_rows(validator, KEY, "p", parse_jsonl_lines([line], 1), {})
    return fast, plain


def test_generated_rows_are_in_normal_form_and_take_the_strict_path() -> None:
    # The synthetic data is what providers are expected to send; if it missed the strict
    # path, the equivalence tests below would pass by always falling back.
    rows = 0
    for category_name, row in iter_all_records(300, seed=4):
        category = CATALOG.category(category_name)
        validator, strict = _checkers(category)
        line = json.dumps(row, ensure_ascii=False)
        found = strict.canonical(line)
        assert found is not None, line
        normal = validator.normalise(row)
        assert found == (normal["uscc"], normal["record_key"], validator.canonical(normal))
        rows += 1
    assert rows > 1000


def test_the_strict_path_agrees_with_the_validator_on_mutated_rows() -> None:
    rng = random.Random(11)
    strict_hits = fallbacks = 0
    for category_name, row in iter_all_records(200, seed=9):
        category = CATALOG.category(category_name)
        _validator, strict = _checkers(category)
        variants: list[str] = [json.dumps(row, ensure_ascii=False)]
        variants += [
            json.dumps(mutated(row, category, rng), ensure_ascii=rng.random() < 0.5)
            for _ in range(6)
        ]
        plain_line = json.dumps(row)
        variants += [
            " " + plain_line + "\t",  # whitespace around the object
            plain_line[:-1] + ', "uscc": ' + json.dumps(row["uscc"]) + "}",  # repeated key
            plain_line[:-1] + ', "uscc": "91410100MA0000001x"}',  # repeated, last one bad
            plain_line[:-1] + ', "colour": "red"}',  # unknown field
            plain_line[:-1] + ', "record_key": "\\ud800"}',  # lone surrogate
            plain_line[:-1] + ', "record_key": 12345678901234567890123}',  # big integer key
            "[" + plain_line + "]",
            "",
            "   ",
        ]
        for line in variants:
            fast, plain = _both_paths(category, line)
            assert fast == plain, line
            if strict.canonical(line) is None:
                fallbacks += 1
            else:
                strict_hits += 1
    assert strict_hits > 500 and fallbacks > 1000


def _sample_rows() -> dict[str, dict[str, Any]]:
    """One generated row of every category."""
    if not _SAMPLES:
        for category_name, row in iter_all_records(5000, seed=3):
            _SAMPLES.setdefault(category_name, row)
            if len(_SAMPLES) == len(CATALOG.category_names):
                break
    return _SAMPLES


_SAMPLES: dict[str, dict[str, Any]] = {}
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.from_regex(r"\A-?[0-9]{1,4}(\.[0-9]{0,4})?\Z")  # amounts, near and off normal form
    | st.from_regex(r"\A[0-9]{4}-[0-9]{1,2}-[0-9]{1,3}\s?\Z")  # dates, near and off
    | st.sampled_from(_ODD_VALUES)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_strict_path_agrees_with_the_validator_on_arbitrary_rows(data: Any) -> None:
    category = CATALOG.category(data.draw(st.sampled_from(CATALOG.category_names)))
    row = dict(_sample_rows()[category.name])
    names = [f.name for f in category.fields] + ["uscc", "record_key", "extra"]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        if data.draw(st.booleans()):
            row[name] = data.draw(_SCALARS)
        else:
            row.pop(name, None)
    line = json.dumps(row, ensure_ascii=data.draw(st.booleans()))
    fast, plain = _both_paths(category, line)
    assert fast == plain


def test_many_lines_checked_at_once_give_each_line_its_own_result() -> None:
    # Amounts and catalog patterns are checked over all lines of a call at once: a bad value
    # among thousands refuses its own line only, wherever it is, and only that line.
    rng = random.Random(5)
    by_category: dict[str, list[str]] = {}
    for category_name, row in iter_all_records(400, seed=6):
        category = CATALOG.category(category_name)
        line = mutated(row, category, rng) if rng.random() < 0.05 else row
        by_category.setdefault(category_name, []).append(json.dumps(line, ensure_ascii=False))
    sample = by_category["tax"][0]
    by_category["tax"] += [
        sample.replace('"period": "', '"period": "2024-01\\n'),  # a newline inside a value
        sample.replace('"period": "', '"period": "\\n'),
        sample.replace(".", "", 1),  # an amount without its decimals
    ]
    hits = 0
    for category_name, lines in by_category.items():
        validator, strict = _checkers(CATALOG.category(category_name))
        together = check_lines(validator, strict, KEY, "p", lines, 1, {})
        alone = [r for n, line in enumerate(lines, 1) for r in _numbered(category_name, line, n)]
        assert together == alone, category_name
        found = strict.canonical_lines(lines)
        assert found == [strict.canonical(line) for line in lines]
        hits += sum(f is not None for f in found)
    assert hits > 1000  # most lines take the strict path
    tax = by_category["tax"]
    assert _checkers(CATALOG.category("tax"))[1].canonical_lines(tax)[-3:] == [None] * 3


def _numbered(category_name: str, line: str, number: int) -> list[Checked]:
    validator, _strict = _checkers(CATALOG.category(category_name))
    return check_rows(validator, KEY, "p", parse_jsonl_lines([line], number), {})


def test_only_patterns_that_cannot_match_a_newline_are_checked_in_bulk() -> None:
    assert _bulk_safe(r"^[0-9]{4}-(0[1-9]|1[0-2])$") and _bulk_safe(r"^[0-9+\- ]{7,20}$")
    for unsafe in (r"^[^,]+$", r"^\s*x$", r"^\D+$", r"^\W$", r"(?s)^.+$", r"^\x0a$", "^a\nb$"):
        assert not _bulk_safe(unsafe), unsafe
    # Such a pattern stays with msgspec, value by value, and still refuses what it should.
    category = CATALOG.category("tax")
    field = next(f for f in category.fields if f.name == "period")
    odd = dataclasses.replace(field, pattern=r"^[^,]{7}$")
    kind, bulk = _normal_form(odd)
    assert bulk is None
    decoder = msgspec.json.Decoder(kind)
    assert decoder.decode('"2024-01"') == "2024-01"
    with pytest.raises(msgspec.ValidationError):
        decoder.decode('"2024,01"')
