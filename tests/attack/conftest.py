"""One real server for the attack suite (per xdist worker; the suite is one xdist group, so
one worker runs all of it against one server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from attack_server import Cast, LiveServer, live_server


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Cast]]:
    with live_server(tmp_path_factory.mktemp("attack")) as started:
        yield started


@pytest.fixture
def server(target: tuple[LiveServer, Cast], request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    server = target[0]
    yield server
    # Whatever an attack did, the server must still be up. If it died, bring it back (on the
    # same data dir) so the remaining attacks still run, and fail the attack that killed it
    # (an attack expected to fail today asserts that the server is alive itself).
    if not server.alive():
        server.start()
        if request.node.get_closest_marker("xfail") is None:
            pytest.fail("the API process died", pytrace=False)


@pytest.fixture
def cast(target: tuple[LiveServer, Cast]) -> Cast:
    return target[1]
