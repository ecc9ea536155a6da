"""HTTP views served by the worker (Faust's web server)."""

from __future__ import annotations

import logging

import faust
import msgspec
from faust.web import Request, Response, View

from segstream.agents.pipeline import Pipeline
from segstream.config import DANGEROUS_NO_TOKEN
from segstream.state.reader import Reader
from segstream.state.store import CURSOR_MAX
from segstream.streams.contracts import asyncapi

from . import ops
from .http import HTTPProblem, int_param, json_errors, make_authorise
from .listings import openapi, segment_page, segments_overview

log = logging.getLogger(__name__)


def register(app: faust.App, pipeline: Pipeline) -> None:
    store = pipeline.web_store  # used from the web server's thread only
    reader = Reader(pipeline.settings, store)  # the same document as `segstream customer`
    language = pipeline.settings.language
    authorise = make_authorise(pipeline.settings.token())
    if not pipeline.settings.token() and not pipeline.settings.web_is_loopback():
        log.warning("customer data is served without a token on %s (%s is set)",
                    pipeline.settings.web_host, DANGEROUS_NO_TOKEN)  # fmt: skip

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            try:
                await store.ping()
            except Exception as exc:  # any failure means not healthy; say which
                return self.json({"status": "unhealthy", "redis": str(exc)}, status=503)
            return self.json({"status": "ok"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            try:
                await store.ping()
            except Exception as exc:  # any failure means not ready; say which
                return self.json({"status": "stalled", "reason": f"redis: {exc}"}, status=503)
            state = pipeline.progress.state()
            if not state.ready:  # rebalancing, standby or stalled: never a reassuring zero lag
                return self.json({"status": state.status, "reason": state.reason}, status=503)
            return self.json({"status": "ready", "assigned_partitions": state.partitions})

    @app.page("/customers/{customer_id:[^/]+}")  # any character but /, percent-encoded
    class Customer(View):
        @json_errors
        async def get(self, request: Request, customer_id: str) -> Response:
            authorise(request)
            doc = await reader.customer(customer_id)
            if doc is None:
                raise HTTPProblem(404, f"no customer {customer_id!r}")
            return self.json(doc)

    @app.page("/segments/{dimension:[^/]+}/{segment:[^/]+}/customers")
    class SegmentCustomers(View):
        @json_errors
        async def get(self, request: Request, dimension: str, segment: str) -> Response:
            authorise(request)
            cursor = int_param(request, "cursor", 0, 0, CURSOR_MAX)
            limit = int_param(request, "limit", 100, 1, 1000)
            return self.json(await segment_page(store, dimension, segment, cursor, limit))

    @app.page("/segments")
    class Segments(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            return self.json(await segments_overview(store, pipeline.models, language))

    spec = openapi("worker")

    @app.page("/openapi.json")
    class OpenAPI(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(spec, content_type="application/json")

    events_spec = msgspec.json.encode(asyncapi(pipeline.settings))  # this deployment's topic names

    @app.page("/asyncapi.json")
    class AsyncAPI(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(events_spec, content_type="application/json")

    ops.register(app, pipeline, authorise)
