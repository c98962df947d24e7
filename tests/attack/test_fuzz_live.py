"""schemathesis over every operation of the real server (uvicorn, embedded chain + SQLite),
each generated request signed by a key holding the role the operation needs, so generated
inputs get past authentication into the gate and the handlers: no 5xx, and the server lives.

Stateless: the OpenAPI document declares no links, so there is no stateful sequence to follow
(``test_the_document_declares_no_links_yet`` notices when links appear). Bounded and
deterministic: a fixed number of derandomised examples per operation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import schemathesis
from attack_client import Signer
from attack_server import Cast, LiveServer, live_server
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core import NOT_SET
from schemathesis.core.result import Ok

pytestmark = [pytest.mark.xdist_group("attack"), pytest.mark.slow]

EXAMPLES_PER_OPERATION = 16


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Cast]]:
    """A server of its own: fuzzed operator and subject calls change state."""
    with live_server(Path(tmp_path_factory.mktemp("fuzz"))) as started:
        yield started


def _signer_for(tags: list[str], path: str, cast: Cast) -> Signer:
    if path.startswith("/v1/subject/registrations"):
        return cast.stranger
    by_tag = {
        "institution": cast.bank,
        "subject": cast.subject_a,
        "operator": cast.operator,
        "provider": cast.provider,
        "audit": cast.regulator,
    }
    return by_tag.get(tags[0], cast.stranger)


def _body(case: schemathesis.Case) -> tuple[bytes, dict[str, str]]:
    body = case.body
    if body is NOT_SET or body is None:
        return b"", {}
    media = case.media_type or "application/json"
    if isinstance(body, bytes):
        return body, {"Content-Type": media}
    if isinstance(body, str) and "json" not in media:
        return body.encode(), {"Content-Type": media}
    return json.dumps(body, separators=(",", ":")).encode(), {"Content-Type": "application/json"}


def _pairs(case: schemathesis.Case) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in (case.query or {}).items():
        values = value if isinstance(value, list) else [value]
        for item in values[:1]:  # one value per key (repeats are finding 6's business)
            if item is None:
                continue
            if isinstance(item, bool):
                text = "true" if item else "false"
            elif isinstance(item, dict | list):
                text = json.dumps(item)
            else:
                text = str(item)
            pairs.append((str(key), text))
    return pairs


def _bounded() -> settings:
    return settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _fuzz(
    operation: Any,
    signer: Signer,
    server: LiveServer,
    failures: list[str],
    statuses: dict[int, int],
) -> None:
    """Run the bounded examples of one operation, signed by ``signer``."""

    @given(operation.as_strategy())
    @_bounded()
    def check(case: schemathesis.Case) -> None:
        path = case.formatted_path
        pairs = _pairs(case)
        body, headers = _body(case)
        signed = signer.sign(case.method, unquote(path), pairs, body)
        headers.update({k: v for k, v in signed.headers.items() if k != "Content-Type"})
        try:
            response = server.http.request(
                case.method, path, params=pairs, content=body or None, headers=headers
            )
        except httpx.HTTPError as error:
            failures.append(f"{case.method} {path}: {error!r}")
            return
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {path} {pairs} {body[:120]!r}: "
                f"{response.status_code} {response.text[:200]}"
            )

    check()


def test_the_document_declares_no_links_yet(fuzz_target: tuple[LiveServer, Cast]) -> None:
    document = httpx.get(f"{fuzz_target[0].base}/openapi.json", timeout=30).json()
    assert "links" not in json.dumps(document), "links exist: add a stateful run"


def test_fuzzing_every_operation_signed_finds_no_server_errors(
    fuzz_target: tuple[LiveServer, Cast],
) -> None:
    server, cast = fuzz_target
    document = httpx.get(f"{server.base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1
        raw = document["paths"][operation.path][operation.method.lower()]
        signer = _signer_for(raw["tags"], operation.path, cast)

        _fuzz(operation, signer, server, failures, statuses)
        assert server.alive(), f"the server died fuzzing {operation.method} {operation.path}"
    assert operations >= 30
    assert not failures, "\n".join(failures[:20])
    # The signatures are accepted: most requests get past authentication.
    total = sum(statuses.values())
    assert statuses.get(401, 0) < total // 4, statuses
