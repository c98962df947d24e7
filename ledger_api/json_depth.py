"""``nesting_exceeds(body, limit)``: could parsing this JSON text recurse deeper than ``limit``?

Decided without parsing and without recursion, by bytes operations that run in C: the JSON
parser recurses once per level, and py-evm / py_ecc raise Python's recursion limit when
imported, so a body a million brackets deep overflows the C stack and kills the process
before ``RecursionError`` could be raised. The scan must therefore come before any parsing.

It follows the parser up to its first error and no further (the parser stops there); where
the text is not JSON it errs on the side of counting too deep. JSON lines, which are parsed
line by line, are checked line by line (``ledger_api.ingest.parse``).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from itertools import accumulate

# Every JSON the product accepts nests a few levels (a grant batch: 4, a record: 1).
# Generous, and far from where any parser gets into trouble.
MAX_JSON_DEPTH = 64

_UTF8 = ("utf-8", "utf-8-sig")
_CONTROL = re.compile(rb"[\x00-\x1f]")  # never raw inside a JSON string
_BRACKETS_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_TOKENS = bytes(b for b in range(0x20, 256) if b not in b'"[]{}')


def _as_utf8(text: bytes) -> bytes | None:
    """The text as UTF-8, as ``json.loads`` reads bytes (it also accepts UTF-16 and UTF-32,
    whose code units may hold quote and bracket bytes); None if it cannot be decoded."""
    encoding = json.detect_encoding(text)
    if encoding in _UTF8:
        return text
    try:
        return text.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return None  # json.loads fails to decode it too, before parsing anything


def _structure(text: bytes) -> bytes:
    """The brackets outside JSON strings, up to the first string the parser would refuse."""
    if b"\\" in text:  # escaped backslashes first, then escaped quotes: as the parser reads
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only quotes, brackets and control characters matter, in their order; adjacent quotes
    # enclose a string or a gap between strings without any of them, and go in one pass.
    tokens = text.translate(None, _NOT_TOKENS).replace(b'""', b"")
    parts = tokens.split(b'"')  # odd parts are strings (the last may be unterminated)
    strings = parts[1::2]
    bad = _CONTROL.search(b"".join(strings))
    if bad is None:
        return b"".join(parts[::2])
    # The parser stops at a control character inside a string: nothing after it counts.
    first_bad = bisect_right(list(accumulate(map(len, strings))), bad.start())
    return b"".join(parts[: 2 * first_bad + 1 : 2])


def nesting_exceeds(text: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if parsing ``text`` as one JSON document could recurse deeper than ``limit``."""
    if text.count(b"[") + text.count(b"{") <= limit:
        return False  # the common case: too few brackets to nest that deep
    utf8 = _as_utf8(text)
    if utf8 is None:
        return False
    brackets = _structure(utf8).translate(_BRACKETS_AS_SQUARE, _NOT_BRACKETS)  # "[" and "]"
    too_deep_run = b"[" * (limit + 1)
    # Each round removes the innermost pairs, i.e. one level of every group; a run of
    # ``limit + 1`` openers is that deep already. Most texts need a round or two.
    for _ in range(limit):
        if too_deep_run in brackets:
            return True
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            break
        brackets = reduced
    if b"[]" in brackets:
        return True  # a group still standing after ``limit`` rounds
    # What is left is unbalanced, "]...][...[": each unclosed opener is a level the parser
    # enters before it finds the text's end.
    return brackets.count(b"[") > limit
