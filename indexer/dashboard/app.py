"""The dashboard's web app (Starlette): one route per page, CSV for every table, Chart.js.

``create_dashboard(engine, ...)`` builds it; ``ccl-indexer dashboard`` serves it alone and the
embedded stack mounts it under /dashboard. It only reads the replica and the access log.
Requests from anywhere but this machine are refused (403) whatever address it is bound to:
the dashboard has no login of its own (docs/dashboard.md says why).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from indexer.audit_filters import FilterError
from indexer.dashboard.access_counts import AccessCounts
from indexer.dashboard.assets import chart_js_path
from indexer.dashboard.filters import parse_filters
from indexer.dashboard.i18n import language, text, value
from indexer.dashboard.names import Names
from indexer.dashboard.page import Page
from indexer.dashboard.pages import PAGES, PageContext
from indexer.dashboard.violation_cache import ViolationCache
from indexer.dashboard.warm_up import WarmUp
from indexer.replica import checksum_address
from ledger_api.chain.types import Purpose
from ledger_api.financing.kpis import GROUP_BYS

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.filters["value"] = value
TEMPLATES.env.filters["urlencode_params"] = lambda params, **extra: urlencode(
    {k: v for k, v in {**params, **extra}.items() if k != "csv" or "csv" in extra}
)
# Rows a table shows on the page; its CSV has them all (a million entries make tens of
# thousands of daily groups, which no one reads in a browser).
SHOWN_ROWS = 500
# URL path of each page below the dashboard's root.
PATHS = {
    "overview": "/",
    "violations": "/violations",
    "access": "/access",
    "grants": "/grants",
    "anchors": "/anchors",
    "enterprise": "/enterprise",
    "institution": "/institution",
    "kpis": "/kpis",
}


def is_loopback(host: str | None) -> bool:
    if host in (None, "testclient", "localhost"):  # starlette's TestClient: same process
        return host is not None
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def create_dashboard(
    engine: Engine,
    *,
    pseudonym_key: bytes | None = None,
    indexer_lag: Callable[[], int | None] | None = None,
    warm_up: bool = False,
) -> Starlette:
    """The dashboard over ``engine``'s replica; ``pseudonym_key`` turns a USCC into its subject
    id (the enterprise page), ``indexer_lag`` reports how far the replica is behind the chain;
    ``warm_up`` reads the whole log in the background now instead of at the first page
    (``warm_up.py``; the running pass is ``app.state.warm_up``)."""
    chart_js = chart_js_path()
    # Institution filters checksum addresses with web3, whose first import takes seconds:
    # paid at start, not by the first filtered page.
    checksum_address("0x" + "00" * 20)
    access_counts = AccessCounts()
    violation_cache = ViolationCache()

    def page_route(key: str) -> Callable[[Request], Any]:
        def endpoint(request: Request) -> Response:
            if not _from_this_machine(request):
                return _refused()
            lang = language(request.query_params.get("lang"))
            params = dict(request.query_params)
            with Session(engine) as session:
                names = Names.load(session.connection(), lang)
                try:
                    filters = parse_filters(session.connection(), params)
                    ctx = PageContext(session, filters, names, lang, params, pseudonym_key,
                                      indexer_lag, access_counts, violation_cache)  # fmt: skip
                    page = PAGES[key](ctx)
                except FilterError as error:
                    page = Page(key, text(key, lang), message=f"{error.field}: {error.problem}")
                    filters = None
            wanted = params.get("csv")
            if wanted is not None:
                return _csv(page, wanted)
            return TEMPLATES.TemplateResponse(
                request,
                "page.html",
                {
                    "root": request.scope.get("root_path", "").rstrip("/"),
                    "page": page,
                    "lang": lang,
                    "t": lambda k: text(k, lang),
                    "nav": [(k, PATHS[k].lstrip("/")) for k in PATHS],
                    "params": params,
                    "filters": filters,
                    "categories": names.category_choices(),
                    "purposes": [p.name.lower() for p in Purpose],
                    "group_bys": GROUP_BYS,
                    "institutions": sorted(names.institutions.items(), key=lambda i: i[1]),
                    "charts_available": chart_js is not None,
                    "shown_rows": SHOWN_ROWS,
                },
                status_code=200 if filters is not None else 422,
            )

        return endpoint

    def chart_asset(request: Request) -> Response:
        if not _from_this_machine(request):
            return _refused()
        if chart_js is None:
            return PlainTextResponse("Chart.js is not installed (docs/dashboard.md)", 404)
        return FileResponse(chart_js, media_type="text/javascript")

    routes = [Route(path, page_route(key), name=key) for key, path in PATHS.items()]
    routes.append(Route("/assets/chart.umd.js", chart_asset, name="chart_js"))
    app = Starlette(routes=routes)
    app.state.warm_up = None
    if warm_up:
        app.state.warm_up = WarmUp(engine, access_counts, violation_cache)
        app.state.warm_up.start()
    return app


def _refused() -> Response:
    return PlainTextResponse("the dashboard is served to this machine only", 403)


def _from_this_machine(request: Request) -> bool:
    return is_loopback(request.client.host if request.client else None)


def _csv(page: Page, key: str) -> Response:
    table = page.table(key)
    if table is None:
        return PlainTextResponse(f"no table {key!r} on this page", 404)
    # A byte-order mark so that spreadsheet programs read the Chinese names as UTF-8.
    return Response(
        "\ufeff" + table.csv_text(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{page.key}-{key}.csv"'},
    )
