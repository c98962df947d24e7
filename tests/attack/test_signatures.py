"""Signature tampering of every signed part, replay and clock skew.

A tampered request is not authenticated: it gets 401 with its code and no data. A replayed
request is authenticated (its signature is good): it is refused, audited, and serves nothing.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from attack_checks import assert_audited, assert_refused, log_position
from attack_client import Signed, high_s
from attack_server import Cast, LiveServer

pytestmark = pytest.mark.xdist_group("attack")


def _read_a(cast: Cast, timestamp: int | None = None) -> Signed:
    path = f"/v1/institution/subjects/{cast.subject_ids[0]}/records"
    query = [("purpose", "loan_application"), ("grant_id", str(cast.grant_a)), ("category", "tax")]
    return cast.bank.sign("GET", path, query, timestamp=timestamp)


def _flip(signature: str, index: int) -> str:
    raw = bytearray(bytes.fromhex(signature[2:]))
    raw[index] ^= 0x01
    return "0x" + raw.hex()


def _with_header(signed: Signed, name: str, value: str) -> dict[str, str]:
    return {**signed.headers, name: value}


TAMPERINGS = {
    "path": lambda s, c: {"target": s.target.replace(c.subject_ids[0], c.subject_ids[1])},
    "query": lambda s, c: {"target": s.target.replace(f"grant_id={c.grant_a}", "grant_id=2")},
    "query_added": lambda s, c: {"target": s.target + "&level=detail"},
    "timestamp": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Timestamp", str(int(s.headers["X-CCL-Timestamp"]) - 1))
    },
    "nonce": lambda s, c: {"headers": _with_header(s, "X-CCL-Nonce", s.nonce[:-1] + "x")},
    "address": lambda s, c: {"headers": _with_header(s, "X-CCL-Address", c.bank_b.address)},
    "signature_r": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Signature", _flip(s.headers["X-CCL-Signature"], 3))
    },
    "signature_s": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Signature", _flip(s.headers["X-CCL-Signature"], 40))
    },
    "signature_v": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Signature", _flip(s.headers["X-CCL-Signature"], 64))
    },
    "signature_truncated": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Signature", s.headers["X-CCL-Signature"][:-2])
    },
    "signature_not_hex": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Signature", "0x" + "zz" * 65)
    },
    "signature_v_29": lambda s, c: {
        "headers": _with_header(s, "X-CCL-Signature", s.headers["X-CCL-Signature"][:-2] + "1d")
    },
}
CODES = {"signature_v_29": "bad_signature", "signature_not_hex": "bad_signature"}


@pytest.mark.parametrize("part", sorted(TAMPERINGS))
def test_tampering_with_a_signed_part_is_refused_unread(
    server: LiveServer, cast: Cast, part: str
) -> None:
    signed = _read_a(cast)
    change = TAMPERINGS[part](signed, cast)
    response = server.send(signed, **change)
    assert_refused(response, 401, CODES.get(part, "bad_signature"), cast)
    assert "records" not in response.json()


def test_a_request_signed_for_another_method_is_refused(server: LiveServer, cast: Cast) -> None:
    signed = _read_a(cast)
    path, _, query = signed.target.partition("?")
    as_post = cast.bank.sign("POST", path, parse_qsl(query))
    response = server.send(as_post, method="GET")
    assert_refused(response, 401, "bad_signature", cast)


def test_a_tampered_body_is_refused(server: LiveServer, cast: Cast) -> None:
    signed = cast.stranger.sign(
        "POST", "/v1/subject/registrations", body=b'{"uscc":"91410100MA0000001X"}'
    )
    response = server.send(signed, body=b'{"uscc":"91350100M000100Y43"}')
    assert_refused(response, 401, "bad_signature", cast)


def test_a_high_s_signature_is_refused(server: LiveServer, cast: Cast) -> None:
    signed = _read_a(cast)
    tampered = _with_header(signed, "X-CCL-Signature", high_s(signed.headers["X-CCL-Signature"]))
    assert_refused(server.send(signed, headers=tampered), 401, "bad_signature", cast)


def test_a_replayed_request_is_refused_and_audited(server: LiveServer, cast: Cast) -> None:
    signed = _read_a(cast)
    assert server.send(signed).status == 200
    before = log_position(server, cast.bank.address)
    again = server.send(signed)
    assert_refused(again, 401, "nonce_replayed", cast)
    assert "records" not in again.json()
    rows = server.log_rows(cast.bank.address)[before:]
    assert [(r["decision"], r["reason"]) for r in rows] == [("denied", "nonce_replayed")]


def test_a_nonce_is_single_use_across_routes(server: LiveServer, cast: Cast) -> None:
    first = _read_a(cast)
    assert server.send(first).status == 200
    path = f"/v1/institution/subjects/{cast.subject_ids[0]}/report"
    other = cast.bank.sign("GET", path, [("purpose", "loan_application")], nonce=first.nonce)
    assert_refused(server.send(other), 401, "nonce_replayed", cast)


def test_a_replay_on_a_route_outside_the_gate_is_refused(server: LiveServer, cast: Cast) -> None:
    signed = cast.subject_a.sign("GET", "/v1/subject/grants")
    assert server.send(signed).status == 200
    assert_refused(server.send(signed), 401, "nonce_replayed", cast)


@pytest.mark.parametrize("offset", [-3600, -61, 61, 10**9])
def test_a_timestamp_outside_the_clock_skew_is_refused(
    server: LiveServer, cast: Cast, offset: int
) -> None:
    signed = _read_a(cast, timestamp=int(time.time()) + offset)
    assert_refused(server.send(signed), 401, "stale_timestamp", cast)


def test_a_timestamp_inside_the_clock_skew_is_accepted(server: LiveServer, cast: Cast) -> None:
    assert server.send(_read_a(cast, timestamp=int(time.time()) - 30)).status == 200


@pytest.mark.parametrize(
    "value", ["", "abc", "1.5e9", "9" * 400, "-1", "0x10", " 1 "], ids=lambda v: repr(v[:8])
)
def test_a_malformed_timestamp_is_refused(server: LiveServer, cast: Cast, value: str) -> None:
    signed = _read_a(cast)
    response = server.send(signed, headers=_with_header(signed, "X-CCL-Timestamp", value))
    assert_refused(response, 401, None, cast)
    assert response.code in ("bad_timestamp", "stale_timestamp", "missing_signature")


def test_a_timestamp_of_hundreds_of_digits_is_refused_not_a_server_error(
    server: LiveServer, cast: Cast
) -> None:
    signed = _read_a(cast)
    response = server.send(signed, headers=_with_header(signed, "X-CCL-Timestamp", "9" * 400))
    assert_refused(response, 401, "bad_timestamp", cast)


@pytest.mark.parametrize(
    "value", ["short", "x" * 65, "has space!", "../../etc", "' OR 1=1 --"], ids=str
)
def test_a_malformed_nonce_is_refused(server: LiveServer, cast: Cast, value: str) -> None:
    signed = _read_a(cast)
    response = server.send(signed, headers=_with_header(signed, "X-CCL-Nonce", value))
    assert_refused(response, 401, "bad_nonce", cast)


@pytest.mark.parametrize("missing", ["X-CCL-Address", "X-CCL-Signature", "X-CCL-Nonce"])
def test_an_unsigned_request_is_refused(server: LiveServer, cast: Cast, missing: str) -> None:
    signed = _read_a(cast)
    headers = {k: v for k, v in signed.headers.items() if k != missing}
    assert_refused(server.send(signed, headers=headers), 401, "missing_signature", cast)


def test_a_repeated_single_valued_parameter_is_refused_before_anything_is_served(
    server: LiveServer, cast: Cast
) -> None:
    path = "/v1/subject/records"
    pairs = [("category", "tax"), ("category", "registration")]
    signed = cast.subject_a.sign("GET", path, pairs)
    before = log_position(server, cast.subject_a.address)
    # Re-ordered on the wire after signing: the canonical form (sorted) still matches.
    reordered = path + "?category=tax&category=registration"
    response = server.send(signed, target=reordered)
    assert_refused(response, 400, None, cast)
    assert_audited(server, signed, before, str(response.code))
