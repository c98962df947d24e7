"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with locally installed assets.

FastAPI's default pages load their JavaScript, CSS, favicon and fonts from CDNs, so they render
blank on a platform network without internet. Here the same pages (FastAPI's
``get_swagger_ui_html`` / ``get_redoc_html``) point at files this server serves itself, from the
npm packages ``swagger-ui-dist`` and ``redoc`` (pinned in package.json):

- ``CCL_WEB_ASSETS_DIR``: a directory holding ``swagger-ui-dist/`` and ``redoc/``, e.g. the
  ``node_modules`` of ``npm install swagger-ui-dist@5.35.0 redoc@2.5.4`` (a pip-installed
  server), else
- the ``node_modules`` of the source checkout this package runs from (``make setup``), else
- the working directory's ``node_modules``.

Without them the pages answer 503 ``docs_assets_missing`` naming the setting; the API itself
and ``/openapi.json`` are unaffected.

ReDoc's bundle hard-codes one outside fetch, its "API docs by Redocly" logo from cdn.redoc.ly
(no option turns it off in 2.5.4): the bundle is served with that URL pointed at a local image.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from ledger_api.errors import LedgerError
from ledger_api.settings import Settings

SWAGGER_UI = "swagger-ui-dist"
REDOC = "redoc"
SWAGGER_PREFIX = "/assets/swagger-ui"
REDOC_PREFIX = "/assets/redoc"
_CHECKOUT_NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


class DocsAssetsMissingError(LedgerError):
    code = "docs_assets_missing"
    status = 503
    title = "Documentation assets missing"


def web_assets_dir(settings: Settings) -> Path | None:
    """The directory holding the npm packages of the pages, or None if there is none."""
    candidates = [settings.web_assets_dir] if settings.web_assets_dir else []
    candidates += [_CHECKOUT_NODE_MODULES, Path.cwd() / "node_modules"]
    for candidate in candidates:
        if candidate is not None and _complete(candidate):
            return candidate
    return None


def _complete(directory: Path) -> bool:
    return (directory / SWAGGER_UI / "swagger-ui-bundle.js").is_file() and (
        directory / REDOC / "bundles" / "redoc.standalone.js"
    ).is_file()


def install_docs_pages(app: FastAPI, settings: Settings) -> None:
    """Serve ``/docs`` and ``/redoc`` (create the app with ``docs_url=redoc_url=None``)."""
    assets = web_assets_dir(settings)
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{SWAGGER_PREFIX}/favicon-32x32.png"
    if assets is not None:
        app.mount(SWAGGER_PREFIX, StaticFiles(directory=assets / SWAGGER_UI), name="swagger-ui")
        bundle = (assets / REDOC / "bundles" / "redoc.standalone.js").read_bytes()
        local_bundle = bundle.replace(REDOC_LOGO.encode(), favicon.encode())

        @app.get(f"{REDOC_PREFIX}/redoc.standalone.js", include_in_schema=False)
        async def redoc_bundle() -> Response:
            return Response(local_bundle, media_type="text/javascript")

    def require_assets() -> None:
        if assets is None:
            raise DocsAssetsMissingError(
                "the documentation pages need the npm packages swagger-ui-dist and redoc: set "
                "CCL_WEB_ASSETS_DIR to the node_modules directory holding them"
            )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        require_assets()
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} (Swagger UI)",
            swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
            swagger_favicon_url=favicon,
            # No badge from validator.swagger.io: the pages fetch nothing from outside.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        require_assets()
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} (ReDoc)",
            redoc_js_url=f"{REDOC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
