"""HTTP views served by the worker (Faust's web server)."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from segstream.agents.pipeline import Pipeline
from segstream.models.rfm import SEGMENT_NAMES
from segstream.streams.codec import from_us

from .dashboard import DASHBOARD_HTML


def customer_document(customer_id: str, state: Any, language: str) -> dict[str, Any]:
    names = SEGMENT_NAMES[language]

    def when(us: int) -> str | None:
        return from_us(us).isoformat() if us else None

    return {
        "customer_id": customer_id,
        "segments": {d: {"code": s, "name": names.get(s, s)} for d, s in state.segments.items()},
        "purchases": {
            "count": state.p_count,
            "spend": state.p_spend_minor / 100,
            "first": when(state.p_first_us),
            "last": when(state.p_last_us),
        },
        "last_event": when(state.last_event_us),
    }


def register(app: faust.App, pipeline: Pipeline) -> None:
    store = pipeline.store
    language = pipeline.settings.language

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            try:
                await store.client.ping()
            except Exception as exc:  # any failure means not healthy; say which
                return self.json({"status": "unhealthy", "redis": str(exc)}, status=503)
            return self.json({"status": "ok"})

    @app.page("/customers/{customer_id}")
    class Customer(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            state = await store.get(customer_id)
            if state is None:
                return self.json({"error": f"no customer {customer_id!r}"}, status=404)
            return self.json(customer_document(customer_id, state, language))

    @app.page("/segments")
    class Segments(View):
        async def get(self, request: Request) -> Response:
            counts = await store.segment_counts()
            stats = await store.stats()
            clock = (await store.clock()).get("global", 0)
            return self.json(
                {
                    "segments": counts,
                    "names": SEGMENT_NAMES[language],
                    "stats": stats,
                    "stream_clock": from_us(clock).isoformat() if clock else None,
                }
            )

    @app.page("/")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            return self.html(DASHBOARD_HTML)
