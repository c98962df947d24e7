"""The fast path of JSON-lines validation: rows already in normal form, checked by msgspec.

Most rows a provider sends are already what ``RowValidator`` would make of them: strings as
strings, amounts as ``"1234.50"``, dates as ``YYYY-MM-DD``, the USCC upper-case. For those,
one msgspec decode into a per-category struct (compiled from the catalog: types, lengths,
patterns, required and unknown fields) checks the whole line in C, and encoding the struct
gives the row's canonical JSON (sorted keys, no whitespace, UTF-8: the same bytes
``RowValidator.canonical`` writes).

The struct accepts only values the validator would keep unchanged, so for every line it
accepts, the result is the validator's. Anything else (a coercion such as ``"12"`` for an
integer or ``"7.5"`` for an amount, an empty optional field, a bad row) is refused here and
takes the validator's path, which words the errors.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ledger_api.catalog.loader import Field
from ledger_api.ingest.validate import RowValidator

# The USCC charset (GB 32100: digits and capitals without I, O, S, V, Z) in normal form; the
# check digit is verified by the validator's (memoised) USCC check.
_USCC_PATTERN = r"\A[0-9A-HJ-NPQRTUWXY]{18}\Z"


def _anchored(pattern: str) -> str:
    """``pattern`` as ``re.fullmatch`` applies it (msgspec searches)."""
    return r"\A(?:" + pattern + r")\Z"


def _normal_form(field: Field) -> Any:
    """The type of ``field``'s values that normalising leaves unchanged."""
    if field.type == "string":
        # Non-empty: an empty value means "no value", which the validator handles.
        return Annotated[
            str,
            Meta(
                min_length=1,
                max_length=field.max_length,
                pattern=None if field.pattern is None else _anchored(field.pattern),
            ),
        ]
    if field.type == "enum":
        return Literal[tuple(field.values)]
    if field.type == "integer":
        return Annotated[int, Meta(ge=field.minimum)]
    if field.type == "boolean":
        return bool
    if field.type == "date":
        return datetime.date  # YYYY-MM-DD and a calendar date, as the validator requires
    if field.type == "decimal":
        # The validator's output: no sign, no leading zero, exactly ``scale`` decimals.
        scale = 2 if field.scale is None else field.scale
        fraction = rf"\.[0-9]{{{scale}}}" if scale else ""
        return Annotated[str, Meta(pattern=rf"\A(?:0|[1-9][0-9]{{0,29}}){fraction}\Z")]
    raise ValueError(f"no normal form for field type {field.type!r}")


def _row_struct(validator: RowValidator) -> type[msgspec.Struct]:
    category = validator.category
    fields: dict[str, tuple[Any, bool]] = {
        "uscc": (Annotated[str, Meta(pattern=_USCC_PATTERN)], True),
        # Not blank: \S is "not str.isspace()", the validator's strip() test.
        "record_key": (
            Annotated[str, Meta(min_length=1, max_length=validator.key_max, pattern=r"\S")],
            True,
        ),
    }
    for field in category.fields:
        fields[field.name] = (_normal_form(field), field.required)
    # Declared in key order: the encoder then writes the canonical (sorted) key order, and
    # leaves out optional fields that were absent or null, as normalising does.
    spec: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (name, kind) if required else (name, kind | None, None)
        for name, (kind, required) in sorted(fields.items())
    ]
    return msgspec.defstruct(
        f"NormalRow_{category.name}",
        spec,
        kw_only=True,
        forbid_unknown_fields=True,
        omit_defaults=True,
    )


class StrictDecoder:
    """Checks JSON lines of one category that are already in normal form."""

    def __init__(self, validator: RowValidator) -> None:
        self._validator = validator
        self._decode = msgspec.json.Decoder(_row_struct(validator))
        self._encode = msgspec.json.Encoder().encode

    def canonical(self, line: str) -> tuple[str, str, bytes] | None:
        """``(uscc, record_key, canonical JSON)`` of a valid line in normal form, else None
        (then the validator decides)."""
        try:
            row: Any = self._decode.decode(line)
        except msgspec.DecodeError:  # also a ValidationError
            return None
        uscc: str = row.uscc
        normal, problem = self._validator.checked_uscc(uscc)
        if problem is not None or normal != uscc:
            return None
        return uscc, row.record_key, self._encode(row)
