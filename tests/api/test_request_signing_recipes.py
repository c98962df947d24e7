"""The three recipes of docs/request-signing.md (curl + a small script, Python with eth-account
only, JavaScript with ethers v6 under node) sign requests a real uvicorn server accepts: a GET
with an unordered, awkwardly encoded query, and a POST with a JSON body."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_support import Api
from eth_account import Account
from live_server import served
from world import USCCS, World

from ledger_api.api.signing import canonical_query_string
from ledger_api.identity.uscc import check_character

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "recipes"
REPORT = f"/v1/institution/subjects/{USCCS[0]}/report"
REGISTRATIONS = "/v1/subject/registrations"
# Out of order, with characters each encoder treats differently, and an empty value.
TRICKY_QUERY = "purpose=loan_application&note=a b+c!*'()~&%E9%83%91=%E5%B7%9E&empty="
NODE = shutil.which("node")

# Each recipe as the command line a user types: (method, path, query, body file or None).
Recipe = Callable[[str, str, str, Path | None], list[str]]


def _python(method: str, path: str, query: str, body: Path | None) -> list[str]:
    recipe = str(RECIPES / "sign_request.py")
    return [sys.executable, recipe, method, path, query, *([str(body)] if body else [])]


def _curl(method: str, path: str, query: str, body: Path | None) -> list[str]:
    assert method == ("POST" if body else "GET")  # the curl recipe infers it from the body
    return ["sh", str(RECIPES / "curl.sh"), path, query, *([str(body)] if body else [])]


def _javascript(method: str, path: str, query: str, body: Path | None) -> list[str]:
    assert NODE is not None, "node is needed (make setup installs ethers with npm)"
    recipe = str(RECIPES / "sign_request.mjs")
    return [NODE, recipe, method, path, query, *([str(body)] if body else [])]


RECIPE_COMMANDS = {"python": _python, "curl": _curl, "javascript": _javascript}


@pytest.fixture
def api_url(api: Api) -> Iterator[str]:
    with served(api.http.app) as url:
        yield url


def _run(argv: list[str], key: bytes, api_url: str) -> dict[str, object]:
    """The JSON the recipe printed; the key reaches it through the environment only."""
    bindir = Path(sys.executable).parent  # `python3` with eth-account, for the curl recipe
    env = {
        **os.environ,
        "CCL_KEY": "0x" + key.hex(),
        "CCL_API_URL": api_url,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert key.hex() not in done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    if lines[0].isdigit():  # the Python and JavaScript recipes print the status first
        assert int(lines[0]) < 300, done.stdout
        lines = lines[1:]
    body: dict[str, object] = json.loads("\n".join(lines))
    return body


@pytest.mark.parametrize("recipe", RECIPE_COMMANDS)
def test_recipe_signs_a_bank_read_with_an_awkward_query(
    recipe: str, api_url: str, world: World
) -> None:
    command = RECIPE_COMMANDS[recipe]("GET", REPORT, TRICKY_QUERY, None)
    report = _run(command, bytes(world.bank.account.key), api_url)
    receipt = report["receipt"]  # the read was gated and logged
    assert isinstance(receipt, dict)
    assert receipt["access_log_id"] >= 1
    assert report["categories"], report  # the PUBLIC fields of the enterprise's records


@pytest.mark.parametrize("recipe", RECIPE_COMMANDS)
def test_recipe_signs_a_json_body(recipe: str, api_url: str, tmp_path: Path) -> None:
    serial = list(RECIPE_COMMANDS).index(recipe)  # a new enterprise for each recipe
    first17 = f"91410100MA{9_000_000 + serial:07d}"
    body = tmp_path / "registration.json"
    body.write_bytes(json.dumps({"uscc": first17 + check_character(first17)}).encode())
    key = Account.create()
    command = RECIPE_COMMANDS[recipe]("POST", REGISTRATIONS, "", body)
    registration = _run(command, bytes(key.key), api_url)
    assert registration["status"] == "awaiting_signature"
    assert registration["account"] == key.address


def test_javascript_recipe_canonical_query_is_the_servers() -> None:
    assert NODE is not None
    script = (
        "const m = await import(process.env.RECIPE);"
        "console.log(m.canonicalQuery(process.env.QUERY));"
    )
    env = {**os.environ, "RECIPE": (RECIPES / "sign_request.mjs").as_uri(), "QUERY": TRICKY_QUERY}
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == canonical_query_string(TRICKY_QUERY)
