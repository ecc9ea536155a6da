"""Every error of the worker's HTTP server is JSON, and the token check refuses odd headers.

A bare aiohttp application with the worker's options (no Faust, no Redis), spoken to over a
raw socket: some of these requests are ones an HTTP client library will not send.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator

import aiohttp.web_server
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from segstream.api.http import (
    MAX_LINE_BYTES,
    HTTPProblem,
    JsonErrorRequestHandler,
    install_json_error_handler,
    make_authorise,
    web_options,
)

TOKEN = "s3cret-token"


async def customer(request: web.Request) -> web.Response:
    try:
        make_authorise(TOKEN)(request)  # type: ignore[arg-type]
    except HTTPProblem as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    return web.json_response({"customer_id": request.match_info["customer_id"]})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    monkeypatch.setattr(aiohttp.web_server, "RequestHandler", aiohttp.web_server.RequestHandler)
    install_json_error_handler()
    app = web.Application(**web_options())
    app.router.add_get("/customers/{customer_id:[^/]+}", customer)
    app.router.add_get("/boom", boom)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def raw(srv: TestServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def get(path: bytes, *headers: bytes) -> bytes:
    return (
        b"GET "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


def error_of(status: int, headers: dict[str, str], body: bytes) -> str:
    assert headers["content-type"].startswith("application/json"), (status, headers, body)
    return str(json.loads(body)["error"])


async def test_the_json_handler_is_the_one_aiohttp_looks_up() -> None:
    # aiohttp's Server creates its connection handler from this module global: if an
    # upgrade moves it, install_json_error_handler silently stops working
    assert "RequestHandler(self" in inspect.getsource(aiohttp.web_server.Server.__call__)
    assert issubclass(JsonErrorRequestHandler, aiohttp.web_server.RequestHandler)


async def test_the_right_token_reaches_a_customer_whose_id_holds_braces_and_slashes(server: TestServer) -> None:
    status, _, body = await raw(
        server, get(b"/customers/%7Ba%7D%2Fb%20%E5%AE%A2", b"Authorization: Bearer " + TOKEN.encode())
    )
    assert status == 200 and json.loads(body) == {"customer_id": "{a}/b 客"}


@pytest.mark.parametrize(
    "header",
    [b"", b"Authorization: Bearer wrong", b"Authorization: Bearer \xc3\xa9", b"Authorization: Bearer \xff\xfe",
     b"Authorization: Basic " + TOKEN.encode(), b"Authorization: " + TOKEN.encode()],
    ids=["none", "wrong", "non-ascii", "not-utf8", "basic", "no-scheme"],
)  # fmt: skip
async def test_a_missing_wrong_or_non_ascii_token_is_401_json(server: TestServer, header: bytes) -> None:
    status, headers, body = await raw(server, get(b"/customers/a", *([header] if header else [])))
    assert status == 401 and "bearer token" in error_of(status, headers, body)


async def test_an_unknown_route_is_404_json(server: TestServer) -> None:
    status, headers, body = await raw(server, get(b"/nope"))
    assert status == 404 and "no such route" in error_of(status, headers, body)


async def test_a_method_not_allowed_is_405_json_with_allow(server: TestServer) -> None:
    status, headers, body = await raw(
        server, b"POST /customers/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert status == 405 and "POST" in error_of(status, headers, body) and "GET" in headers["allow"]


async def test_a_too_long_url_is_414_json_and_not_echoed(server: TestServer) -> None:
    status, headers, body = await raw(server, get(b"/customers/" + b"a" * (MAX_LINE_BYTES + 100)))
    assert status == 414 and b"aaaa" not in body and str(MAX_LINE_BYTES) in error_of(status, headers, body)


async def test_a_too_long_authorization_header_is_not_echoed(server: TestServer) -> None:
    status, headers, body = await raw(
        server, get(b"/customers/a", b"Authorization: Bearer " + b"S" * (MAX_LINE_BYTES + 10))
    )
    assert status in (400, 414, 431) and b"SSSS" not in body
    error_of(status, headers, body)


async def test_a_malformed_request_line_is_400_json(server: TestServer) -> None:
    status, headers, body = await raw(server, b"GE\x01T / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400 and error_of(status, headers, body)


async def test_an_unhandled_error_is_500_json_without_the_message(server: TestServer) -> None:
    status, headers, body = await raw(server, get(b"/boom"))
    assert status == 500 and error_of(status, headers, body) == "internal error" and b"a bug" not in body
