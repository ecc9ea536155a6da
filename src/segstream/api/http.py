"""Small helpers of the HTTP views: JSON errors and checked query parameters."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from faust.web import Request, Response, View

from segstream.state.store import RETRYABLE


def error(view: View, status: int, message: str) -> Response:
    return view.json({"error": message}, status=status)


class HTTPProblem(Exception):
    """An answer other than 200, with a message; :func:`json_errors` turns it into JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
