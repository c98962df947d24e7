"""The dashboard's words in Chinese (the default) and English (``?lang=en``).

Enum values (purposes, decisions, reasons, statuses) are shown by name in the page's language;
a value without a translation is shown as its code, so a new enum member never breaks a page.
"""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_TEXT: dict[str, tuple[str, str]] = {
    # navigation and page titles
    "app_title": ("融资信用服务平台 · 监管看板", "Credit Consent Ledger · Regulator dashboard"),
    "overview": ("总览", "Overview"),
    "violations": ("违规访问", "Violations"),
    "access": ("访问情况", "Access"),
    "grants": ("授权与协议", "Grants and agreements"),
    "anchors": ("上链存证", "Anchors"),
    "enterprise": ("企业查询", "Enterprise"),
    "institution": ("机构查询", "Institution"),
    "kpis": ("融资指标", "Financing KPIs"),
    # filters
    "since": ("起始日期", "From"),
    "until": ("截止日期", "To"),
    "category": ("信息类别", "Category"),
    "institution_filter": ("机构", "Institution"),
    "purpose": ("用途", "Purpose"),
    "uscc": ("统一社会信用代码", "USCC"),
    "apply": ("筛选", "Apply"),
    "group_by": ("分组", "Group by"),
    "group_by_month": ("按月份", "By month"),
    "group_by_region": ("按地区", "By region"),
    "group_by_industry": ("按行业", "By industry"),
    "group_by_institution": ("按机构", "By institution"),
    "kpis_all_time": (
        "融资指标为全部时间的累计数，不受日期、类别和用途筛选影响",
        "Financing KPIs cover all time: the date, category and purpose filters do not apply",
    ),
    "any": ("全部", "Any"),
    "csv": ("导出 CSV", "Export CSV"),
    "no_rows": ("无记录", "No rows"),
    "more_rows": (
        "显示前 %d 行，共 %d 行；CSV 含全部",
        "First %d of %d rows shown; the CSV has all",
    ),
    "utc_note": ("日期按 UTC 自然日计算", "Dates are UTC days"),
    "localhost_only": ("仅限本机访问", "Served to this machine only"),
    "charts_missing": (
        "图表脚本 (Chart.js) 未安装，仅显示表格",
        "Chart.js is not installed; tables only",
    ),
    # KPIs
    "records": ("采集信息条数", "Records collected"),
    "enterprises_bound": ("已注册企业", "Enterprises registered"),
    "enterprises_covered": ("已覆盖企业", "Enterprises covered"),
    "grants_active": ("有效授权", "Active grants"),
    "institutions": ("接入机构", "Institutions"),
    "accesses_allowed": ("放行访问", "Accesses allowed"),
    "accesses_denied": ("拒绝访问", "Accesses denied"),
    "indexer_lag": ("索引延迟（区块）", "Indexer lag (blocks)"),
    "indexed_block": ("已索引区块", "Indexed block"),
    "last_verified_anchor": ("最近核验通过的存证", "Last verified anchor"),
    "violation_count": ("违规访问数", "Violations"),
    "credit_loans": ("信用贷款笔数", "Credit loans"),
    "credit_loan_amount": ("信用贷款金额（元）", "Credit loan amount (yuan)"),
    "pure_credit_share": ("纯信用贷款占比", "Pure-credit share"),
    "first_loans": ("首贷笔数", "First loans"),
    "renewals_without_repayment": ("无还本续贷笔数", "Renewals without principal repayment"),
    "violations_healthy": ("健康系统中应为零", "Zero in a healthy system"),
    "applications": ("贷款申请笔数", "Applications"),
    "decisions": ("已决定笔数", "Decisions"),
    "median_days_to_decision": ("申请至决定中位天数", "Median days to decision"),
    "enterprises_registered": ("已注册企业", "Enterprises registered"),
    "enterprises_whitelisted": ("白名单企业", "Enterprises on the white list"),
    "enterprises_with_loan": ("获贷企业", "Enterprises with a loan"),
    "share_with_loan": ("覆盖企业获贷率", "Share of covered enterprises with a loan"),
    # table titles
    "records_by_category_provider": ("按类别和提供方的采集量", "Records by category and provider"),
    "usage_by_institution": ("各机构使用情况", "Usage by institution"),
    "loans_by_month": ("按放款月份的信用贷款", "Credit loans by month granted"),
    "kpis_by_group": ("分组融资指标", "Financing KPIs by group"),
    "records_by_group": ("分组采集量（按类别和提供方）", "Records by group, category and provider"),
    "loans_by_group": ("各组信用贷款笔数", "Credit loans per group"),
    "access_by_day": ("每日访问（按机构）", "Accesses per day by institution"),
    "access_by_purpose": ("按用途的访问", "Accesses by purpose"),
    "access_by_category": ("按类别的访问", "Accesses by category"),
    "denials_by_reason": ("拒绝原因", "Denials by reason"),
    "grant_events": ("授权发放与撤销", "Grants issued and revoked"),
    "grants_by_day": ("每日授权变化", "Grants per day"),
    "agreement_history": ("数据共享协议及状态", "Agreements and their status"),
    "anchor_list": ("存证及核验状态", "Anchors and their verification"),
    "enterprise_accesses": ("该企业被访问记录", "Accesses to this enterprise"),
    "enterprise_grants": ("该企业的授权", "Grants of this enterprise"),
    "enterprise_disputes": ("异议与信用修复", "Disputes and credit repair"),
    "institution_volumes": ("该机构访问量", "This institution's accesses"),
    "institution_profile": ("机构档案", "Institution profile"),
    "unknown_enterprise": (
        "该代码未在链上注册，或不是有效的统一社会信用代码",
        "Not registered on chain, or not a valid USCC",
    ),
    # column headers
    "day": ("日期", "Day"),
    "month": ("月份", "Month"),
    "group": ("代码", "Code"),
    "unknown": ("未知", "Unknown"),
    "region": ("地区", "Region"),
    "industry": ("行业", "Industry"),
    "at": ("时间", "Time"),
    "name": ("名称", "Name"),
    "address": ("地址", "Address"),
    "provider": ("提供方", "Provider"),
    "queries": ("查询", "Queries"),
    "verifications": ("核验", "Verifications"),
    "denied": ("拒绝", "Denied"),
    "allowed": ("放行", "Allowed"),
    "total": ("合计", "Total"),
    "reason": ("原因", "Reason"),
    "decision": ("结果", "Decision"),
    "action": ("操作", "Action"),
    "event": ("事件", "Event"),
    "grant_id": ("授权编号", "Grant"),
    "categories": ("信息类别", "Categories"),
    "level": ("级别", "Level"),
    "not_after": ("到期", "Expires"),
    "status": ("状态", "Status"),
    "agreement_id": ("协议编号", "Agreement"),
    "sequence": ("序号", "Sequence"),
    "kind": ("类型", "Kind"),
    "leaf_count": ("叶子数", "Leaves"),
    "block": ("区块", "Block"),
    "dispute_id": ("异议编号", "Dispute"),
    "outcome": ("处理结果", "Outcome"),
    "violation": ("违规类型", "Violation"),
    "subject_id": ("企业匿名标识", "Subject id"),
    "count": ("数量", "Count"),
    "issued": ("发放", "Issued"),
    "revoked": ("撤销", "Revoked"),
    "expired": ("到期", "Expired"),
    "suspended": ("暂停", "Suspended"),
    "type": ("类型", "Type"),
}

# Enum names (lowercase, as the audit views return them) -> (zh, en).
_VALUES: dict[str, tuple[str, str]] = {
    "loan_application": ("贷款申请", "Loan application"),
    "post_loan_monitoring": ("贷后管理", "Post-loan monitoring"),
    "guarantee": ("担保", "Guarantee"),
    "insurance_underwriting": ("保险承保", "Insurance underwriting"),
    "credit_rating": ("信用评级", "Credit rating"),
    "supply_chain_finance": ("供应链金融", "Supply-chain finance"),
    "verify": ("核验", "Verify"),
    "query": ("查询", "Query"),
    "detail": ("明细", "Detail"),
    "records": ("查询记录", "Records"),
    "score": ("信用评分", "Score"),
    "allowed": ("放行", "Allowed"),
    "denied": ("拒绝", "Denied"),
    "issued": ("发放", "Issued"),
    "revoked": ("撤销", "Revoked"),
    "proposed": ("待签署", "Proposed"),
    "active": ("生效", "Active"),
    "suspended": ("暂停", "Suspended"),
    "terminated": ("终止", "Terminated"),
    "superseded": ("已替换", "Superseded"),
    "withdrawn": ("已撤回", "Withdrawn"),
    "verified": ("核验通过", "Verified"),
    "missing_on_chain": ("链上缺失", "Missing on chain"),
    "root_mismatch": ("根不一致", "Root mismatch"),
    "data_batch": ("数据批次", "Data batch"),
    "access_log": ("访问日志", "Access log"),
    "objection": ("异议", "Objection"),
    "credit_repair": ("信用修复", "Credit repair"),
    "open": ("处理中", "Open"),
    "resolved": ("已处理", "Resolved"),
    "upheld": ("异议成立", "Upheld"),
    "rejected": ("驳回", "Rejected"),
    "repaired": ("已修复", "Repaired"),
    "none": ("—", "—"),
    "ok": ("通过", "OK"),
    "unknown_grant": ("授权不存在", "Unknown grant"),
    "expired": ("授权已过期", "Grant expired"),
    "not_yet_valid": ("授权未生效", "Grant not yet valid"),
    "category_not_granted": ("未授权该类别", "Category not granted"),
    "purpose_mismatch": ("用途不符", "Purpose mismatch"),
    "level_too_low": ("授权级别不足", "Level too low"),
    "no_agreement": ("无共享协议", "No agreement"),
    "agreement_not_active": ("协议未生效", "Agreement not active"),
    "institution_suspended": ("机构已暂停", "Institution suspended"),
    "wrong_institution": ("非被授权机构", "Wrong institution"),
    "no_grant": ("无授权", "No grant"),
}


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def text(key: str, lang: str) -> str:
    """The UI string ``key`` in ``lang``; the key itself when none is defined."""
    pair = _TEXT.get(key)
    return key if pair is None else pair[LANGUAGES.index(lang)]


def value(code: object, lang: str) -> str:
    """An enum value (``loan_application``) in words; other values as given."""
    if code is None:
        return ""
    pair = _VALUES.get(str(code))
    return str(code) if pair is None else pair[LANGUAGES.index(lang)]
