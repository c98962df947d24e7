"""The OpenAPI document declares the request-signing scheme and the X-CCL-* headers on every
signed operation, and only there; /docs and /redoc are served from local assets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api_support import Api, ApiWorld, make_api
from world import World

from ledger_api.api import docs_pages
from ledger_api.api.openapi_signing import SECURITY_REQUIREMENT, security_schemes
from ledger_api.settings import Settings

HEADERS = {"X-CCL-Address", "X-CCL-Timestamp", "X-CCL-Nonce", "X-CCL-Signature"}
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/v1/chain"),
    ("get", "/v1/institutions/{address}"),
    # what a receipt's checker reads from the chain through the platform (access receipts)
    ("get", "/v1/receipts/anchors/{root}"),
    ("get", "/v1/receipts/grant-check"),
    ("get", "/v1/financing/products"),
    ("get", "/v1/financing/products/{product_id}"),
}
METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_signed_operation_declares_the_scheme_and_its_headers(api: Api) -> None:
    document = api.http.get("/openapi.json").json()
    assert document["components"]["securitySchemes"] == security_schemes()
    operations = _operations(document)
    assert len(operations) > 20
    for method, path, operation in operations:
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
            assert not headers & HEADERS, (method, path)
            continue
        assert operation.get("security") == [SECURITY_REQUIREMENT], (method, path)
        assert headers >= HEADERS, (method, path)
        required = {p["name"] for p in operation["parameters"] if p.get("required")}
        assert required >= HEADERS, (method, path)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_operations_declared_signed_refuse_an_unsigned_request(api: Api) -> None:
    document = api.http.get("/openapi.json").json()
    for method, path, operation in _operations(document):
        if "security" not in operation:
            continue
        response = api.http.request(method.upper(), _concrete(path))
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "missing_signature", (method, path)


def test_operations_declared_public_answer_an_unsigned_request(api: Api, world: World) -> None:
    for path in (
        "/healthz",
        "/v1/chain",
        f"/v1/institutions/{world.bank.address}",
        "/v1/receipts/anchors/0x" + "00" * 32,
    ):
        assert api.http.get(path).status_code == 200, path


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_load_only_local_assets(api: Api, page: str) -> None:
    response = api.http.get(page)
    assert response.status_code == 200
    html = response.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(source.startswith("/") for source in sources), sources
    assert "http://" not in html and "https://" not in html, html
    for source in sources:
        asset = api.http.get(source)
        assert asset.status_code == 200, source
        # ReDoc's bundle hard-codes its logo from a CDN: served pointing at a local image.
        assert "cdn.redoc.ly" not in asset.text, source


def test_documentation_pages_without_assets_name_the_setting(
    api_world: ApiWorld, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs_pages, "_CHECKOUT_NODE_MODULES", tmp_path / "none")
    monkeypatch.chdir(tmp_path)
    bare = make_api(api_world, world, tmp_path, web_assets_dir=tmp_path / "empty")
    try:
        response = bare.http.get("/docs")
        assert response.status_code == 503
        assert response.json()["code"] == "docs_assets_missing"
        assert "CCL_WEB_ASSETS_DIR" in response.json()["detail"]
        assert bare.http.get("/openapi.json").status_code == 200
    finally:
        bare.ctx.close()
        bare.ctx.engine.dispose()


def test_documentation_pages_use_the_configured_assets_directory(
    api_world: ApiWorld, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pip-installed server has no checkout: CCL_WEB_ASSETS_DIR names the npm packages."""
    installed = docs_pages._CHECKOUT_NODE_MODULES
    monkeypatch.setattr(docs_pages, "_CHECKOUT_NODE_MODULES", tmp_path / "none")
    monkeypatch.chdir(tmp_path)
    assets = tmp_path / "web-assets"
    assets.mkdir()
    for package in (docs_pages.SWAGGER_UI, docs_pages.REDOC):
        (assets / package).symlink_to(installed / package, target_is_directory=True)
    monkeypatch.setenv("CCL_WEB_ASSETS_DIR", str(assets))
    settings = Settings()
    assert settings.web_assets_dir == assets
    served_api = make_api(api_world, world, tmp_path, web_assets_dir=settings.web_assets_dir)
    try:
        for page in ("/docs", "/redoc", "/assets/swagger-ui/swagger-ui.css"):
            assert served_api.http.get(page).status_code == 200, page
    finally:
        served_api.ctx.close()
        served_api.ctx.engine.dispose()
