"""Risk rules, regions and industry sections: data in the catalog file, read here.

A rule names a category, an event kind and conditions that must all hold on a record's
fields (``in``: one of the values; ``gt``: a number above the threshold). A record that
matches several rules of one kind yields one event of that kind. An event is PUBLIC when
every field its rule reads is classified PUBLIC: only those go to public (region/industry)
push subscriptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from ledger_api.catalog.loader import Catalog, default_catalog
from ledger_api.errors import InputError


@dataclass(frozen=True)
class Condition:
    field: str
    values: frozenset[str] | None = None  # "in"
    above: Decimal | None = None  # "gt"

    def holds(self, fields: dict[str, Any]) -> bool:
        value = fields.get(self.field)
        if value is None:
            return False
        if self.values is not None:
            return str(value) in self.values
        assert self.above is not None
        try:
            return Decimal(str(value)) > self.above
        except InvalidOperation:
            return False


@dataclass(frozen=True)
class RiskRule:
    kind: str
    category: int
    conditions: tuple[Condition, ...]
    public: bool


@dataclass(frozen=True)
class Place:
    code: str
    name: str


@dataclass(frozen=True)
class MonitoringRules:
    by_category: dict[int, tuple[RiskRule, ...]]
    regions: dict[str, Place]
    industries: dict[str, Place]
    chain_kinds: dict[tuple[str, str | None], str]  # (event, outcome) -> kind
    # Stored as small integers (1-based positions in the catalog's lists), never as text: no
    # column holds a record's field value, not even one a rule or a profile derives from it.
    kind_names: tuple[str, ...]
    region_names: tuple[str, ...]
    industry_names: tuple[str, ...]

    def kind_code(self, kind: str) -> int:
        return self.kind_names.index(kind) + 1

    def kind_name(self, code: int) -> str:
        return self.kind_names[code - 1]

    def region_code(self, region: str | None) -> int | None:
        return None if region not in self.regions else self.region_names.index(region) + 1

    def industry_code(self, section: str | None) -> int | None:
        return None if section not in self.industries else self.industry_names.index(section) + 1

    def chain_kind(self, event: str, outcome: str | None = None) -> str | None:
        """The event kind a dispute event yields (``outcome``: a resolution's)."""
        return self.chain_kinds.get((event, outcome)) or self.chain_kinds.get((event, None))

    def events_of(self, category: int, fields: dict[str, Any]) -> list[tuple[str, bool]]:
        """The (kind, public) events a record of ``category`` with ``fields`` yields."""
        kinds: dict[str, bool] = {}
        for rule in self.by_category.get(category, ()):
            if rule.kind not in kinds and all(c.holds(fields) for c in rule.conditions):
                kinds[rule.kind] = rule.public
        return list(kinds.items())

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(r.kind for rules in self.by_category.values() for r in rules)


def region_of(division_code: str | None) -> str | None:
    """The region (prefecture, or the directly administered 419001) of a division code."""
    if not division_code or len(division_code) < 4:
        return None
    return "419001" if division_code.startswith("419001") else division_code[:4]


def parse_rules(catalog: Catalog) -> MonitoringRules:
    document = json.loads(catalog.canonical)
    by_category: dict[int, list[RiskRule]] = {}
    for raw in document.get("risk_rules", []):
        category = catalog.category(raw["category"])
        conditions = []
        for cond in raw["all"]:
            field = category.field(cond["field"])  # raises on a field the category lacks
            if "in" in cond:
                conditions.append(Condition(field.name, values=frozenset(cond["in"])))
            elif "gt" in cond:
                conditions.append(Condition(field.name, above=Decimal(cond["gt"])))
            else:
                raise InputError(f"risk rule {raw['kind']!r}: a condition needs 'in' or 'gt'")
        public = all(category.field(c.field).classification == "PUBLIC" for c in conditions)
        rule = RiskRule(str(raw["kind"]), category.bit, tuple(conditions), public)
        by_category.setdefault(category.bit, []).append(rule)
    chain_rules = document.get("chain_risk_rules", [])
    kinds = [str(r["kind"]) for r in [*document.get("risk_rules", []), *chain_rules]]
    return MonitoringRules(
        kind_names=tuple(dict.fromkeys(kinds)),
        region_names=tuple(p["code"] for p in document.get("regions", [])),
        industry_names=tuple(p["code"] for p in document.get("industry_sections", [])),
        by_category={bit: tuple(rules) for bit, rules in by_category.items()},
        regions={p["code"]: Place(p["code"], p["name"]) for p in document.get("regions", [])},
        industries={
            p["code"]: Place(p["code"], p["name"]) for p in document.get("industry_sections", [])
        },
        chain_kinds={(str(r["event"]), r.get("outcome")): str(r["kind"]) for r in chain_rules},
    )


@cache
def default_rules() -> MonitoringRules:
    return parse_rules(default_catalog())
