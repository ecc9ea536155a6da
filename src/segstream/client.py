"""A typed client of the profile API (`segstream api`), for personalisation services.

:class:`Client` (blocking) and :class:`AsyncClient` (asyncio) share one API: the bearer token,
a timeout per attempt, and retries with a doubling back-off for what a retry can mend (a
connection refused or reset, a timeout, a 502/503/504). Every call is a read, so a retry is
always safe. Answers are decoded into typed structs (msgspec); fields a newer server adds
are ignored, so an older client keeps working.

>>> from segstream.client import Client
>>> with Client("http://127.0.0.1:6068", token="...") as api:   # doctest: +SKIP
...     c = api.customer("c0000001")
...     if c is not None and c.churn_risk and c.churn_risk.level == "high":
...         offer_retention_coupon(c.customer_id)

``customer`` returns ``None`` for an unknown customer; any other failure raises
:class:`ApiError` (``status`` 0 when no answer came at all).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx
import msgspec

#: Statuses a retry may mend.
RETRY_STATUSES: Final = frozenset({502, 503, 504})
T = TypeVar("T")


class ApiError(Exception):
    """The API answered with an error (``status``), or did not answer (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class SegmentRef(msgspec.Struct):
    code: str
    name: str


class RfmScore(msgspec.Struct):
    r: int
    f: int
    m: int


class Purchases(msgspec.Struct):
    count: int
    spend: float
    first: datetime | None
    last: datetime | None
    recency_days: float
    # the purchase mix (a server from before it leaves these at their defaults)
    discount_share: float | None = None
    discount_spend_share: float | None = None
    discount_depth: float | None = None
    channel: str | None = None
    channel_share: float | None = None
    categories: int = 0
    top_category: str | None = None


class Driver(msgspec.Struct):
    name: str
    label: str
    weight: float


class ChurnRisk(msgspec.Struct):
    score: float
    level: str  # "high" or "normal"
    since: datetime | None
    drivers: list[Driver]


class Value(msgspec.Struct):
    p_alive: float | None
    expected_purchases: float | None
    horizon_days: float | None
    expected_spend_per_purchase: float | None
    clv: float | None
    clv_months: int | None
    tier: str | None
    contribution: float | None
    model_version: int | None


class Freshness(msgspec.Struct):
    read_from: str  # "primary" or "replica"
    staleness_bound_ms: float


class Customer(msgspec.Struct, kw_only=True):
    """One customer's document (the API's ``Customer`` schema); parts without data are None."""

    customer_id: str
    as_of: datetime | None
    segments: dict[str, SegmentRef]
    rfm_score: RfmScore | None
    first_event: datetime | None
    last_event: datetime | None
    purchases: Purchases | None = None
    usage: dict[str, Any] | None = None
    satisfaction: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    churn_risk: ChurnRisk | None = None
    value: Value | None = None
    freshness: Freshness | None = None  # from the standalone API

    def segment(self, dimension: str) -> str | None:
        """The customer's segment code in ``dimension`` (``None``: none)."""
        ref = self.segments.get(dimension)
        return ref.code if ref else None


class BatchResult(msgspec.Struct):
    customers: list[Customer]  # in the order asked
    missing: list[str]
    freshness: Freshness | None = None


class SegmentsOverview(msgspec.Struct):
    segments: dict[str, dict[str, int]]  # dimension -> segment code -> customers
    names: dict[str, dict[str, str]]
    model_versions: dict[str, int | None]
    stats: dict[str, int]
    stream_clock: datetime | None


class _Page(msgspec.Struct):
    customers: list[str]
    next_cursor: int | None


def _customer_path(customer_id: str) -> str:
    quoted = urllib.parse.quote(customer_id, safe="")
    return "/customers/" + ("%2E" * len(quoted) if quoted in (".", "..") else quoted)


def _segment_path(dimension: str, segment: str) -> str:
    q = urllib.parse.quote
    return f"/segments/{q(dimension, safe='')}/{q(segment, safe='')}/customers"


def _decode(response: httpx.Response, type_: type[T]) -> T:
    if response.status_code != 200:
        try:
            message = msgspec.json.decode(response.content)["error"]
        except (msgspec.DecodeError, KeyError, TypeError):
            message = response.text[:200] or response.reason_phrase
        raise ApiError(response.status_code, str(message))
    try:
        return msgspec.json.decode(response.content, type=type_)
    except msgspec.DecodeError as exc:
        raise ApiError(response.status_code, f"unexpected answer: {exc}") from None


class _Base:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:6068",
        token: str | None = None,
        *,
        timeout: float = 1.0,
        retries: int = 2,
        backoff: float = 0.05,
        transport: Any = None,
    ) -> None:
        """``transport``: an httpx transport (sync for :class:`Client`, async for
        :class:`AsyncClient`), such as a mock in tests; default, the network."""
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("retries and backoff must be >= 0 and timeout > 0")
        self.retries = retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = self._open(base_url=base_url.rstrip("/"), timeout=timeout, headers=headers, transport=transport)

    def _open(self, **options: Any) -> Any:
        raise NotImplementedError

    def _delay(self, attempt: int) -> float:
        return float(self.backoff * 2**attempt)

    def _give_up(self, attempt: int, response: httpx.Response | None, exc: Exception | None) -> bool:
        """Whether this attempt's outcome is final (raises :class:`ApiError` when no answer came)."""
        if response is not None and response.status_code not in RETRY_STATUSES:
            return True
        if attempt < self.retries:
            return False
        if exc is not None:
            raise ApiError(0, f"no answer after {attempt + 1} attempts: {exc!r}") from exc
        return True


class Client(_Base):
    """The blocking client; one connection pool, so keep one per process (it is thread-safe)."""

    _http: httpx.Client

    def _open(self, **options: Any) -> httpx.Client:
        return httpx.Client(**options)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                error = exc
            if self._give_up(attempt, response, error):
                assert response is not None
                return response
            time.sleep(self._delay(attempt))
            attempt += 1

    def customer(self, customer_id: str) -> Customer | None:
        """The customer's document; ``None`` when there is no such customer."""
        response = self._send("GET", _customer_path(customer_id))
        return None if response.status_code == 404 else _decode(response, Customer)

    def customers(self, customer_ids: list[str]) -> BatchResult:
        """Up to 100 customers in one request (one Redis round trip)."""
        return _decode(self._send("POST", "/customers:batchGet", json={"ids": customer_ids}), BatchResult)

    def segments(self) -> SegmentsOverview:
        """Every segment's population and name."""
        return _decode(self._send("GET", "/segments"), SegmentsOverview)

    def members(self, dimension: str, segment: str, page_size: int = 500) -> Iterator[str]:
        """The ids of a segment's members, page by page (lazily)."""
        cursor: int | None = 0
        while cursor is not None:
            params = {"cursor": cursor, "limit": page_size}
            page = _decode(self._send("GET", _segment_path(dimension, segment), params=params), _Page)
            yield from page.customers
            cursor = page.next_cursor

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class AsyncClient(_Base):
    """The asyncio client: the same calls as :class:`Client`, awaited."""

    _http: httpx.AsyncClient

    def _open(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**options)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                error = exc
            if self._give_up(attempt, response, error):
                assert response is not None
                return response
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    async def customer(self, customer_id: str) -> Customer | None:
        response = await self._send("GET", _customer_path(customer_id))
        return None if response.status_code == 404 else _decode(response, Customer)

    async def customers(self, customer_ids: list[str]) -> BatchResult:
        return _decode(await self._send("POST", "/customers:batchGet", json={"ids": customer_ids}), BatchResult)

    async def segments(self) -> SegmentsOverview:
        return _decode(await self._send("GET", "/segments"), SegmentsOverview)

    async def members(self, dimension: str, segment: str, page_size: int = 500) -> AsyncIterator[str]:
        cursor: int | None = 0
        while cursor is not None:
            params = {"cursor": cursor, "limit": page_size}
            page = _decode(await self._send("GET", _segment_path(dimension, segment), params=params), _Page)
            for cid in page.customers:
                yield cid
            cursor = page.next_cursor

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()
