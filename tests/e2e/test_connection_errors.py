"""Every error a real server answers, however malformed the request, is a problem in the contract's shape.

Raw requests against `just serve`: what its HTTP parser rejects (request lines, method
tokens, header names and values, lengths, chunked framing, bytes outside ASCII), what
Litestar cannot represent (a bad ``Host``), and request heads around the 64 KiB bound,
sent in one write or in many. Each answer is checked whole: status, problem body, error
id, request id and security headers, and never a 5xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import msgspec
import pytest

from app.interfaces.http.protocol import MAX_REQUEST_HEAD_BYTES
from tests.support.processes import running, server_env

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "error_id"}
LIVE = b"GET /health/live HTTP/1.1"
SIGN_IN = b"POST /api/v1/auth/tokens HTTP/1.1"


def request(line: bytes = LIVE, *fields: bytes, host: bytes | None = b"127.0.0.1", body: bytes = b"") -> bytes:
    """A request with ``Connection: close``, so that the server ends the exchange whatever it answers."""
    host_field = [b"Host: " + host] if host is not None else []
    lines = [line, *host_field, *fields, b"Connection: close"]
    return b"".join(part + b"\r\n" for part in lines) + b"\r\n" + body


def _rejected_by_the_parser() -> dict[str, bytes]:
    cases: dict[str, bytes] = {}
    for method in [b"FOO", b"get", b"Get", b"G@T", b"GET\x00", b"\x00", b"GETT", b"BREW"]:
        cases[f"method {method!r}"] = request(method + b" /health/live HTTP/1.1")
    for line in [
        b"GARBAGE",
        b"GET",
        b"GET /health/live HTTP/9.9",
        b"GET /health/live HTTP/1.1 extra",
        b"GET /health live HTTP/1.1",
        b"GET health/live HTTP/1.1",
        b" GET /health/live HTTP/1.1",
        b"GET http://a:b/health/live HTTP/1.1",
        b"CONNECT a:443 HTTP/1.1",
    ]:
        cases[f"request line {line!r}"] = request(line)
    for byte in [0x00, 0x01, 0x7F, 0x80, 0xC3, 0xFF]:
        cases[f"path byte {byte:#04x}"] = request(b"GET /health/" + bytes([byte]) + b" HTTP/1.1")
        cases[f"query byte {byte:#04x}"] = request(b"GET /health/live?a=" + bytes([byte]) + b" HTTP/1.1")
    for name in [b"Bad Name", b"X\x00", b"\xffX", b"(x)", b"", b"X\x7f"]:
        cases[f"header name {name!r}"] = request(LIVE, name + b": y")
    cases["header line without a colon"] = request(LIVE, b"NoColon")
    for value in [b"a\x01b", b"a\x7fb", b"a\rb", b"a\x00b", b"a\x1bb"]:
        cases[f"header value {value!r}"] = request(LIVE, b"X-Test: " + value)
    for length in [b"99999999999999999999999", b"-1", b"abc", b"1, 2", b"0x10", b"+5", b" "]:
        cases[f"Content-Length {length!r}"] = request(SIGN_IN, b"Content-Length: " + length, body=b"{}")
    cases["two Content-Lengths"] = request(SIGN_IN, b"Content-Length: 1", b"Content-Length: 2", body=b"{}")
    cases["Content-Length and chunked"] = request(
        SIGN_IN, b"Content-Length: 2", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"
    )
    for chunk in [b"zz\r\n", b"ffffffffffffffffffff\r\n", b"2\r\n{}XX", b"-1\r\n"]:
        cases[f"chunk {chunk!r}"] = request(SIGN_IN, b"Transfer-Encoding: chunked", body=chunk)
    for coding in [b"gzip", b"identity", b"chunked, gzip", b"chunked, chunked"]:
        cases[f"Transfer-Encoding {coding!r}"] = request(SIGN_IN, b"Transfer-Encoding: " + coding, body=b"0\r\n\r\n")
    cases["HTTP/2 preface"] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    cases["TLS hello"] = bytes.fromhex("16030100a5010000a10303") + bytes(40)
    return cases


REJECTED_BY_THE_PARSER = _rejected_by_the_parser()

BAD_HOSTS = {
    "port not a number": [b"Host: a:b"],
    "port over 65535": [b"Host: x:99999"],
    "port of six digits": [b"Host: x:000080"],
    "negative port": [b"Host: x:-1"],
    "unclosed bracket": [b"Host: ["],
    "bracketed non-address": [b"Host: [zz]"],
    "user info": [b"Host: user@example.com"],
    "space inside": [b"Host: a b"],
    "path inside": [b"Host: a/b"],
    "bytes outside ASCII": [b"Host: \xff\xfe"],
    "two Host headers": [b"Host: a", b"Host: b"],
    "no Host on HTTP/1.1": [],
}
GOOD_HOSTS = [
    b"",
    b"example.com",
    b"example.com:8000",
    b"127.0.0.1:1",
    b"[::1]",
    b"[::1]:8000",
    b"xn--bcher-kva.example",
]

#: Requests the parser takes, each odd in its own way: the application answers them, never with a 5xx.
ODD_BUT_PARSED = {
    "unknown method token": request(b"M-SEARCH /health/live HTTP/1.1"),
    "asterisk target": request(b"OPTIONS * HTTP/1.1"),
    "HTTP/1.0 without Host": request(b"GET /health/live HTTP/1.0", host=None),
    "WebSocket upgrade": request(LIVE, b"Connection: Upgrade", b"Upgrade: websocket"),
    "h2c upgrade": request(LIVE, b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c", b"HTTP2-Settings: AAMAAAB"),
    "percent-encoded bytes outside UTF-8 in the path": request(b"GET /api/v1/users/%ff%fe HTTP/1.1"),
    "percent-encoded NUL in the path": request(b"GET /health/%00 HTTP/1.1"),
    "broken percent-encoding in the path": request(b"GET /health/%zz HTTP/1.1"),
    "percent-encoded bytes outside UTF-8 in the query": request(b"GET /api/v1/users?email=%ff&limit=%c3%28 HTTP/1.1"),
    "broken percent-encoding in the query": request(b"GET /health/live?a=%zz&%=%% HTTP/1.1"),
    "Content-Length near 2**63": request(SIGN_IN, b"Content-Length: 9223372036854775807", b"Expect: 100-continue"),
    "Content-Type garbage": request(SIGN_IN, b"Content-Type: \xff/;;;=", b"Content-Length: 2", body=b"{}"),
    "Cookie garbage": request(LIVE, b'Cookie: =;;a="\xff;b=\\'),
    "Accept garbage": request(b"GET /api/v1/no-such-route HTTP/1.1", b"Accept: \xff;q=abc, */*;q=-1"),
    "Authorization garbage": request(b"GET /api/v1/users/me HTTP/1.1", b"Authorization: Bearer \xff\xfe"),
    "X-Request-ID garbage": request(LIVE, b"X-Request-ID: \xff" + b"x" * 500),
    "X-Forwarded-For garbage": request(SIGN_IN, b"X-Forwarded-For: \xff, , [", b"Content-Length: 2", body=b"{}"),
    "Origin garbage": request(LIVE, b"Origin: \xff://"),
}


@pytest.fixture(scope="module")
async def port(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    async with running("serve", {**server_env(database_url), "WORKERS": "1"}, tmp_path_factory.mktemp("raw")) as server:
        assert server.base_url.port is not None
        yield server.base_url.port


async def exchange(port: int, data: bytes, *, piece: int | None = None) -> bytes:
    """Send ``data`` (at once, or ``piece`` bytes at a time) and read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.create_task(reader.read())
    try:
        with suppress(ConnectionError):
            for start in range(0, len(data), piece or len(data)):
                if answer.done():
                    break
                writer.write(data[start : start + (piece or len(data))])
                await writer.drain()
                if piece:
                    await asyncio.sleep(0.001)
        return await asyncio.wait_for(answer, timeout=20)
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


def responses(raw: bytes) -> list[tuple[int, dict[str, list[str]], bytes]]:
    """Every response on the connection, in order (each with a Content-Length, as the service writes them)."""
    answers = []
    while raw:
        head, separator, rest = raw.partition(b"\r\n\r\n")
        assert separator, raw[:300]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers["content-length"][0])
        answers.append((int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return answers


def assert_contract_problem(answer: tuple[int, dict[str, list[str]], bytes], status: int, code: str) -> dict[str, Any]:
    received, headers, body = answer
    assert received == status, body
    assert headers["content-type"] == ["application/problem+json"]
    problem: dict[str, Any] = msgspec.json.decode(body)
    assert set(problem) - {"errors"} == PROBLEM_KEYS, problem
    assert ("errors" in problem) == (status == 422), problem
    assert (problem["type"], problem["status"], problem["code"]) == ("about:blank", status, code)
    assert all(problem[key] for key in ("title", "detail", "instance")), problem
    assert headers["x-error-id"] == [problem["error_id"]]
    assert_answer_headers(headers)
    return problem


def assert_answer_headers(headers: dict[str, list[str]]) -> None:
    """What the middleware adds to every answer: a request id and the security headers."""
    (request_id,) = headers["x-request-id"]
    assert request_id
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == [value], name


@pytest.mark.parametrize("data", REJECTED_BY_THE_PARSER.values(), ids=REJECTED_BY_THE_PARSER.keys())
async def test_a_request_the_parser_rejects_is_a_bad_request_problem(port: int, data: bytes) -> None:
    (answer,) = responses(await exchange(port, data))

    problem = assert_contract_problem(answer, 400, "bad_request")

    assert problem["detail"].startswith("The request is not valid HTTP/1.1")
    assert answer[1]["connection"] == ["close"]


@pytest.mark.parametrize("fields", BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
async def test_an_unusable_host_is_a_bad_request_problem(port: int, fields: list[bytes]) -> None:
    """``Host: a:b`` was a bare ``500 text/plain``: Litestar could not build the request's URL."""
    (answer,) = responses(await exchange(port, request(LIVE, *fields, host=None)))

    problem = assert_contract_problem(answer, 400, "bad_request")

    assert problem["instance"] == "/health/live"
    assert "Host" in problem["detail"]


@pytest.mark.parametrize("host", GOOD_HOSTS, ids=repr)
async def test_every_form_of_a_valid_host_is_served(port: int, host: bytes) -> None:
    ((status, headers, body),) = responses(await exchange(port, request(host=host)))

    assert (status, body) == (200, b'{"status":"ok"}')
    assert_answer_headers(headers)


@pytest.mark.parametrize("data", ODD_BUT_PARSED.values(), ids=ODD_BUT_PARSED.keys())
async def test_an_odd_request_the_parser_takes_is_never_a_server_error(port: int, data: bytes) -> None:
    ((status, headers, body),) = responses(await exchange(port, data))

    assert status < 500, body
    if status >= 400:
        assert_contract_problem((status, headers, body), status, msgspec.json.decode(body)["code"])
    else:
        assert_answer_headers(headers)


def head_of(size: int, *, headers: int) -> bytes:
    """A request head of exactly ``size`` bytes, its padding spread over ``headers`` header lines
    (none: all of it in the query string)."""
    start = b"GET /health/live%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    lines = [b"X-Pad-%04d: " % index for index in range(headers)]
    room = size - len(start % b"") - sum(len(line) + 2 for line in lines) - 2
    if not headers:
        head = start % (b"?q=" + b"a" * (room - 3)) + b"\r\n"
        assert len(head) == size
        return head
    share, extra = divmod(room, headers)
    padded = [line + b"a" * (share + (index < extra)) + b"\r\n" for index, line in enumerate(lines)]
    head = start % b"" + b"".join(padded) + b"\r\n"
    assert len(head) == size
    return head


KIB = 1024
#: Around the bound, and the 70-250 KiB that one write used to slip past it.
HEAD_SIZES = [
    60 * KIB,
    MAX_REQUEST_HEAD_BYTES,
    MAX_REQUEST_HEAD_BYTES + 1,
    70 * KIB,
    100 * KIB,
    150 * KIB,
    250 * KIB,
    300 * KIB,
]
ARRIVALS = {"in one write": None, "in 16 KiB writes": 16 * KIB, "in 1 KiB writes": KIB}


@pytest.mark.parametrize("headers", [1, 200, 0], ids=["one long header", "200 headers", "a long query"])
@pytest.mark.parametrize("piece", ARRIVALS.values(), ids=ARRIVALS.keys())
@pytest.mark.parametrize("size", HEAD_SIZES, ids=lambda size: f"{size} bytes")
async def test_a_head_over_64_kib_is_refused_however_it_arrives(
    port: int, size: int, piece: int | None, headers: int
) -> None:
    (answer,) = responses(await exchange(port, head_of(size, headers=headers), piece=piece))

    if size <= MAX_REQUEST_HEAD_BYTES:
        assert answer[0] == 200, answer[2]
    else:
        problem = assert_contract_problem(answer, 431, "headers_too_large")
        assert problem["instance"] == "/health/live"


@pytest.mark.parametrize("second", ["oversized head", "bad method"])
async def test_a_refusal_after_pipelined_requests_follows_their_answers(port: int, second: str) -> None:
    """Answers keep the order of the requests: the earlier ones are answered first, then the refusal."""
    keep_alive = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    refused = head_of(100 * KIB, headers=1) if second == "oversized head" else b"FOO / HTTP/1.1\r\n\r\n"

    answers = responses(await exchange(port, keep_alive * 3 + refused))

    assert [status for status, _, _ in answers[:3]] == [200, 200, 200]
    status, code = (431, "headers_too_large") if second == "oversized head" else (400, "bad_request")
    assert_contract_problem(answers[3], status, code)
