"""Small helpers of the HTTP views: JSON errors, the bearer token and checked query parameters.

Every answer other than 2xx is JSON ``{"error": ...}``: the views' own problems
(:func:`json_errors`), what aiohttp answers after routing (unknown routes, methods: the
:func:`json_error_middleware`) and what it answers before routing, while parsing the
request (too-long URLs and headers, malformed requests: :class:`JsonErrorRequestHandler`).
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp.web_server
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, LineTooLong
from faust.web import Request, Response, View

from segstream.state.store import RETRYABLE

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 8190  # the longest request line (URL) and header aiohttp accepts (its default, stated)


def error(view: View, status: int, message: str) -> Response:
    return view.json({"error": message}, status=status)


class HTTPProblem(Exception):
    """An answer other than 200, with a message; :func:`json_errors` turns it into JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def make_authorise(token: str) -> Callable[[Request], None]:
    """A check of ``Authorization: Bearer <token>`` that raises a 401 :class:`HTTPProblem`
    (no check when ``token`` is empty). The header is compared as bytes, so a non-ASCII
    header is refused, not a TypeError of ``hmac.compare_digest`` (a 500)."""
    want = token.encode()

    def authorise(request: Request) -> None:
        if not want:
            return
        header = request.headers.get("Authorization", "")
        # aiohttp decodes header bytes as UTF-8 with surrogateescape: this gives them back
        scheme, _, value = header.encode("utf-8", "surrogateescape").strip().partition(b" ")
        if not (scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), want)):
            raise HTTPProblem(401, "a valid bearer token is required (Authorization: Bearer <token>)")

    return authorise


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi]; otherwise a 400 :class:`HTTPProblem`."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPProblem(400, f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise HTTPProblem(400, f"{name} must be in {lo}..{hi}, got {value}")
    return value


def json_errors(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """A view method whose :class:`HTTPProblem` becomes its JSON answer, and that answers
    503 JSON, not a bare 500, while Redis does not answer."""

    @functools.wraps(fn)
    async def view(self: View, *args: Any, **kwargs: Any) -> Response:
        try:
            return await fn(self, *args, **kwargs)
        except HTTPProblem as exc:
            return error(self, exc.status, exc.message)
        except RETRYABLE as exc:
            return error(self, 503, f"Redis unavailable: {exc}")

    return view


@web.middleware
async def json_error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own error answers after routing (404, 405, ...) and unhandled errors as JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        message = {
            404: "no such route (percent-encode ids: / as %2F, { as %7B, a lone . as %2E)",
            405: f"method {request.method} not allowed here; allowed: {allow}",
        }.get(exc.status, exc.reason)
        return web.json_response({"error": message}, status=exc.status, headers={"Allow": allow} if allow else None)
    except Exception:
        log.exception("unhandled error answering %s %s", request.method, request.rel_url.raw_path[:200])
        return web.json_response({"error": "internal error"}, status=500)


class JsonErrorRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse with JSON.

    Its message is never logged or echoed: a too-long line may be an Authorization header."""

    __slots__ = ()

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: some data already went out
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        if isinstance(exc, LineTooLong):
            status, text = 414, f"the request line or a header is longer than {MAX_LINE_BYTES} bytes"
        elif isinstance(exc, BadHttpMethod):
            status, text = 400, "not an HTTP method"
        elif isinstance(exc, BadHttpMessage):
            status, text = 400, "malformed HTTP request"
        else:
            status, text = (status if 400 <= status < 600 else 500), "internal error"
        if status >= 500:
            self.log_exception("Error handling request", exc_info=exc)
        else:
            self.log_debug("bad request from %s: %s", request.remote, type(exc).__name__)
        resp = web.json_response({"error": text}, status=status)
        resp.force_close()
        return resp


def install_json_error_handler() -> None:
    """Make aiohttp's servers in this process use :class:`JsonErrorRequestHandler`.

    aiohttp's ``Server`` looks its handler class up in ``aiohttp.web_server`` when a
    connection opens; there is no option for it. A unit test fails if that moves."""
    setattr(aiohttp.web_server, "RequestHandler", JsonErrorRequestHandler)  # noqa: B010 - not exported


def web_options() -> dict[str, Any]:
    """Options of the aiohttp application (Faust's ``web_application_options``)."""
    return {
        "middlewares": [json_error_middleware],
        "handler_args": {"max_line_size": MAX_LINE_BYTES, "max_field_size": MAX_LINE_BYTES},
    }
