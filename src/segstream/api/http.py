"""Small helpers of the HTTP views: JSON errors and checked query parameters."""

from __future__ import annotations

from faust.web import Request, Response, View


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
