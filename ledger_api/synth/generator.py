"""Synthetic Henan enterprises with valid USCCs and records in every catalog category.

Deterministic by seed and streaming: enterprise ``i`` depends only on ``(seed, i)``, so
1,000,000 enterprises are generated one at a time in constant memory. Proportions are meant
to look like a real province: most enterprises are clean; a few per cent owe tax or social
insurance, have court judgments or administrative penalties.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ledger_api.catalog.loader import Catalog, default_catalog
from ledger_api.identity.uscc import check_character

Progress = Callable[[int, int | None], None]

# Prefecture-level divisions of Henan (GB/T 2260) with a rough weight by enterprise count.
PREFECTURES: tuple[tuple[str, str, str, int], ...] = (
    ("410100", "郑州", "Zhengzhou", 30),
    ("410200", "开封", "Kaifeng", 4),
    ("410300", "洛阳", "Luoyang", 9),
    ("410400", "平顶山", "Pingdingshan", 4),
    ("410500", "安阳", "Anyang", 4),
    ("410600", "鹤壁", "Hebi", 2),
    ("410700", "新乡", "Xinxiang", 5),
    ("410800", "焦作", "Jiaozuo", 3),
    ("410900", "濮阳", "Puyang", 3),
    ("411000", "许昌", "Xuchang", 4),
    ("411100", "漯河", "Luohe", 2),
    ("411200", "三门峡", "Sanmenxia", 2),
    ("411300", "南阳", "Nanyang", 7),
    ("411400", "商丘", "Shangqiu", 5),
    ("411500", "信阳", "Xinyang", 5),
    ("411600", "周口", "Zhoukou", 5),
    ("411700", "驻马店", "Zhumadian", 5),
    ("419001", "济源", "Jiyuan", 1),
)
# A few real county-level codes so division codes are not all prefecture-level.
_DISTRICTS = {
    "410100": ("410102", "410103", "410104", "410105", "410122", "410181", "410183"),
    "410300": ("410302", "410303", "410305", "410311", "410381"),
    "411300": ("411302", "411303", "411381"),
}
# GB/T 4754-2017 sections with a rough share of SMEs.
_SECTIONS = (
    ("A", 4), ("B", 1), ("C", 18), ("D", 1), ("E", 1), ("F", 8), ("G", 30), ("H", 4),
    ("I", 5), ("J", 1), ("K", 1), ("L", 3), ("M", 6), ("N", 4), ("O", 4), ("P", 2),
    ("Q", 1), ("R", 2), ("S", 1), ("T", 1),
)  # fmt: skip
_SECTION_WORDS = {
    "A": "农业", "B": "矿业", "C": "制造", "D": "能源", "E": "水务", "F": "建设",
    "G": "商贸", "H": "餐饮", "I": "科技", "J": "投资", "K": "置业", "L": "商务",
    "M": "技术", "N": "环境", "O": "家政", "P": "教育", "Q": "医疗", "R": "文化",
    "S": "服务", "T": "事务",
}  # fmt: skip
_BRAND = "华豫中原嵩岳黄河龙腾宏达鑫源汇通恒信瑞丰金盛天成博远兴隆伟业德昌永泰"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华志国红梅海峰"
_ENTERPRISE_TYPES = (
    ("limited_company", 70), ("sole_proprietorship", 8), ("partnership", 4),
    ("joint_stock_company", 5), ("individual_business", 8), ("state_owned", 2),
    ("foreign_invested", 1), ("cooperative", 2),
)  # fmt: skip
_ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_TODAY = date(2025, 6, 30)


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - 55  # GB 11714: A=10 ... Z=35


def organization_code(body8: str) -> str:
    """Append the GB 11714 check character to an 8-character organization code body."""
    check = 11 - sum(_org_value(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return body8 + ("X" if check == 10 else "0" if check == 11 else str(check))


def make_uscc(division: str, serial: int, kind: str = "91") -> str:
    """A valid USCC: registration kind (91 = enterprise under market regulation),
    six-digit division, organization code from ``serial``, GB 32100 check character."""
    body = f"{serial % 100_000_000:08d}"
    first17 = kind + division + organization_code(body)
    if any(c not in _ORG_CHARS for c in first17):  # 'X' check of GB 11714 is allowed
        raise ValueError("organization code outside the USCC charset")
    return first17 + check_character(first17)


def _id_number(rng: random.Random, division: str, born: date) -> str:
    first17 = f"{division}{born:%Y%m%d}{rng.randrange(1000):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _money(rng: random.Random, low: float, high: float) -> str:
    return f"{rng.uniform(low, high):.2f}"


def _months_back(count: int) -> list[str]:
    months = []
    year, month = _TODAY.year, _TODAY.month
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return months


_MONTHS = _months_back(36)


def _day(rng: random.Random, start: date, end: date = _TODAY) -> str:
    span = max((end - start).days, 1)
    return (start + timedelta(days=rng.randrange(span))).isoformat()


@dataclass(frozen=True)
class Enterprise:
    index: int
    uscc: str
    name: str
    division: str
    prefecture: str
    section: str
    enterprise_type: str
    established_on: date
    size: int  # employees
    risk: float  # 0 (clean) .. 1; drives arrears, judgments, penalties


def iter_enterprises(count: int, seed: int = 0) -> Iterator[Enterprise]:
    """Enterprises ``0 .. count-1`` for ``seed``, lazily."""
    weights = [w for *_, w in PREFECTURES]
    for index in range(count):
        rng = random.Random(seed * 1_000_003 + index)
        code, zh, _en, _w = rng.choices(PREFECTURES, weights=weights)[0]
        division = rng.choice(_DISTRICTS.get(code, (code,)))
        section = _weighted(rng, _SECTIONS)
        # serial: a bijection of index (7919 is coprime with 10^8), offset by the seed.
        serial = (index * 7919 + seed * 104_729) % 100_000_000
        established = _TODAY - timedelta(days=rng.randrange(180, 365 * 25))
        name = f"{zh}{rng.choice(_BRAND)}{rng.choice(_BRAND)}{_SECTION_WORDS[section]}有限公司"
        risk = rng.random() ** 6  # heavy tail: a few enterprises carry most of the risk
        yield Enterprise(
            index=index,
            uscc=make_uscc(division, serial),
            name=name,
            division=division,
            prefecture=code,
            section=section,
            enterprise_type=_weighted(rng, _ENTERPRISE_TYPES),
            established_on=established,
            size=max(1, int(rng.lognormvariate(2.3, 1.1))),
            risk=risk,
        )


def iter_records(enterprise: Enterprise, seed: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(category, row)`` pairs for one enterprise: every row valid against catalog v1."""
    e = enterprise
    rng = random.Random(f"{seed}/{e.index}/records")
    u = e.uscc
    established = e.established_on.isoformat()
    rep = _person(rng)
    born = date(rng.randrange(1955, 1998), rng.randrange(1, 13), rng.randrange(1, 29))
    yield "registration", {
        "uscc": u, "record_key": f"REG-{u}", "enterprise_name": e.name,
        "enterprise_type": e.enterprise_type, "industry_section": e.section,
        "division_code": e.division, "registered_capital": _money(rng, 10, 5000),
        "established_on": established,
        "business_status": "active" if rng.random() > 0.03 else "revoked",
        "registered_address": f"{e.name[:2]}市{rng.randrange(1, 300)}号",
        "legal_representative": rep, "legal_rep_id_number": _id_number(rng, e.division, born),
        "contact_phone": _phone(rng),
    }  # fmt: skip

    # Tax: quarterly VAT for the last 4 quarters plus a yearly grade.
    grade = "A" if e.risk < 0.01 else "B" if e.risk < 0.2 else "C" if e.risk < 0.5 else "D"
    for q, month in enumerate(_MONTHS[0:12:3]):
        arrears = e.risk > 0.7 and rng.random() < 0.6
        sales = rng.uniform(50_000, 5_000_000) * (1 + e.size / 50)
        yield "tax", {
            "uscc": u, "record_key": f"TAX-{u}-{month}-vat", "period": month, "tax_type": "vat",
            "taxable_sales": f"{sales:.2f}", "tax_paid": f"{sales * 0.03:.2f}",
            "arrears_amount": _money(rng, 1000, 200_000) if arrears else "0.00",
            "paid_on_time": not arrears, "tax_grade": grade if q == 0 else None,
        }  # fmt: skip

    # Social insurance and housing fund: the last 6 months.
    heads = max(1, e.size)
    for month in _MONTHS[:6]:
        owes = e.risk > 0.6 and rng.random() < 0.6
        yield "social_insurance", {
            "uscc": u, "record_key": f"SI-{u}-{month}", "month": month,
            "insured_headcount": heads, "contribution_base_total": f"{heads * 4500:.2f}",
            "paid_amount": f"{heads * 4500 * 0.3:.2f}",
            "arrears_months": rng.randrange(1, 7) if owes else 0,
            "arrears_amount": _money(rng, 2000, 80_000) if owes else "0.00",
        }  # fmt: skip
    if rng.random() < 0.6:
        for month in _MONTHS[:3]:
            yield "housing_fund", {
                "uscc": u, "record_key": f"HF-{u}-{month}", "month": month,
                "depositor_headcount": heads, "deposit_amount": f"{heads * 600:.2f}",
                "arrears_months": 1 if e.risk > 0.5 and rng.random() < 0.5 else 0,
            }  # fmt: skip

    # Utilities: the last 3 months.
    account = f"{e.division}{rng.randrange(10**8):08d}"
    for month in _MONTHS[:3]:
        late = e.risk > 0.4 and rng.random() < 0.4
        yield "utilities", {
            "uscc": u, "record_key": f"UT-{u}-{month}", "month": month, "account_no": account,
            "water_arrears": _money(rng, 50, 3000) if late else "0.00",
            "electricity_arrears": _money(rng, 100, 20_000) if late else "0.00",
            "gas_arrears": "0.00", "electricity_kwh": rng.randrange(500, 200_000),
        }  # fmt: skip

    # Judicial: ~4% of enterprises, more with risk.
    if rng.random() < 0.015 + 0.2 * e.risk:
        for n in range(1 + int(e.risk * 3)):
            year = rng.randrange(2019, 2026)
            yield "judicial", {
                "uscc": u, "record_key": f"JUD-{u}-{n}",
                "case_no": f"({year})豫{rng.randrange(100, 1800):04d}"
                f"民初{rng.randrange(1, 9999)}号",
                "case_type": rng.choice(("civil", "commercial", "enforcement")),
                "court": f"{e.name[:2]}市中级人民法院",
                "role": rng.choice(("defendant", "enforcee")),
                "judgment_date": _day(rng, date(year, 1, 1), min(date(year, 12, 31), _TODAY)),
                "amount": _money(rng, 5000, 2_000_000),
                "status": rng.choice(("judged", "enforcing", "closed", "dishonest_enforcee")),
            }  # fmt: skip

    # Administrative: licences for many, penalties for ~5%.
    if rng.random() < 0.3:
        yield "administrative", {
            "uscc": u, "record_key": f"LIC-{u}", "decision_no": f"豫许{rng.randrange(10**6):06d}",
            "decision_date": _day(rng, e.established_on), "authority": "市场监督管理局",
            "kind": "licence", "licence_name": "食品经营许可证" if e.section == "H" else "经营许可",
            "valid_until": _day(rng, _TODAY, _TODAY + timedelta(days=1800)),
        }  # fmt: skip
    if rng.random() < 0.02 + 0.2 * e.risk:
        yield "administrative", {
            "uscc": u, "record_key": f"PEN-{u}", "decision_no": f"豫罚{rng.randrange(10**6):06d}",
            "decision_date": _day(rng, date(2021, 1, 1)), "authority": "市场监督管理局",
            "kind": "penalty", "penalty_type": rng.choice(("warning", "fine", "confiscation")),
            "amount": _money(rng, 500, 100_000), "cause": "违反广告法相关规定",
        }  # fmt: skip

    # Environment: manufacturing, mining, energy.
    if e.section in "BCDE":
        rating = (
            "green" if e.risk < 0.1 else "blue" if e.risk < 0.4 else rng.choice(("yellow", "red"))
        )
        yield "environment", {
            "uscc": u, "record_key": f"ENV-{u}-2024", "assessed_on": _day(rng, date(2024, 1, 1)),
            "credit_rating": rating, "pollutant_permit_no": f"{u[:10]}{rng.randrange(10**4):04d}",
            "violation_type": "none" if rating in ("green", "blue") else "emission_exceeded",
        }  # fmt: skip

    if rng.random() < 0.35:
        yield "real_estate", {
            "uscc": u, "record_key": f"RE-{u}-1",
            "certificate_no": f"豫(2020){e.name[:2]}不动产权第{rng.randrange(10**7):07d}号",
            "property_type": rng.choice(("factory", "office", "land_use_right", "commercial")),
            "area_sqm": _money(rng, 50, 20_000), "location_division": e.division,
            "registered_on": _day(rng, e.established_on), "mortgaged": rng.random() < 0.4,
            "seized": e.risk > 0.6 and rng.random() < 0.3,
        }  # fmt: skip
    if e.section in "CIM" and rng.random() < 0.25:
        yield "rnd_technology", {
            "uscc": u, "record_key": f"RND-{u}",
            "qualification": rng.choice(("high_tech_enterprise", "tech_sme", "specialized_new")),
            "certificate_no": f"GR2023{rng.randrange(10**6):06d}", "awarded_on": "2023-12-08",
            "valid_until": "2026-12-07", "invention_patents": rng.randrange(0, 20),
            "utility_patents": rng.randrange(0, 60), "rnd_expense": _money(rng, 1e5, 2e7),
        }  # fmt: skip
    if rng.random() < 0.05:
        yield "financial_assets", {
            "uscc": u, "record_key": f"FA-{u}-1", "trade_no": f"ZYFAE{rng.randrange(10**8):08d}",
            "trade_date": _day(rng, date(2022, 1, 1)),
            "asset_type": rng.choice(("receivable", "bill", "equity")),
            "exchange": "中原股权交易中心", "amount": _money(rng, 1e5, 1e7),
            "counterparty_name": f"{rng.choice(_BRAND)}{rng.choice(_BRAND)}商业保理有限公司",
            "status": rng.choice(("traded", "settled")),
        }  # fmt: skip
    if e.section in "FGM" and rng.random() < 0.1:
        yield "public_resource_trading", {
            "uscc": u, "record_key": f"PRT-{u}-1",
            "project_code": f"HNGGZY{rng.randrange(10**8):08d}",
            "project_type": rng.choice(("construction", "government_procurement")),
            "award_date": _day(rng, date(2022, 1, 1)), "role": rng.choice(("winner", "bidder")),
            "award_amount": _money(rng, 1e5, 5e7), "breach_recorded": e.risk > 0.7,
        }  # fmt: skip
    if rng.random() < 0.08:
        yield "self_reported", {
            "uscc": u, "record_key": f"SR-{u}-1", "reported_on": _day(rng, date(2024, 1, 1)),
            "topic": rng.choice(("revenue", "employees", "orders")),
            "value_amount": _money(rng, 1e5, 1e8), "contact_name": rep,
            "contact_phone": _phone(rng),
        }  # fmt: skip
    if rng.random() < 0.1:
        yield "credit_commitments", {
            "uscc": u, "record_key": f"CC-{u}-1",
            "commitment_no": f"XYCN{rng.randrange(10**8):08d}",
            "commitment_type": rng.choice(("administrative_licence", "financing")),
            "signed_on": _day(rng, date(2023, 1, 1)), "signatory_name": rep,
            "fulfilled": rng.random() > e.risk,
        }  # fmt: skip
    if e.section in "CG" and rng.random() < 0.08:
        core = make_uscc("410100", (e.index * 31 + 17) % 100_000_000)
        confirmed = _day(rng, date(2025, 1, 1))
        yield "supply_chain", {
            "uscc": u, "record_key": f"SC-{u}-1", "core_enterprise_uscc": core,
            "invoice_no": f"{rng.randrange(10**8):08d}", "payable_amount": _money(rng, 1e4, 5e6),
            "confirmed_on": confirmed,
            "due_date": (date.fromisoformat(confirmed) + timedelta(days=180)).isoformat(),
            "status": rng.choice(("confirmed", "financed", "paid")),
        }  # fmt: skip


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def iter_all_records(count: int, seed: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    for enterprise in iter_enterprises(count, seed):
        for category, row in iter_records(enterprise, seed):
            yield category, _clean(row)


def write_jsonl(
    count: int,
    seed: int,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    catalog: Catalog | None = None,
) -> dict[str, int]:
    """Write ``<category>.jsonl`` for every catalog category; returns rows per category."""
    catalog = catalog or default_catalog()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        name: (out_dir / f"{name}.jsonl").open("w", encoding="utf-8")
        for name in catalog.category_names
    }
    counts = dict.fromkeys(catalog.category_names, 0)
    try:
        for enterprise in iter_enterprises(count, seed):
            for category, row in iter_records(enterprise, seed):
                files[category].write(json.dumps(_clean(row), ensure_ascii=False) + "\n")
                counts[category] += 1
            if progress is not None and (enterprise.index + 1) % 1000 == 0:
                progress(enterprise.index + 1, count)
    finally:
        for handle in files.values():
            handle.close()
    if progress is not None:
        progress(count, count)
    return counts
