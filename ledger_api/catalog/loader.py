"""Load and validate a catalog version; compute its canonical hash for anchoring."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ledger_api.catalog.masking import MASKING_RULES
from ledger_api.errors import InputError, NotFoundError

FieldType = Literal["string", "integer", "decimal", "date", "boolean", "enum"]
Classification = Literal["PUBLIC", "RESTRICTED", "SENSITIVE"]
FIELD_TYPES: tuple[str, ...] = ("string", "integer", "decimal", "date", "boolean", "enum")
CLASSIFICATIONS: tuple[str, ...] = ("PUBLIC", "RESTRICTED", "SENSITIVE")
COMMON_FIELDS = ("uscc", "record_key")
MAX_CATEGORIES = 256  # the on-chain category bitmask is a uint256
DEFAULT_CATALOG = Path(__file__).with_name("catalog-v1.json")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool
    classification: Classification
    masking: str
    values: tuple[str, ...] = ()  # enum members
    pattern: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    scale: int | None = None  # decimal places kept for decimals
    description: str = ""


@dataclass(frozen=True)
class Category:
    name: str
    bit: int
    title: str
    title_zh: str
    fields: tuple[Field, ...]

    @property
    def mask(self) -> int:
        """This category's bit in the on-chain category bitmask."""
        return 1 << self.bit

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise NotFoundError(f"category {self.name!r} has no field {name!r}")

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    @property
    def has_public_fields(self) -> bool:
        """Whether the standard report can show anything of this category."""
        return any(f.classification == "PUBLIC" for f in self.fields)


@dataclass(frozen=True)
class Catalog:
    name: str
    version: int
    categories: tuple[Category, ...]
    common_fields: tuple[Field, ...]
    canonical: bytes  # canonical JSON of the whole file
    hash: bytes  # sha256(canonical): what publishing anchors

    def category(self, name_or_bit: str | int) -> Category:
        for category in self.categories:
            if name_or_bit in (category.name, category.bit):
                return category
        raise NotFoundError(f"unknown category {name_or_bit!r}", code="unknown_category")

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    @property
    def category_bits(self) -> tuple[int, ...]:
        return tuple(c.bit for c in self.categories)

    def bitmask(self, names: list[str] | tuple[str, ...]) -> int:
        mask = 0
        for name in names:
            mask |= self.category(name).mask
        return mask


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: one byte string per document."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def load_catalog(path: Path | str = DEFAULT_CATALOG) -> Catalog:
    """Read and validate a catalog file; raise InputError naming the first problem."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"catalog file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"catalog file {path} is not valid JSON: {exc}") from None
    return parse_catalog(document)


@cache
def default_catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG)


def parse_catalog(document: Any) -> Catalog:
    if not isinstance(document, dict):
        raise InputError("catalog must be a JSON object")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError("catalog 'version' must be a positive integer")
    raw_common = document.get("common_fields")
    common = tuple(_parse_field(f, "common_fields") for f in _list(raw_common, "common_fields"))
    if tuple(f.name for f in common) != COMMON_FIELDS:
        raise InputError(f"catalog common_fields must be {list(COMMON_FIELDS)}")
    categories: list[Category] = []
    for raw in _list(document.get("categories"), "categories"):
        categories.append(_parse_category(raw))
    names = [c.name for c in categories]
    bits = [c.bit for c in categories]
    if len(set(names)) != len(names):
        raise InputError("catalog category names must be unique")
    if len(set(bits)) != len(bits):
        raise InputError("catalog category bits must be unique")
    canonical = canonical_json(document)
    return Catalog(
        name=str(document.get("catalog", "")),
        version=version,
        categories=tuple(sorted(categories, key=lambda c: c.bit)),
        common_fields=common,
        canonical=canonical,
        hash=hashlib.sha256(canonical).digest(),
    )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InputError(f"catalog {where} must be a non-empty list")
    return value


def _parse_category(raw: Any) -> Category:
    if not isinstance(raw, dict):
        raise InputError("each catalog category must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"bad category name {name!r}")
    bit = raw.get("bit")
    if not isinstance(bit, int) or isinstance(bit, bool) or not 0 <= bit < MAX_CATEGORIES:
        raise InputError(f"category {name}: 'bit' must be an integer in 0..{MAX_CATEGORIES - 1}")
    fields = tuple(_parse_field(f, name) for f in _list(raw.get("fields"), f"{name}.fields"))
    field_names = [f.name for f in fields]
    if len(set(field_names)) != len(field_names):
        raise InputError(f"category {name}: field names must be unique")
    if set(field_names) & set(COMMON_FIELDS):
        raise InputError(f"category {name}: {list(COMMON_FIELDS)} are common fields")
    return Category(
        name=name,
        bit=bit,
        title=str(raw.get("title", name)),
        title_zh=str(raw.get("title_zh", "")),
        fields=fields,
    )


def _parse_field(raw: Any, where: str) -> Field:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: each field must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{where}: bad field name {name!r}")
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise InputError(f"{where}.{name}: type must be one of {', '.join(FIELD_TYPES)}")
    classification = raw.get("classification")
    if classification not in CLASSIFICATIONS:
        raise InputError(f"{where}.{name}: classification must be one of {CLASSIFICATIONS}")
    masking = raw.get("masking", "none")
    if masking not in MASKING_RULES:
        raise InputError(f"{where}.{name}: unknown masking rule {masking!r}")
    if classification == "SENSITIVE" and masking == "none":
        raise InputError(f"{where}.{name}: a SENSITIVE field needs a masking rule")
    required = raw.get("required")
    if not isinstance(required, bool):
        raise InputError(f"{where}.{name}: 'required' must be true or false")
    values = raw.get("values", [])
    if ftype == "enum" and (
        not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values)
    ):
        raise InputError(f"{where}.{name}: an enum needs a non-empty list of string 'values'")
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InputError(f"{where}.{name}: bad pattern: {exc}") from None
    return Field(
        name=name,
        type=ftype,
        required=required,
        classification=classification,
        masking=masking,
        values=tuple(values),
        pattern=pattern,
        max_length=raw.get("max_length"),
        minimum=raw.get("minimum"),
        scale=raw.get("scale"),
        description=str(raw.get("description", "")),
    )
