"""The standalone API process (`segstream api`): customer documents from Redis, nothing else.

No Faust, no Kafka consumer, no model step: a personalisation service's lookups never wait
behind a worker's batch. Several processes can share one port (``SO_REUSEPORT``, the
kernel spreads the connections); each is an aiohttp server with its own Redis connections,
reading from ``SEGSTREAM_REDIS_READ_URL`` (a replica) when it is set.

Endpoints: ``GET /customers/{id}`` (with an ``ETag``; ``If-None-Match`` gives 304),
``POST /customers:batchGet`` (up to :data:`MAX_BATCH` ids, one Redis round trip), the
segment listings, ``GET /openapi.json``, ``GET /asyncapi.json``, ``GET /health`` and
``GET /metrics`` (this process's request counts and latencies).

Reading from a replica, the API writes a heartbeat (wall time) on the primary every
:data:`HEARTBEAT_S` and reads it back from the replica with every lookup: the replica holds
every write the primary took before that heartbeat, so ``now - heartbeat`` bounds how far
behind the document can be. Each answer says where it was read and that bound
(``freshness``); past ``SEGSTREAM_API_MAX_STALENESS_S``, or while the replica does not
answer, the API reads from the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from segstream.api import ops
from segstream.api.dashboard import DASHBOARD_HTML
from segstream.api.http import (
    HTTPProblem,
    install_json_error_handler,
    int_param,
    json_error_middleware,
    make_authorise,
    web_options,
)
from segstream.api.listings import openapi, segment_page, segments_overview
from segstream.config import DANGEROUS_NO_TOKEN, LOOPBACK_HOSTS, Settings
from segstream.scoring.models import Models
from segstream.state.keys import SNAPSHOTS
from segstream.state.reader import Found, Reader
from segstream.state.store import CURSOR_MAX, RETRYABLE, Store
from segstream.streams.contracts import asyncapi

log = logging.getLogger(__name__)

#: Most ids one batch lookup takes.
MAX_BATCH: Final = 100
#: Seconds a lookup reuses the model snapshots last read (a new one shows within this time).
SNAPSHOTS_EVERY_S: Final = 1.0
#: Seconds between two heartbeats written on the primary while reading from a replica.
HEARTBEAT_S: Final = 0.2
_LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class BatchGet(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str]


class Freshness(msgspec.Struct):
    """Where an answer was read, and how far behind the primary it may be."""

    read_from: str  # "primary" or "replica"
    #: the replica held every write the primary took more than this long ago (0: primary)
    staleness_bound_ms: float


class Sources:
    """The primary and, when ``SEGSTREAM_REDIS_READ_URL`` is set, a replica to read from."""

    def __init__(self, settings: Settings, primary: Store, replica: Store | None) -> None:
        self.primary = Reader(settings, primary, SNAPSHOTS_EVERY_S)
        self.replica = Reader(settings, replica, SNAPSHOTS_EVERY_S) if replica else None
        self.max_staleness_us = int(settings.api_max_staleness_s * 1e6)
        #: the replica's staleness (µs) at the last heartbeat read back; None: unknown
        self.replica_behind_us: int | None = None

    async def customers(self, ids: list[str]) -> tuple[Found, Freshness]:
        """The documents, from the replica while it is within the staleness bound."""
        if self.replica is not None:
            try:
                found = await self.replica.customers(ids)
            except RETRYABLE:
                pass  # counted (segstream_api_primary_reads_total); the heartbeat logs the outage
            else:
                behind = _now_us() - found.heartbeat_us
                if found.heartbeat_us and behind <= self.max_staleness_us:
                    return found, Freshness("replica", round(max(behind, 0) / 1000, 1))
        return await self.primary.customers(ids), Freshness("primary", 0.0)

    def lister(self) -> Reader:
        """The reader of segment listings: the replica while it was last within the bound."""
        behind = self.replica_behind_us
        if self.replica is not None and behind is not None and behind <= self.max_staleness_us:
            return self.replica
        return self.primary

    async def heartbeat(self) -> None:
        """Write the heartbeat on the primary and read it back from the replica, forever."""
        assert self.replica is not None
        failing = False
        while True:
            try:
                await self.primary.store.beat(_now_us())
                seen = await self.replica.store.heartbeat()
                self.replica_behind_us = _now_us() - seen if seen else None
                if failing:
                    log.warning("heartbeat: the primary and the replica answer again")
                failing = False
            except RETRYABLE as exc:
                self.replica_behind_us = None
                if not failing:  # once per outage, not every beat
                    log.warning("heartbeat failed, lookups read the primary while it does: %s", exc)
                failing = True
            await asyncio.sleep(HEARTBEAT_S)


def _now_us() -> int:
    return time.time_ns() // 1000


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(settings: Settings) -> web.Application:
    """The API's aiohttp application (its Redis connections open on startup)."""
    authorise = make_authorise(settings.token())
    registry = CollectorRegistry()
    requests = Counter("segstream_api_requests", "Requests answered", ["route", "status"], registry=registry)
    latency = Histogram(
        "segstream_api_request_seconds", "Time to answer", ["route"], buckets=_LATENCY_BUCKETS, registry=registry
    )
    decoder = msgspec.json.Decoder(BatchGet)
    parts: dict[str, Any] = {}

    @web.middleware
    async def measured(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "other"
        started = time.perf_counter()
        try:
            response = await handler(request)
        except HTTPProblem as exc:
            response = web.json_response({"error": exc.message}, status=exc.status)
        except RETRYABLE as exc:
            response = web.json_response({"error": f"Redis unavailable: {exc}"}, status=503)
        latency.labels(route).observe(time.perf_counter() - started)
        requests.labels(route, str(response.status)).inc()
        return response

    fallbacks = Counter(
        "segstream_api_primary_reads", "Lookups read from the primary because the replica was too far behind "
        "or did not answer", registry=registry)  # fmt: skip
    behind = Gauge(
        "segstream_api_replica_staleness_seconds", "How far the replica was behind at the last heartbeat (-1: unknown)",
        registry=registry)  # fmt: skip
    events_spec = msgspec.json.encode(asyncapi(settings))

    async def open_stores(app: web.Application) -> Any:
        def store(url: str) -> Store:
            return Store.from_url(
                url,
                settings.redis_prefix,
                settings.redis_shards,
                settings.redis_cluster,
                due_slots=settings.redis_due_slots,
            )

        primary = store(settings.redis_url)
        replica = store(settings.redis_read_url) if settings.redis_read_url else None
        src = parts["sources"] = Sources(settings, primary, replica)
        beating = asyncio.create_task(src.heartbeat()) if replica else None
        yield
        if beating:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        for s in (primary, replica):
            if s:
                await s.close()

    def sources() -> Sources:
        return parts["sources"]  # type: ignore[no-any-return]

    async def lookup(ids: list[str]) -> tuple[Found, Freshness]:
        found, fresh = await sources().customers(ids)
        if fresh.read_from == "primary" and sources().replica is not None:
            fallbacks.inc()
        return found, fresh

    async def health(request: web.Request) -> web.StreamResponse:
        try:
            await sources().primary.store.ping()
        except Exception as exc:  # any failure means not healthy; say which
            return web.json_response({"status": "unhealthy", "redis": str(exc)}, status=503)
        return web.json_response({"status": "ok"})

    async def customer(request: web.Request) -> web.StreamResponse:
        authorise(request)  # type: ignore[arg-type]
        cid = request.match_info["customer_id"]
        found, fresh = await lookup([cid])
        if cid not in found.documents:
            raise HTTPProblem(404, f"no customer {cid!r}")
        doc, tag = found.documents[cid]
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if tag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
            return web.Response(status=304, headers=headers)
        doc["freshness"] = fresh  # the document is this request's own
        return _json(doc, headers)

    async def batch_get(request: web.Request) -> web.StreamResponse:
        authorise(request)  # type: ignore[arg-type]
        try:
            body = decoder.decode(await request.read())
        except msgspec.ValidationError as exc:
            raise HTTPProblem(400, f'expected {{"ids": [...]}}: {exc}') from None
        except msgspec.DecodeError:
            raise HTTPProblem(400, "the body is not JSON") from None
        ids = list(dict.fromkeys(body.ids))
        if not 1 <= len(ids) <= MAX_BATCH:
            raise HTTPProblem(400, f"ids must hold 1..{MAX_BATCH} distinct ids, got {len(ids)}")
        found, fresh = await lookup(ids)
        docs = found.documents
        return _json(
            {
                "customers": [docs[c][0] for c in ids if c in docs],
                "missing": [c for c in ids if c not in docs],
                "freshness": fresh,
            }
        )

    async def with_models() -> tuple[Store, Models]:
        """The store listings read from, and the models with the snapshots it holds now."""
        reader = sources().lister()
        _, _, blobs, _ = await reader.store.get_with_snapshots([], SNAPSHOTS)
        return reader.store, reader.use(blobs)

    async def segments(request: web.Request) -> web.StreamResponse:
        store, models = await with_models()
        return web.json_response(await segments_overview(store, models, settings.language))

    async def segment_customers(request: web.Request) -> web.StreamResponse:
        authorise(request)  # type: ignore[arg-type]
        cursor = int_param(request, "cursor", 0, 0, CURSOR_MAX)  # type: ignore[arg-type]
        limit = int_param(request, "limit", 100, 1, 1000)  # type: ignore[arg-type]
        info = request.match_info
        page = await segment_page(sources().lister().store, info["dimension"], info["segment"], cursor, limit)
        return web.json_response(page)

    async def spec(request: web.Request) -> web.StreamResponse:
        return web.Response(body=openapi("api"), content_type="application/json")

    throughput = ops.Throughput()

    async def overview(request: web.Request) -> web.StreamResponse:
        store, models = await with_models()
        return _json(await ops.overview(store, models, await ops.workers(store), throughput))

    async def models_view(request: web.Request) -> web.StreamResponse:
        store, models = await with_models()
        return _json(ops.models_view(models, await ops.workers(store)))

    async def flows(request: web.Request) -> web.StreamResponse:
        minutes = int_param(request, "minutes", 15, 1, 1440)  # type: ignore[arg-type]
        store, models = await with_models()
        return _json(await ops.flows(store, models, settings.language, minutes))

    async def recent_churn(request: web.Request) -> web.StreamResponse:
        authorise(request)  # type: ignore[arg-type]
        limit = int_param(request, "limit", 20, 1, 200)  # type: ignore[arg-type]
        body = await ops.recent_churn(sources().lister().store, limit)
        return web.Response(body=body, content_type="application/json")

    async def dashboard(request: web.Request) -> web.StreamResponse:
        return web.Response(text=DASHBOARD_HTML, content_type="text/html")

    async def events(request: web.Request) -> web.StreamResponse:
        return web.Response(body=events_spec, content_type="application/json")

    async def metrics(request: web.Request) -> web.StreamResponse:
        if sources().replica is not None:
            us = sources().replica_behind_us
            behind.set(-1 if us is None else us / 1e6)
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(middlewares=[json_error_middleware, measured], handler_args=web_options()["handler_args"])
    app.cleanup_ctx.append(open_stores)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/customers/{customer_id:[^/]+}", customer)
    app.router.add_post("/customers:batchGet", batch_get)
    app.router.add_get("/segments", segments)
    app.router.add_get("/segments/{dimension:[^/]+}/{segment:[^/]+}/customers", segment_customers)
    app.router.add_get("/openapi.json", spec)
    app.router.add_get("/asyncapi.json", events)
    app.router.add_get("/api/overview", overview)
    app.router.add_get("/api/flows", flows)
    app.router.add_get("/api/churn/recent", recent_churn)
    app.router.add_get("/models", models_view)
    app.router.add_get("/", dashboard)
    return app


def _json(obj: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer encoded once, straight to bytes."""
    return web.Response(body=msgspec.json.encode(obj), content_type="application/json", headers=headers)


def serve(settings: Settings, processes: int | None = None) -> None:
    """Run the API in ``processes`` processes on one port until SIGINT or SIGTERM."""
    n = processes or settings.api_processes
    if not settings.token() and settings.api_host not in LOOPBACK_HOSTS:
        log.warning("customer data is served without a token on %s (%s is set)", settings.api_host, DANGEROUS_NO_TOKEN)
    install_json_error_handler()
    if n == 1:
        _run_one(settings)
        return
    children: list[int] = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:  # the child: its own event loop, its own Redis connections
            try:
                _run_one(settings)
            finally:
                os._exit(0)
        children.append(pid)
    log.info("segstream api: %d processes on %s:%d", n, settings.api_host, settings.api_port)

    def stop(signum: int, frame: Any) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = 0
    for pid in children:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        failed += os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM, -signal.SIGINT)
    if failed:
        sys.exit(1)


def _run_one(settings: Settings) -> None:
    # what is alive now (modules, settings, models) lives as long as the process: moved out
    # of the collector's generations, a full collection no longer walks it (tens of ms)
    gc.collect()
    gc.freeze()
    web.run_app(
        make_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        reuse_port=True,
        print=None,
        access_log=None,
    )
