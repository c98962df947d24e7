"""The three recipes of docs/request-signing.md (curl + a small script, Python with eth-account
only, JavaScript with ethers v6 under node) sign requests a real uvicorn server accepts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from live_server import served
from world import USCCS, World

from ledger_api.api.signing import canonical_query_string

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "recipes"
REPORT = f"/v1/institution/subjects/{USCCS[0]}/report"
# Out of order, repeated-free, with characters each encoder treats differently.
TRICKY_QUERY = "purpose=loan_application&note=a b+c!*'()~&%E9%83%91=%E5%B7%9E&empty="


@pytest.fixture
def api_url(api: Api) -> Iterator[str]:
    with served(api.http.app) as url:
        yield url


def _run(argv: list[str], world: World, api_url: str, path: str | None = None) -> str:
    """The recipe's output; the bank's key reaches it through the environment."""
    env = {
        **os.environ,
        "CCL_KEY": "0x" + bytes(world.bank.account.key).hex(),
        "CCL_API_URL": api_url,
        "PATH": path or os.environ["PATH"],
    }
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _report_of(stdout: str) -> dict[str, object]:
    """The JSON body after the status line (curl prints the body alone)."""
    lines = stdout.strip().splitlines()
    if lines[0] == "200":
        lines = lines[1:]
    body: dict[str, object] = json.loads("\n".join(lines))
    return body


def _assert_bank_read_the_report(body: dict[str, object]) -> None:
    receipt = body["receipt"]  # the read was gated and logged
    assert isinstance(receipt, dict)
    assert receipt["access_log_id"] >= 1
    assert body["categories"], body  # the PUBLIC fields of the subject's records


def test_python_recipe_with_eth_account_only_reads_a_report(api_url: str, world: World) -> None:
    recipe = RECIPES / "sign_request.py"
    out = _run([sys.executable, str(recipe), "GET", REPORT, TRICKY_QUERY], world, api_url)
    _assert_bank_read_the_report(_report_of(out))


def test_curl_recipe_with_its_header_script_reads_a_report(api_url: str, world: World) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    bindir = Path(sys.executable).parent  # the recipe calls `python3` with eth-account
    path = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    out = _run(["sh", str(RECIPES / "curl.sh"), REPORT, TRICKY_QUERY], world, api_url, path)
    _assert_bank_read_the_report(_report_of(out))


def test_javascript_recipe_with_ethers_under_node_reads_a_report(
    api_url: str, world: World
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed (make setup installs ethers with npm)"
    recipe = RECIPES / "sign_request.mjs"
    out = _run([node, str(recipe), "GET", REPORT, TRICKY_QUERY], world, api_url)
    _assert_bank_read_the_report(_report_of(out))


def test_javascript_recipe_canonical_query_is_the_servers() -> None:
    node = shutil.which("node")
    assert node is not None
    script = (
        "const m = await import(process.env.RECIPE);"
        "console.log(m.canonicalQuery(process.env.QUERY));"
    )
    env = {**os.environ, "RECIPE": (RECIPES / "sign_request.mjs").as_uri(), "QUERY": TRICKY_QUERY}
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == canonical_query_string(TRICKY_QUERY)
