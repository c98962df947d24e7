"""The nesting scan that guards the JSON parser: exact where the parser reads, quick always."""

from __future__ import annotations

import json

from ledger_api.json_depth import nesting_exceeds


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_a_body_nested_one_level_past_the_limit_is_too_deep_and_one_at_it_is_not() -> None:
    assert not nesting_exceeds(_nested(64), 64)
    assert nesting_exceeds(_nested(65), 64)
    mixed = json.dumps({"a": [{"b": None}]}).encode()
    assert not nesting_exceeds(mixed, 3) and nesting_exceeds(mixed, 2)


def test_brackets_inside_strings_do_not_count_however_the_strings_are_escaped() -> None:
    value = ["[" * 100, '\\"[[[[', "{" * 70 + '"', "\u2028]"]
    for ensure_ascii in (True, False):
        body = json.dumps(value, ensure_ascii=ensure_ascii).encode()
        assert not nesting_exceeds(body, 2)
    assert nesting_exceeds(json.dumps([[[value]]]).encode(), 3)


def test_unclosed_openers_count_as_levels() -> None:
    assert nesting_exceeds(b"[" * 1_000_000, 64)
    assert nesting_exceeds(b'{"a":' * 65, 64)
    assert not nesting_exceeds(b"]" * 1000 + b"[" * 10, 64)


def test_a_body_of_many_shallow_groups_is_not_too_deep() -> None:
    body = json.dumps([[[i]] for i in range(100_000)]).encode()
    assert not nesting_exceeds(body, 3) and nesting_exceeds(body, 2)


def test_utf16_and_utf32_bodies_are_scanned_as_the_parser_decodes_them() -> None:
    # U+225B holds a quote byte in UTF-16: read as bytes it would end the string early.
    value = ["\u225b\u2200", [[[[]]]]]
    for encoding in ("utf-16-le", "utf-16-be", "utf-32"):
        body = json.dumps(value, ensure_ascii=False).encode(encoding)
        assert json.loads(body) == value
        assert nesting_exceeds(body, 4) and not nesting_exceeds(body, 5)


def test_the_scan_follows_the_parser_only_up_to_a_string_it_refuses() -> None:
    assert not nesting_exceeds(b'["\x01' + b"[" * 100, 64)  # the parser stops at \x01
    assert nesting_exceeds(b'["a",\n' + b"[" * 100, 64)  # a newline between values is fine
