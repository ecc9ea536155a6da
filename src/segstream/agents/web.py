"""The worker's HTTP views (Faust's web server): only what the worker alone can answer.

``/health`` (Redis answers), ``/ready`` (this worker has partitions and work flows) and
``/metrics`` (its Prometheus counters). Customer documents, segment listings, the operators'
views and the dashboard are served by the standalone API (`segstream api`, api/server.py)
from Redis and the statuses workers write there (agents/status.py): the worker holds no
customer data behind a port, and its batches never wait behind a page of the dashboard.
"""

from __future__ import annotations

import asyncio
import logging

import faust
from faust.web import Request, Response, View

from segstream.agents.pipeline import Pipeline
from segstream.scoring.stability import volatility
from segstream.state.store import RETRYABLE

log = logging.getLogger(__name__)

POPULATION_TIMEOUT_S = 1.0  # /metrics waits this long for the populations, then serves the last ones


def register(app: faust.App, pipeline: Pipeline) -> None:
    store = pipeline.web_store  # used from the web server's thread only

    async def redis_problem() -> Exception | None:
        """Why Redis does not answer, or None."""
        try:
            await store.ping()
        except Exception as exc:  # any failure means not healthy (nor ready); say which
            return exc
        return None

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            if (problem := await redis_problem()) is not None:
                return self.json({"status": "unhealthy", "redis": str(problem)}, status=503)
            return self.json({"status": "ok"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            if (problem := await redis_problem()) is not None:
                return self.json({"status": "stalled", "reason": f"redis: {problem}"}, status=503)
            state = pipeline.progress.state()
            if not state.ready:  # rebalancing, standby or stalled: never a reassuring zero lag
                return self.json({"status": state.status, "reason": state.reason}, status=503)
            return self.json({"status": "ready", "assigned_partitions": state.partitions})

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
