"""Operators' views: overview (throughput, lag, dead letters), segment flows, latest
churn-risk events, Prometheus metrics and the live dashboard."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import faust
import msgspec
from faust.web import Request, Response, View

from segstream.agents.pipeline import Pipeline
from segstream.scoring.models import segment_name
from segstream.scoring.stability import volatility
from segstream.state.store import RETRYABLE
from segstream.streams.codec import from_us

from .dashboard import DASHBOARD_HTML
from .http import int_param, json_errors

log = logging.getLogger(__name__)

RATE_WINDOW_S = 10.0  # events/s is measured over about this much wall time
POPULATION_TIMEOUT_S = 1.0  # /metrics waits this long for the populations, then serves the last ones


class Throughput:
    """Applied events per second from successive readings of the applied-event counters."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, total: int, now: float) -> float:
        """Record a reading; the rate since the oldest reading within the window."""
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        t0, n0 = self._samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


def register(app: faust.App, pipeline: Pipeline, authorise: Callable[[Request], None]) -> None:
    store = pipeline.web_store  # used from the web server's thread only
    language = pipeline.settings.language
    throughput = Throughput()

    @app.page("/api/overview")
    class Overview(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            stats = await store.stats()
            clock = (await store.clock()).get("global", 0)
            applied = sum(v for k, v in stats.items() if k.startswith("events:"))
            state = pipeline.progress.state()
            behind = dict(pipeline.lag)  # a copy: the worker's thread updates it
            lag: dict[str, dict[str, int]] = {}
            for (topic, partition), n in sorted(behind.items()):
                lag.setdefault(topic, {})[str(partition)] = n
            dead = {k.removeprefix("dlq:"): v for k, v in stats.items() if k.startswith("dlq:")}
            flows, counts = await store.flows(60), await store.segment_counts()
            moves = volatility(flows, counts, 60)
            flips = pipeline.flips
            stability = {
                dim: {
                    "volatility_per_hour": moves.get(dim, 0.0),
                    "moves": flips.moves[dim],
                    "flip_backs": flips.backs[dim],
                    "flip_back_rate": round(flips.rate(dim), 4),
                }
                for dim in sorted(set(moves) | set(flips.moves))
            }
            models = pipeline.models
            snaps = {"rfm": models.rfm_snapshot, "cluster": models.cluster_snapshot, "value": models.value_snapshot}
            return self.json(
                {
                    "stream_clock": from_us(clock).isoformat() if clock else None,
                    "events_per_s": round(throughput.rate(applied, time.monotonic()), 1),
                    "applied_total": applied,
                    "lag": lag,
                    "lag_total": sum(behind.values()) if state.partitions else None,
                    "processing": {"status": state.status, "reason": state.reason},
                    "dead_letters": dead,
                    "dead_letters_total": sum(dead.values()),
                    "model_versions": {k: s.version if s else None for k, s in snaps.items()},
                    "stability": stability,
                }
            )

    @app.page("/models")
    class ModelsView(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            m = pipeline.models
            rfm, clusters, value = m.rfm_snapshot, m.cluster_snapshot, m.value_snapshot
            return self.json(
                {
                    "rfm": {"version": rfm.version, "customers": rfm.customers} if rfm else None,
                    "cluster": {
                        "version": clusters.version,
                        "k": clusters.k or len(clusters.ids),
                        "k_method": clusters.k_method,
                        "k_score": clusters.k_score,
                    }
                    if clusters
                    else None,
                    "value": {
                        "version": value.version,
                        "customers": value.customers,
                        "status": value.status,
                        "bgnbd_status": value.bgnbd_status,
                        "gammagamma_status": value.gammagamma_status,
                    }
                    if value
                    else None,
                    "grades": msgspec.to_builtins(pipeline.grading.report()),
                }
            )

    @app.page("/api/flows")
    class Flows(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            minutes = int_param(request, "minutes", 15, 1, 1440)
            flows: dict[str, list[dict[str, Any]]] = {}
            names: dict[str, dict[str, str]] = {}
            for dim, moves in (await store.flows(minutes)).items():
                rows = [{"from": old or None, "to": new, "count": n} for (old, new), n in moves.items() if n]
                flows[dim] = sorted(rows, key=lambda r: -r["count"])
                codes = {c for (old, new) in moves for c in (old, new) if c}
                names[dim] = {c: segment_name(dim, c, pipeline.models, language) for c in codes}
            return self.json({"minutes": minutes, "flows": flows, "names": names})

    @app.page("/api/churn/recent")
    class RecentChurn(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            authorise(request)  # customer ids, scores and segments
            limit = int_param(request, "limit", 20, 1, 200)
            events = await store.recent_churn_events(limit)
            body = b'{"events":[' + b",".join(events) + b"]}"
            return self.bytes(body, content_type="application/json")

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
