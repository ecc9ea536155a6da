"""The typed client's own logic, against httpx's in-process MockTransport (no server): paths,
the token, decoding, retries and errors. tests/integration/test_api_server.py runs it against
the real API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from segstream.client import ApiError, AsyncClient, Client

DOC: dict[str, Any] = {
    "customer_id": "a/b",
    "as_of": "2024-03-01T00:00:00+00:00",
    "segments": {"rfm": {"code": "champions", "name": "Champions"}},
    "rfm_score": {"r": 5, "f": 4, "m": 5},
    "first_event": None,
    "last_event": "2024-02-28T10:00:00+00:00",
    "purchases": {"count": 3, "spend": 60.0, "first": None, "last": None, "recency_days": 1.5},
    "churn_risk": {
        "score": 0.8,
        "level": "high",
        "since": None,
        "drivers": [{"name": "purchase_lapse", "label": "Purchase lapse", "weight": 1.0}],
    },
    "freshness": {"read_from": "replica", "staleness_bound_ms": 12.5},
    "a_field_of_a_newer_server": 1,
}


def answering(*responses: httpx.Response | Exception, seen: list[httpx.Request]) -> httpx.MockTransport:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = queue.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    return httpx.MockTransport(handler)


def test_a_customer_is_fetched_with_the_token_and_decoded_into_typed_parts() -> None:
    seen: list[httpx.Request] = []
    with Client("http://api:1/", token="t0k", transport=answering(httpx.Response(200, json=DOC), seen=seen)) as c:
        doc = c.customer("a/b")
    assert seen[0].url.raw_path == b"/customers/a%2Fb"
    assert seen[0].headers["Authorization"] == "Bearer t0k"
    assert doc is not None and doc.segment("rfm") == "champions" and doc.segment("cluster") is None
    assert doc.churn_risk is not None and doc.churn_risk.drivers[0].weight == 1.0
    assert doc.as_of is not None and doc.as_of.tzinfo is not None and doc.rfm_score and doc.rfm_score.r == 5
    assert doc.freshness is not None and doc.freshness.read_from == "replica" and doc.value is None


def test_a_lone_dot_id_is_percent_encoded_so_it_is_not_a_path_segment() -> None:
    seen: list[httpx.Request] = []
    with Client(transport=answering(httpx.Response(404, json={"error": "no"}), seen=seen)) as c:
        assert c.customer("..") is None
    assert seen[0].url.raw_path == b"/customers/%2E%2E"


def test_unavailable_and_dropped_connections_are_retried_then_answered() -> None:
    seen: list[httpx.Request] = []
    transport = answering(
        httpx.ConnectError("refused"), httpx.Response(503, json={"error": "Redis unavailable"}),
        httpx.Response(200, json=DOC), seen=seen)  # fmt: skip
    with Client(retries=2, backoff=0, transport=transport) as c:
        assert c.customer("a/b") is not None
    assert len(seen) == 3


def test_errors_that_a_retry_cannot_mend_are_raised_at_once_with_the_server_s_message() -> None:
    seen: list[httpx.Request] = []
    with (
        Client(retries=5, backoff=0, transport=answering(httpx.Response(401, json={"error": "token"}), seen=seen)) as c,
        pytest.raises(ApiError) as err,
    ):
        c.customer("x")
    assert (err.value.status, err.value.message, len(seen)) == (401, "token", 1)


def test_no_answer_after_the_retries_is_an_api_error_with_status_0() -> None:
    seen: list[httpx.Request] = []
    transport = answering(*[httpx.ReadTimeout("slow")] * 3, seen=seen)
    with Client(retries=2, backoff=0, transport=transport) as c, pytest.raises(ApiError) as err:
        c.segments()
    assert err.value.status == 0 and len(seen) == 3
    transport = answering(*[httpx.Response(503, text="busy")] * 2, seen=seen)
    with Client(retries=1, backoff=0, transport=transport) as c, pytest.raises(ApiError) as err:
        c.segments()
    assert (err.value.status, err.value.message) == (503, "busy")


def test_members_follow_the_cursor_until_the_listing_ends() -> None:
    seen: list[httpx.Request] = []
    pages = [
        httpx.Response(200, json={"customers": ["a", "b"], "next_cursor": 7}),
        httpx.Response(200, json={"customers": [], "next_cursor": 9}),  # a short page is not the end
        httpx.Response(200, json={"customers": ["c"], "next_cursor": None}),
    ]
    with Client(transport=answering(*pages, seen=seen)) as c:
        assert list(c.members("rfm", "at risk", page_size=2)) == ["a", "b", "c"]
    assert [r.url.params["cursor"] for r in seen] == ["0", "7", "9"]
    assert seen[0].url.raw_path.startswith(b"/segments/rfm/at%20risk/customers?")


def test_the_async_client_makes_the_same_calls() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        ids = json.loads(request.content)["ids"]
        return httpx.Response(200, json={"customers": [DOC], "missing": ids[1:], "freshness": DOC["freshness"]})

    async def run() -> Any:
        async with AsyncClient(token="t", transport=httpx.MockTransport(handler)) as c:
            return await c.customers(["a/b", "nobody"])

    out = asyncio.run(run())
    assert out.missing == ["nobody"] and out.customers[0].customer_id == "a/b"
    assert seen[0].method == "POST" and seen[0].url.path == "/customers:batchGet"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Client(timeout=0)
