"""Small helpers of the HTTP views: JSON errors and checked query parameters."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from faust.web import Request, Response, View

from segstream.state.store import RETRYABLE


def error(view: View, status: int, message: str) -> Response:
    return view.json({"error": message}, status=status)


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi], or :class:`ValueError` with a message."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value}")
    return value


def redis_503(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """A view method that answers 503 JSON, not a bare 500, while Redis does not answer."""

    @functools.wraps(fn)
    async def view(self: View, *args: Any, **kwargs: Any) -> Response:
        try:
            return await fn(self, *args, **kwargs)
        except RETRYABLE as exc:
            return error(self, 503, f"Redis unavailable: {exc}")

    return view
