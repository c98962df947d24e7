"""A deterministic credit scorecard computed inside the safe room (scorecard v1).

Only the score, its band and reason codes leave; the records never do. Every factor is a
fixed number of points, so the same records on the same day always give the same score.

Base 600, clamped to 300..900. Bands: A >= 750, B >= 650, C >= 550, else D.

| category         | factor                                          | points            |
|------------------|-------------------------------------------------|-------------------|
| registration     | business status not active                      | -200              |
| registration     | established >= 5 years / >= 2 years             | +30 / +15         |
| tax              | latest grade A / B / M / C / D                  | +60/+30/0/-40/-80 |
| tax              | arrears in the last 12 months / none            | -60 / +20         |
| social_insurance | latest headcount >=50 / >=10 / >=1 / 0          | +40/+25/+10/-10   |
| social_insurance | arrears in the last 12 months                   | -50               |
| judicial         | each judgment as defendant in 24 months (max 4) | -30               |
| judicial         | listed as dishonest enforcee                    | -150              |
| administrative   | each penalty in 24 months (max 4)               | -25               |
| utilities        | arrears in the last 12 months                   | -30               |
| environment      | latest rating green/blue/yellow/red/black       | +20/+10/-10/-40/-80 |

Reason codes, in the same order: REG_NOT_ACTIVE, REG_ESTABLISHED_5Y / _2Y, TAX_GRADE_<G>,
TAX_ARREARS_12M / TAX_CLEAN_12M, SI_HEADCOUNT_50/10/1/0, SI_ARREARS_12M, JUD_DEFENDANT_24M,
JUD_DISHONEST, ADM_PENALTY_24M, UTIL_ARREARS_12M, ENV_<RATING>.

Which categories a score uses (``score_categories``): under a grant, exactly the scorecard
categories the grant covers, and no other. A scorecard category the grant does not cover is
not read and not assessed; its reason code ``NOT_ASSESSED_<CATEGORY>`` says it was missing.
Each category used must pass the grant check on its own (level VERIFY, purpose, agreement),
else the whole score is refused; a grant covering none of them is refused
(``category_not_granted``). The access-log entry of a score records the categories used
(``categories``), and the audit re-checks each against the grant at the checked block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger_api.saferoom.dates import within_months

if TYPE_CHECKING:
    from ledger_api.catalog.loader import Catalog

VERSION = "scorecard-v1"
BASE = 600
MIN_SCORE, MAX_SCORE = 300, 900
CATEGORIES = (
    "registration",
    "tax",
    "social_insurance",
    "judicial",
    "administrative",
    "utilities",
    "environment",
)
_TAX_GRADE_POINTS = {"A": 60, "B": 30, "M": 0, "C": -40, "D": -80}
_ENV_POINTS = {"green": 20, "blue": 10, "yellow": -10, "red": -40, "black": -80}

Records = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class ScoreResult:
    score: int
    band: str
    reason_codes: list[str]
    categories_used: list[str]
    version: str = VERSION


def _nonzero(value: Any) -> bool:
    return value is not None and Decimal(str(value)) != 0


def _latest(records: Records, key: str) -> dict[str, Any] | None:
    dated = [r for r in records if r.get(key)]
    return max(dated, key=lambda r: str(r[key])) if dated else None


def _registration(records: Records, today: date) -> list[tuple[int, str]]:
    latest = _latest(records, "established_on") or (records[-1] if records else None)
    if latest is None:
        return []
    out: list[tuple[int, str]] = []
    if latest.get("business_status") not in (None, "active"):
        out.append((-200, "REG_NOT_ACTIVE"))
    established = latest.get("established_on")
    if established:
        years = (today - date.fromisoformat(str(established))).days / 365.25
        if years >= 5:
            out.append((30, "REG_ESTABLISHED_5Y"))
        elif years >= 2:
            out.append((15, "REG_ESTABLISHED_2Y"))
    return out


def _tax(records: Records, today: date) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    graded = _latest([r for r in records if r.get("tax_grade")], "period")
    if graded is not None:
        grade = str(graded["tax_grade"])
        out.append((_TAX_GRADE_POINTS.get(grade, 0), f"TAX_GRADE_{grade}"))
    recent = [r for r in records if within_months(r.get("period"), today, 12)]
    if any(_nonzero(r.get("arrears_amount")) for r in recent):
        out.append((-60, "TAX_ARREARS_12M"))
    elif recent:
        out.append((20, "TAX_CLEAN_12M"))
    return out


def _social_insurance(records: Records, today: date) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    latest = _latest(records, "month")
    if latest is not None:
        headcount = int(latest.get("insured_headcount") or 0)
        for threshold, points in ((50, 40), (10, 25), (1, 10), (0, -10)):
            if headcount >= threshold:
                out.append((points, f"SI_HEADCOUNT_{threshold}"))
                break
    if any(
        int(r.get("arrears_months") or 0) > 0 or _nonzero(r.get("arrears_amount"))
        for r in records
        if within_months(r.get("month"), today, 12)
    ):
        out.append((-50, "SI_ARREARS_12M"))
    return out


def _judicial(records: Records, today: date) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    defendant = sum(
        1
        for r in records
        if r.get("role") == "defendant" and within_months(r.get("judgment_date"), today, 24)
    )
    if defendant:
        out.append((-30 * min(defendant, 4), "JUD_DEFENDANT_24M"))
    if any(r.get("status") == "dishonest_enforcee" for r in records):
        out.append((-150, "JUD_DISHONEST"))
    return out


def _administrative(records: Records, today: date) -> list[tuple[int, str]]:
    penalties = sum(
        1
        for r in records
        if r.get("kind") == "penalty" and within_months(r.get("decision_date"), today, 24)
    )
    return [(-25 * min(penalties, 4), "ADM_PENALTY_24M")] if penalties else []


def _utilities(records: Records, today: date) -> list[tuple[int, str]]:
    arrears = any(
        _nonzero(r.get("water_arrears"))
        or _nonzero(r.get("electricity_arrears"))
        or _nonzero(r.get("gas_arrears"))
        for r in records
        if within_months(r.get("month"), today, 12)
    )
    return [(-30, "UTIL_ARREARS_12M")] if arrears else []


def _environment(records: Records, today: date) -> list[tuple[int, str]]:
    latest = _latest(records, "assessed_on")
    if latest is None:
        return []
    rating = str(latest.get("credit_rating"))
    return [(_ENV_POINTS.get(rating, 0), f"ENV_{rating.upper()}")]


_FACTORS = {
    "registration": _registration,
    "tax": _tax,
    "social_insurance": _social_insurance,
    "judicial": _judicial,
    "administrative": _administrative,
    "utilities": _utilities,
    "environment": _environment,
}


def score_categories(catalog: Catalog, granted: int) -> list[int]:
    """The category bits a score under a grant of ``granted`` (bitmask) reads: the scorecard's
    categories the grant covers, in scorecard order (see the module docstring)."""
    bits = [catalog.category(name).bit for name in CATEGORIES]
    return [bit for bit in bits if granted >> bit & 1]


def band_of(score: int) -> str:
    for threshold, band in ((750, "A"), (650, "B"), (550, "C")):
        if score >= threshold:
            return band
    return "D"


def compute_score(records_by_category: Mapping[str, Records], today: date) -> ScoreResult:
    """Score from the categories present in ``records_by_category`` (the granted ones)."""
    score = BASE
    reasons: list[str] = []
    used: list[str] = []
    for category in CATEGORIES:
        if category not in records_by_category:
            reasons.append(f"NOT_ASSESSED_{category.upper()}")
            continue
        used.append(category)
        for points, code in _FACTORS[category](records_by_category[category], today):
            score += points
            reasons.append(code)
    score = max(MIN_SCORE, min(MAX_SCORE, score))
    return ScoreResult(score=score, band=band_of(score), reason_codes=reasons, categories_used=used)
