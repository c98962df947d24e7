"""Verification predicates (核验): yes/no questions answered without returning data.

Each predicate reads one catalog category and takes one argument (months, a count or a tax
grade). ``evaluate`` returns only the boolean; the API signs a receipt around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ledger_api.errors import InputError
from ledger_api.saferoom.dates import month_key, within_months

Records = Sequence[dict[str, Any]]
# China's tax credit grades, best first; M is a new enterprise without history.
TAX_GRADE_RANK = {"A": 5, "B": 4, "M": 3, "C": 2, "D": 1}


def _zero(value: Any) -> bool:
    return value is None or Decimal(str(value)) == 0


@dataclass(frozen=True)
class Predicate:
    name: str
    category: str
    argument: str  # "months" | "count" | "grade"
    description: str
    test: Callable[[Records, Any, date], bool]

    def parse_argument(self, raw: str) -> Any:
        if self.argument == "grade":
            grade = raw.strip().upper()
            if grade not in TAX_GRADE_RANK:
                raise InputError(f"{self.name} takes a tax grade in {sorted(TAX_GRADE_RANK)}")
            return grade
        try:
            value = int(raw)
        except ValueError:
            raise InputError(f"{self.name} takes an integer {self.argument}") from None
        upper = 240 if self.argument == "months" else 1_000_000
        lower = 1 if self.argument == "months" else 0
        if not lower <= value <= upper:
            raise InputError(f"{self.name}: {self.argument} must be in {lower}..{upper}")
        return value


def _no_tax_arrears(records: Records, months: int, today: date) -> bool:
    return all(
        _zero(r.get("arrears_amount"))
        for r in records
        if within_months(r.get("period"), today, months)
    )


def _tax_grade_at_least(records: Records, grade: str, today: date) -> bool:
    graded = [r for r in records if r.get("tax_grade")]
    if not graded:
        return False
    latest = max(graded, key=lambda r: str(r.get("period", "")))
    return TAX_GRADE_RANK[str(latest["tax_grade"])] >= TAX_GRADE_RANK[grade]


def _insured_headcount_at_least(records: Records, count: int, today: date) -> bool:
    if not records:
        return False
    latest = max(records, key=lambda r: str(r.get("month", "")))
    return int(latest.get("insured_headcount") or 0) >= count


def _no_social_insurance_arrears(records: Records, months: int, today: date) -> bool:
    return all(
        int(r.get("arrears_months") or 0) == 0 and _zero(r.get("arrears_amount"))
        for r in records
        if within_months(r.get("month"), today, months)
    )


def _no_judgments_as_defendant(records: Records, months: int, today: date) -> bool:
    return not any(
        r.get("role") == "defendant" and within_months(r.get("judgment_date"), today, months)
        for r in records
    )


def _no_admin_penalties(records: Records, months: int, today: date) -> bool:
    return not any(
        r.get("kind") == "penalty" and within_months(r.get("decision_date"), today, months)
        for r in records
    )


def _no_utility_arrears(records: Records, months: int, today: date) -> bool:
    return all(
        _zero(r.get("water_arrears"))
        and _zero(r.get("electricity_arrears"))
        and _zero(r.get("gas_arrears"))
        for r in records
        if within_months(r.get("month"), today, months)
    )


PREDICATES: dict[str, Predicate] = {
    p.name: p
    for p in (
        Predicate(
            "no_tax_arrears_months",
            "tax",
            "months",
            "No tax arrears in the last N months",
            _no_tax_arrears,
        ),
        Predicate(
            "tax_grade_at_least",
            "tax",
            "grade",
            "Latest tax credit grade is at least G (A > B > M > C > D)",
            _tax_grade_at_least,
        ),
        Predicate(
            "insured_headcount_at_least",
            "social_insurance",
            "count",
            "Latest social-insurance headcount is at least N",
            _insured_headcount_at_least,
        ),
        Predicate(
            "no_social_insurance_arrears",
            "social_insurance",
            "months",
            "No social-insurance arrears in the last N months",
            _no_social_insurance_arrears,
        ),
        Predicate(
            "no_judgments_as_defendant",
            "judicial",
            "months",
            "No judgment as defendant in the last N months",
            _no_judgments_as_defendant,
        ),
        Predicate(
            "no_admin_penalties",
            "administrative",
            "months",
            "No administrative penalty in the last N months",
            _no_admin_penalties,
        ),
        Predicate(
            "no_utility_arrears",
            "utilities",
            "months",
            "No water, electricity or gas arrears in the last N months",
            _no_utility_arrears,
        ),
    )
}


def predicate(name: str) -> Predicate:
    try:
        return PREDICATES[name]
    except KeyError:
        raise InputError(
            f"unknown predicate {name!r}; known: {', '.join(sorted(PREDICATES))}",
            code="unknown_predicate",
        ) from None


def evaluate(name: str, argument: Any, records: Records, today: date) -> bool:
    return bool(predicate(name).test(records, argument, today))


__all__ = ["PREDICATES", "Predicate", "evaluate", "month_key", "predicate"]
