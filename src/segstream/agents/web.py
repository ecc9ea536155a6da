"""The worker's HTTP views (Faust's web server): ``/health``, ``/ready`` and ``/metrics``, which
only the worker can answer, and the same customer, segment and operator views the standalone
API serves (api/), built by the same functions."""

from __future__ import annotations

import asyncio
import logging

import faust
import msgspec
from faust.web import Request, Response, View

from segstream.agents.pipeline import Pipeline
from segstream.agents.status import StatusReporter
from segstream.api import ops
from segstream.api.dashboard import DASHBOARD_HTML
from segstream.api.http import HTTPProblem, int_param, json_errors, make_authorise
from segstream.api.listings import openapi, segment_page, segments_overview
from segstream.config import DANGEROUS_NO_TOKEN
from segstream.scoring.stability import volatility
from segstream.state.reader import Reader
from segstream.state.store import CURSOR_MAX, RETRYABLE
from segstream.streams.contracts import asyncapi

log = logging.getLogger(__name__)

POPULATION_TIMEOUT_S = 1.0  # /metrics waits this long for the populations, then serves the last ones


def register(app: faust.App, pipeline: Pipeline, reporter: StatusReporter) -> None:
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

    throughput = ops.Throughput()

    def leader() -> bool:
        return bool(app.is_leader())

    @app.page("/api/overview")
    class Overview(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            live = await ops.workers(store, reporter.own(leader()))
            return self.json(await ops.overview(store, pipeline.models, live, throughput))

    @app.page("/models")
    class ModelsView(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            live = await ops.workers(store, reporter.own(leader()))
            return self.json(ops.models_view(pipeline.models, live))

    @app.page("/api/flows")
    class Flows(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            minutes = int_param(request, "minutes", 15, 1, 1440)
            return self.json(await ops.flows(store, pipeline.models, language, minutes))

    @app.page("/api/churn/recent")
    class RecentChurn(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            authorise(request)  # customer ids, scores and segments
            limit = int_param(request, "limit", 20, 1, 200)
            return self.bytes(await ops.recent_churn(store, limit), content_type="application/json")

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            try:  # metrics must answer during a Redis outage: then the populations stay as last read
                counts = await asyncio.wait_for(store.segment_counts(), POPULATION_TIMEOUT_S)
                pipeline.metrics.set_populations(counts)
                flows = await asyncio.wait_for(store.flows(60), POPULATION_TIMEOUT_S)
                pipeline.metrics.set_stability(volatility(flows, counts, 60), pipeline.flips)
            except (TimeoutError, *RETRYABLE) as exc:
                log.warning("/metrics: segment populations not refreshed (%s)", exc)
            return self.bytes(pipeline.metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            return self.html(DASHBOARD_HTML)
