"""The standalone API process (`segstream api`): customer documents from Redis, nothing else.

No Faust, no Kafka consumer, no model step: a personalisation service's lookups never wait
behind a worker's batch. Several processes can share one port (``SO_REUSEPORT``, the
kernel spreads the connections); each is an aiohttp server with its own Redis connections,
reading from ``SEGSTREAM_REDIS_READ_URL`` (a replica) when it is set.

Endpoints: ``GET /customers/{id}`` (with an ``ETag``; ``If-None-Match`` gives 304),
``POST /customers:batchGet`` (up to :data:`MAX_BATCH` ids, one Redis round trip),
``GET /health`` and ``GET /metrics`` (this process's request counts and latencies).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from segstream.api.http import (
    HTTPProblem,
    install_json_error_handler,
    json_error_middleware,
    make_authorise,
    web_options,
)
from segstream.config import Settings
from segstream.state.reader import Reader
from segstream.state.store import RETRYABLE, Store

log = logging.getLogger(__name__)

#: Most ids one batch lookup takes.
MAX_BATCH: Final = 100
_LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class BatchGet(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str]


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

    async def open_store(app: web.Application) -> Any:
        url = settings.redis_read_url or settings.redis_url
        store = Store.from_url(url, settings.redis_prefix, settings.redis_shards, settings.redis_cluster)
        parts["reader"] = Reader(settings, store)
        yield
        await store.close()

    def reader() -> Reader:
        return parts["reader"]  # type: ignore[no-any-return]

    async def health(request: web.Request) -> web.StreamResponse:
        try:
            await reader().store.ping()
        except Exception as exc:  # any failure means not healthy; say which
            return web.json_response({"status": "unhealthy", "redis": str(exc)}, status=503)
        return web.json_response({"status": "ok"})

    async def customer(request: web.Request) -> web.StreamResponse:
        authorise(request)  # type: ignore[arg-type]
        cid = request.match_info["customer_id"]
        found = await reader().customers([cid])
        if not found:
            raise HTTPProblem(404, f"no customer {cid!r}")
        doc, tag = found[cid]
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if tag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
            return web.Response(status=304, headers=headers)
        return web.json_response(doc, headers=headers, dumps=_dumps)

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
        found = await reader().customers(ids)
        return web.json_response(
            {"customers": [found[c][0] for c in ids if c in found], "missing": [c for c in ids if c not in found]},
            dumps=_dumps,
        )

    async def metrics(request: web.Request) -> web.StreamResponse:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(middlewares=[json_error_middleware, measured], handler_args=web_options()["handler_args"])
    app.cleanup_ctx.append(open_store)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/customers/{customer_id:[^/]+}", customer)
    app.router.add_post("/customers:batchGet", batch_get)
    return app


def _dumps(obj: Any) -> str:
    return msgspec.json.encode(obj).decode()


def serve(settings: Settings, processes: int | None = None) -> None:
    """Run the API in ``processes`` processes on one port until SIGINT or SIGTERM."""
    n = processes or settings.api_processes
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
    web.run_app(
        make_app(settings), host=settings.api_host, port=settings.api_port, reuse_port=True, print=None, access_log=None
    )
