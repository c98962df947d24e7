"""Hostile input: malformed, oversized and deeply nested bodies, non-UTF-8 bytes in the path,
query, body and headers, SQL-like strings, path traversal and huge page sizes. None may take
the server down, answer 5xx or leak; each gets a 4xx problem+json with its code."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from attack_checks import PROBLEM_JSON, assert_audited, assert_no_leak, assert_refused, log_position
from attack_server import Cast, LiveServer, Response

pytestmark = pytest.mark.xdist_group("attack")

MIB = 1024 * 1024
REGISTRATIONS = "/v1/subject/registrations"


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _assert_4xx_problem(server: LiveServer, response: Response, cast: Cast) -> None:
    assert server.alive(), "the API process died"
    status = response.status
    assert 400 <= status < 500, (status, response.body[:300])
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.code
    assert_no_leak(response, cast)


# -- nesting and size ---------------------------------------------------------------------------


def test_ten_thousand_levels_of_nesting_are_refused(server: LiveServer, cast: Cast) -> None:
    response = server.raw(_post(REGISTRATIONS, _nested(10_000)))
    _assert_4xx_problem(server, response, cast)


def test_a_million_levels_of_nesting_unsigned_do_not_take_the_server_down(
    server: LiveServer, cast: Cast
) -> None:
    try:
        response = server.raw(_post(REGISTRATIONS, _nested(1_000_000)))
    except (ConnectionError, OSError):
        pytest.fail("the connection died with the server")
    _assert_4xx_problem(server, response, cast)


def test_a_million_levels_of_nesting_signed_do_not_take_the_server_down(
    server: LiveServer, cast: Cast
) -> None:
    signed = cast.stranger.sign("POST", REGISTRATIONS, body=_nested(1_000_000))
    try:
        response = server.send(signed)
    except (ConnectionError, OSError):
        pytest.fail("the connection died with the server")
    _assert_4xx_problem(server, response, cast)


def test_a_17_mib_body_with_content_length_is_413(server: LiveServer, cast: Cast) -> None:
    response = server.raw(_post(REGISTRATIONS, b" " * (17 * MIB)))
    assert_refused(response, 413, "payload_too_large", cast)


def _chunked(path: str, total: int, headers: dict[str, str] | None = None) -> Iterator[bytes]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items() if k != "Content-Type")
    yield (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{extra}Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"[" * MIB
    for _ in range(total // MIB):
        yield b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_17_mib_chunked_body_is_413(server: LiveServer, cast: Cast) -> None:
    response = server.raw(_chunked(REGISTRATIONS, 17 * MIB))
    assert server.alive()
    assert_refused(response, 413, "payload_too_large", cast)


# An oversized body is refused before (or while) it is read, so its signature, which covers the
# body, is never checked: the refusal is recorded under the claimed address as "unverified",
# and the nonce stays unspent (refusals.log_unverified_refusal). The entry is committed before
# the 413 is sent, so it is in the log once the answer is here.
GRANTS = "/v1/subject/grants"


def _assert_recorded_unverified_and_nonce_unspent(
    server: LiveServer, cast: Cast, before: int, nonce: str
) -> None:
    rows = server.log_rows(cast.subject_a.address)[before:]
    assert [(r["actor_role"], r["action"], r["decision"], r["reason"]) for r in rows] == [
        ("unverified", f"POST {GRANTS}", "denied", "payload_too_large")
    ], rows
    # The nonce was not spent: a correctly signed request with it is served.
    again = server.send(cast.subject_a.sign("GET", GRANTS, nonce=nonce))
    assert again.status == 200, again.body[:300]


def test_a_signed_17_mib_body_is_recorded_as_an_unverified_refusal(
    server: LiveServer, cast: Cast
) -> None:
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("POST", GRANTS, body=b" " * (17 * MIB))
    response = server.send(signed)
    assert_refused(response, 413, "payload_too_large", cast)
    _assert_recorded_unverified_and_nonce_unspent(server, cast, before, signed.nonce)


def test_a_signed_17_mib_chunked_body_is_recorded_as_an_unverified_refusal(
    server: LiveServer, cast: Cast
) -> None:
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("POST", GRANTS, body=b"[" * (17 * MIB))
    response = server.raw(_chunked(GRANTS, 17 * MIB, signed.headers))
    assert_refused(response, 413, "payload_too_large", cast)
    _assert_recorded_unverified_and_nonce_unspent(server, cast, before, signed.nonce)


def test_a_17_mib_body_with_stale_signing_headers_is_not_recorded(
    server: LiveServer, cast: Cast
) -> None:
    """Headers authentication would refuse without the body (here a timestamp an hour old)
    are not recorded: only what passes every check short of the signature is."""
    before = log_position(server, cast.subject_a.address)
    stale = cast.subject_a.sign("POST", GRANTS, b"", timestamp=int(time.time()) - 3600)
    response = server.send(stale, body=b" " * (17 * MIB))
    assert_refused(response, 413, "payload_too_large", cast)
    assert server.log_rows(cast.subject_a.address)[before:] == []


# -- malformed bodies, signed (authenticated) ---------------------------------------------------

MALFORMED = {
    "truncated": b'{"uscc": "9141',
    "not_json": b"uscc=91410100MA0000001X",
    "array": b'["91410100MA0000001X"]',
    "null": b"null",
    "huge_number": b'{"uscc": 1e999999}',
    "nan": b'{"uscc": NaN}',
    "invalid_utf8": b'{"uscc": "\xff\xfe\xfd"}',
    "nul_bytes": b'{"uscc": "9141\\u0000"}',
    "long_string": b'{"uscc": "' + b"9" * 100_000 + b'"}',
    "many_keys": b"{" + b",".join(b'"k%d":1' % i for i in range(50_000)) + b"}",
    "sql": b'{"uscc": "\' OR 1=1; DROP TABLE access_log; --"}',
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_signed_body_is_422(server: LiveServer, cast: Cast, kind: str) -> None:
    signed = cast.subject_a.sign("POST", "/v1/subject/grants", body=MALFORMED[kind])
    response = server.send(signed)
    # A body that is not JSON at all (bytes that are not UTF-8) may be a 400.
    assert_refused(response, 400 if response.status == 400 else 422, None, cast)
    assert server.alive()


def test_a_malformed_signed_body_is_audited(server: LiveServer, cast: Cast) -> None:
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("POST", "/v1/subject/grants", body=MALFORMED["truncated"])
    response = server.send(signed)
    assert response.status == 422
    assert_audited(server, signed, before, str(response.code))


def test_a_batch_of_grants_signed_with_v_0_or_1_is_not_a_server_error(
    server: LiveServer, cast: Cast
) -> None:
    item = (
        '{"terms":{"institution":"%s","categories":4,"purpose":0,"level":1,"not_before":0,'
        '"not_after":4102444800,"max_uses":0},"signer":"%s","deadline":4102444800,'
        '"signature":"0x%s"}'
    )
    grants = ",".join(
        item % (cast.insurer.address, cast.subject_a.address, "11" * 64 + v) for v in ("00", "01")
    )
    signed = cast.subject_a.sign(
        "POST", "/v1/subject/grants", body=f'{{"grants":[{grants}]}}'.encode()
    )
    response = server.send(signed)
    assert response.status < 500, response.body[:300]
    if response.status == 201:  # relayed: the contract skips items it cannot use, and says so
        answer = response.json()
        assert answer["grant_ids"] == []
        assert [item["index"] for item in answer["skipped"]] == [0, 1]
        assert_no_leak(response, cast)
        return
    _assert_4xx_problem(server, response, cast)


# -- non-UTF-8 ------------------------------------------------------------------------------------


def _assert_refused_by_the_http_parser_or_the_app(
    server: LiveServer, response: Response, cast: Cast
) -> None:
    """Raw bytes that are not valid in an HTTP request line are refused by uvicorn's parser (400,
    text/plain) before the app sees them; anything the app sees is answered as problem+json."""
    if response.status == 400 and "text/plain" in response.headers.get("content-type", ""):
        assert server.alive()
        assert_no_leak(response, cast)
    else:
        _assert_4xx_problem(server, response, cast)


@pytest.mark.parametrize(
    "raw_target",
    [
        b"/v1/institution/subjects/\xff\xfe/records",
        b"/v1/institution/subjects/%ff%fe/records?purpose=loan_application",
        b"/v1/subject/records/%ff/proof",
        b"/v1/subject/records/0x%c3%28/proof",
    ],
    ids=["raw", "percent_subject", "percent_uid", "percent_bad_sequence"],
)
def test_non_utf8_bytes_in_the_path_are_refused(
    server: LiveServer, cast: Cast, raw_target: bytes
) -> None:
    signed = cast.bank.sign("GET", "/v1/subject/me")
    headers = {k: v.encode() for k, v in signed.headers.items()}
    response = server.raw_request("GET", raw_target, headers)
    if b"%" in raw_target:
        _assert_4xx_problem(server, response, cast)
    else:
        _assert_refused_by_the_http_parser_or_the_app(server, response, cast)


@pytest.mark.parametrize("raw", [b"purpose=%ff%fe", b"category=%c3%28", b"category=\xff"])
def test_non_utf8_bytes_in_the_query_are_refused(
    server: LiveServer, cast: Cast, raw: bytes
) -> None:
    path = f"/v1/institution/subjects/{cast.subject_ids[0]}/records"
    signed = cast.bank.sign("GET", path, [("purpose", "x")])
    headers = {k: v.encode() for k, v in signed.headers.items()}
    response = server.raw_request("GET", path.encode() + b"?" + raw, headers)
    if b"%" in raw:
        _assert_4xx_problem(server, response, cast)
    else:
        _assert_refused_by_the_http_parser_or_the_app(server, response, cast)


@pytest.mark.parametrize(
    ("header", "code"),
    [("X-CCL-Address", "bad_address"), ("X-CCL-Nonce", "bad_nonce")],
)
def test_non_utf8_bytes_in_a_header_are_refused(
    server: LiveServer, cast: Cast, header: str, code: str
) -> None:
    signed = cast.bank.sign("GET", "/v1/subject/me")
    headers = {k: v.encode() for k, v in signed.headers.items()}
    headers[header] = b"\xff\xfe\xc3\x28" * 4
    response = server.raw_request("GET", b"/v1/subject/me", headers)
    assert_refused(response, 401, code, cast)


# -- SQL-like strings and path traversal ---------------------------------------------------------

SQL = ["' OR '1'='1", "1; DROP TABLE access_log; --", "0x' UNION SELECT * FROM records --"]


@pytest.mark.parametrize("value", SQL)
def test_sql_like_strings_in_path_and_query_are_refused(
    server: LiveServer, cast: Cast, value: str
) -> None:
    base = f"/v1/institution/subjects/{cast.subject_ids[1]}"
    attempts = [
        (f"/v1/institution/subjects/{value}/records", [("purpose", "loan_application")]),
        (
            f"{base}/records",
            [("purpose", "loan_application"), ("grant_id", value), ("category", "tax")],
        ),
        (
            f"{base}/records",
            [("purpose", "loan_application"), ("grant_id", str(cast.grant_a)), ("category", value)],
        ),
        (f"{base}/report", [("purpose", value)]),
    ]
    for path, query in attempts:
        before = log_position(server, cast.bank.address)
        signed = cast.bank.sign("GET", path, query)
        response = server.send(signed)
        _assert_4xx_problem(server, response, cast)
        assert_audited(server, signed, before, str(response.code))
    # Nothing was dropped: the grantee still reads subject A.
    path = f"/v1/institution/subjects/{cast.subject_ids[0]}/records"
    query = [("purpose", "loan_application"), ("grant_id", str(cast.grant_a)), ("category", "tax")]
    assert server.send(cast.bank.sign("GET", path, query)).status == 200


@pytest.mark.parametrize("value", SQL)
def test_sql_like_strings_in_a_subjects_own_query_are_refused(
    server: LiveServer, cast: Cast, value: str
) -> None:
    signed = cast.subject_a.sign("GET", "/v1/subject/records", [("category", value)])
    response = server.send(signed)
    _assert_4xx_problem(server, response, cast)
    assert response.code == "unknown_category"


def test_an_unknown_category_in_a_subjects_own_query_is_audited(
    server: LiveServer, cast: Cast
) -> None:
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("GET", "/v1/subject/records", [("category", SQL[0])])
    response = server.send(signed)
    assert response.status == 404 and response.code == "unknown_category"
    assert_audited(server, signed, before, str(response.code))


@pytest.mark.parametrize("value", SQL)
def test_sql_like_strings_in_audit_filters_are_422(
    server: LiveServer, cast: Cast, value: str
) -> None:
    signed = cast.regulator.sign("GET", "/v1/audit/access_audit", [("institution", value[:42])])
    response = server.send(signed)
    assert_refused(response, 422, None, cast)


TRAVERSALS = [
    b"/v1/institution/subjects/..%2F..%2F..%2Fetc%2Fpasswd/records?purpose=loan_application",
    b"/v1/audit/..%2F..%2Fopenapi.json",
    b"/v1/subject/records/..%2F..%2Fsubject%2Fme/proof",
    b"/../../../../etc/passwd",
    b"/v1/subject/../operator/registrations",
    b"/v1/institution/subjects/%2e%2e%2f%2e%2e%2f/report?purpose=loan_application",
]


@pytest.mark.parametrize("raw_target", TRAVERSALS, ids=lambda t: t.decode()[:40])
def test_path_traversal_is_refused(server: LiveServer, cast: Cast, raw_target: bytes) -> None:
    path, _, query = raw_target.decode().partition("?")
    from urllib.parse import parse_qsl, unquote

    signed = cast.bank.sign("GET", unquote(path), parse_qsl(query))
    headers = {k: v.encode() for k, v in signed.headers.items()}
    response = server.raw_request("GET", raw_target, headers)
    _assert_4xx_problem(server, response, cast)
    assert b"root:" not in response.body


# -- huge page sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["501", "1000000000", str(2**64), "-1", "1e9"])
def test_huge_page_sizes_are_refused(server: LiveServer, cast: Cast, limit: str) -> None:
    for signer, path in (
        (cast.subject_a, "/v1/subject/access-log"),
        (cast.regulator, "/v1/audit/access_audit"),
        (cast.operator, "/v1/operator/registrations"),
    ):
        signed = signer.sign("GET", path, [("limit", limit)])
        response = server.send(signed)
        assert_refused(response, 422, None, cast)


@pytest.mark.parametrize("offset", [str(2**62), str(10**30), "-5"])
def test_huge_offsets_are_refused(server: LiveServer, cast: Cast, offset: str) -> None:
    signed = cast.subject_a.sign("GET", "/v1/subject/access-log", [("offset", offset)])
    assert_refused(server.send(signed), 422, None, cast)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/subject/revocations", '{"grant_id":1,"deadline":1,"signature":"0x%s"}'),
        ("/v1/subject/nonce-increases", '{"new_nonce":1,"deadline":1,"signature":"0x%s"}'),
        ("/v1/subject/commitments", '{"text":"x","signature":"0x%s"}'),
    ],
    ids=["revocation", "nonce_increase", "commitment"],
)
def test_a_signature_of_an_odd_number_of_hex_digits_is_422_not_a_server_error(
    server: LiveServer, cast: Cast, path: str, body: str
) -> None:
    signed = cast.subject_a.sign("POST", path, body=(body % ("a" * 131)).encode())
    assert_refused(server.send(signed), 422, None, cast)
