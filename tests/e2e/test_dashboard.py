"""The live dashboard in a real browser (Debian's Chromium, driven by Playwright) against a running worker.

``dashboard_url`` (the worker's base URL) and ``screenshot_path`` are fixtures of the e2e conftest.
The simulator keeps feeding the worker while this runs (400 events/s), so the API's numbers move
between the page's poll and any request of the test's own. The page is therefore compared with the
very responses it received from the worker (recorded from the browser's network traffic) right
after a dashboard refresh (``body[data-updated]`` changes), and again after later refreshes until
they agree, for at most ``AGREE_WITHIN_S`` seconds; the live API is checked for the same segments.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from playwright.sync_api import Page, Response, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGREE_WITHIN_S = 20.0
REFRESH_TIMEOUT_MS = 15_000  # the page polls every 2 s; each request times out after 5 s
T = TypeVar("T")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def wait_for_refresh(page: Page) -> None:
    """Block until the page finishes its next successful poll."""
    before = page.get_attribute("body", "data-updated")
    page.wait_for_function("prev => document.body.dataset.updated !== prev", arg=before, timeout=REFRESH_TIMEOUT_MS)


def eventually_equal(
    page: Page, shown: Callable[[], T], served: Callable[[], T], ready: Callable[[T], bool] = lambda _: True
) -> tuple[T, T]:
    """Right after a refresh, fetch the API then read the page; retry until equal (and ``ready``)."""
    deadline = time.monotonic() + AGREE_WITHIN_S
    while True:
        wait_for_refresh(page)
        from_api = served()
        on_page = shown()
        if (on_page == from_api and ready(from_api)) or time.monotonic() > deadline:
            return on_page, from_api


def last_json(responses: list[Response], path: str) -> Any:
    """The body of the latest successful response the page received for ``path`` (``None`` if none yet)."""
    for resp in reversed(responses):
        if urlsplit(resp.url).path == path and resp.ok:
            return resp.json()
    return None


def diff(shown: dict[Any, Any], served: dict[Any, Any]) -> str:
    keys = sorted(set(shown) | set(served))
    return "; ".join(f"{k}: page {shown.get(k)!r} api {served.get(k)!r}" for k in keys if shown.get(k) != served.get(k))


def test_dashboard_shows_the_numbers_the_api_serves(dashboard_url: str, screenshot_path: Path) -> None:
    base = dashboard_url.rstrip("/")

    def counts(doc: Any) -> dict[tuple[str, str], str]:
        return {
            (dim, seg): str(n) for dim, segs in (doc or {"segments": {}})["segments"].items() for seg, n in segs.items()
        }

    def churn_ids(doc: Any) -> list[str]:
        return [str(e["customer_id"]) for e in (doc or {"events": []})["events"]]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page_errors: list[str] = []
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            received: list[Response] = []
            page.on("response", lambda resp: received.append(resp))

            def shown_counts() -> dict[tuple[str, str], str]:
                cells = page.eval_on_selector_all(
                    "[data-dimension][data-segment]",
                    "els => els.map(e => [e.getAttribute('data-dimension'), e.getAttribute('data-segment'),"
                    " e.textContent])",
                )
                assert len(cells) == len({(d, s) for d, s, _ in cells}), f"a segment is drawn twice: {cells}"
                return {(d, s): text for d, s, text in cells}

            def shown_churn() -> list[str]:
                return page.eval_on_selector_all(
                    "#churn-table tbody tr[data-customer]", "rows => rows.map(r => r.getAttribute('data-customer'))"
                )

            try:
                page.goto(f"{base}/", wait_until="domcontentloaded")
                page.wait_for_selector("body[data-updated]", state="attached", timeout=REFRESH_TIMEOUT_MS)

                on_page, from_api = eventually_equal(
                    page, shown_counts, lambda: counts(last_json(received, "/segments")), ready=bool
                )
                assert from_api, "the worker serves no segments: feed it events before opening the dashboard"
                if on_page != from_api:
                    own = page.evaluate(
                        "() => window.segstream && window.segstream.seg && window.segstream.seg.segments"
                    )
                    own_counts = {(d, s): str(n) for d, segs in (own or {}).items() for s, n in segs.items()}
                    verdict = (
                        "the page shows the /segments it last processed, not the latest response it received"
                        if own_counts == on_page
                        else f"the page does not even match its own last /segments: {diff(on_page, own_counts)}"
                    )
                    raise AssertionError(
                        f"segment counts differ for {AGREE_WITHIN_S} s; {verdict}; vs the API's response: "
                        f"{diff(on_page, from_api)}"
                    )

                live = counts(get_json(f"{base}/segments"))
                assert {d for d, _ in live} == {d for d, _ in on_page}, (
                    f"the page draws dimensions {sorted({d for d, _ in on_page})}, the live API serves "
                    f"{sorted({d for d, _ in live})}"
                )
                assert {urlsplit(r.url).netloc for r in received} == {urlsplit(base).netloc}, (
                    "the page polled another host"
                )

                rows, ids = eventually_equal(
                    page, shown_churn, lambda: churn_ids(last_json(received, "/api/churn/recent"))
                )
                assert rows == ids, f"churn table rows {rows} != /api/churn/recent customers {ids}"
                for score in page.eval_on_selector_all(
                    "#churn-table tr[data-customer] td.score", "tds => tds.map(t => t.textContent)"
                ):
                    assert re.fullmatch(r"-?\d+\.\d\d", score), f"churn score {score!r} is not shown with 2 decimals"

                eps = float(page.text_content("#events-per-s") or "")
                assert math.isfinite(eps) and eps >= 0, f"events/s is {eps}"
                for kpi in ("#lag-total", "#dlq-total"):
                    text = page.text_content(kpi) or ""
                    assert re.fullmatch(r"\d+", text), f"{kpi} shows {text!r}, not a count"
                assert (page.text_content("#stream-clock") or "").strip(), "the stream clock is empty"
                for cell in page.eval_on_selector_all("[data-flow-dimension]", "tds => tds.map(t => t.textContent)"):
                    assert re.fullmatch(r"\d+", cell), f"a flow cell shows {cell!r}, not a count"
                shown_dims, served_dims = eventually_equal(
                    page,
                    lambda: sorted(
                        page.eval_on_selector_all(
                            "#stability-body tr[data-dimension]", "rows => rows.map(r => r.dataset.dimension)"
                        )
                    ),
                    lambda: sorted(last_json(received, "/api/overview")["stability"]),
                )
                assert shown_dims == served_dims and "rfm" in shown_dims, (shown_dims, served_dims)
                # the workers, as each last reported itself to Redis: the one feeding this page
                shown_workers, served_workers = eventually_equal(
                    page,
                    lambda: page.eval_on_selector_all(
                        "#workers-body tr[data-worker]", "rows => rows.map(r => r.cells[1].textContent)"
                    ),
                    lambda: [w["status"] for w in last_json(received, "/api/overview")["workers"]],
                    ready=bool,
                )
                assert shown_workers == served_workers == ["ready"], (shown_workers, served_workers)
                assert page.is_hidden("#offline"), "the offline notice shows after a successful poll"
                assert not page_errors, f"JavaScript errors on the page: {page_errors}"
            finally:
                screenshot_path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot_path), full_page=True)
        finally:
            browser.close()


def test_the_dashboard_asks_for_the_token_once_and_keeps_it_for_the_tab(dashboard_url_with_token: str) -> None:
    from tests.e2e.conftest import TOKEN

    base = dashboard_url_with_token.rstrip("/")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            requests: list[Any] = []
            page.on("request", lambda req: requests.append(req))
            received: list[Response] = []
            page.on("response", lambda resp: received.append(resp))
            page.goto(f"{base}/", wait_until="domcontentloaded")
            # the aggregates are open, the churn events are not: the page asks for the token
            page.wait_for_selector("body.needs-token", state="attached", timeout=REFRESH_TIMEOUT_MS)
            assert page.is_visible("#token-form")
            assert any(urlsplit(r.url).path == "/api/churn/recent" and r.status == 401 for r in received)
            page.fill("#token-input", TOKEN)
            page.click("#token-form button[type=submit]")
            page.wait_for_function("() => !document.body.classList.contains('needs-token')", timeout=REFRESH_TIMEOUT_MS)
            assert page.is_hidden("#token-form")

            def served() -> list[str]:
                req = urllib.request.Request(f"{base}/api/churn/recent?limit=20")
                req.add_header("Authorization", f"Bearer {TOKEN}")
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return [str(e["customer_id"]) for e in json.load(resp)["events"]]

            def shown() -> list[str]:
                return page.eval_on_selector_all(
                    "#churn-table tbody tr[data-customer]", "rows => rows.map(r => r.getAttribute('data-customer'))"
                )

            on_page, from_api = eventually_equal(page, shown, served, ready=bool)
            assert on_page == from_api and from_api, (on_page, from_api)
            churn_calls = [r for r in requests if urlsplit(r.url).path == "/api/churn/recent"]
            assert churn_calls[-1].headers.get("authorization") == f"Bearer {TOKEN}"

            page.reload(wait_until="domcontentloaded")  # the same tab keeps it
            wait_for_refresh(page)
            assert page.is_hidden("#token-form") and "needs-token" not in (page.get_attribute("body", "class") or "")
            other = context.new_page()  # a new tab asks again
            other.goto(f"{base}/", wait_until="domcontentloaded")
            other.wait_for_selector("body.needs-token", state="attached", timeout=REFRESH_TIMEOUT_MS)
            assert TOKEN not in page.content() and TOKEN not in other.content()
            assert not any(TOKEN in r.url for r in requests)
        finally:
            browser.close()
