"""The one retry policy of every Redis call a worker makes: retried while Redis is away
(metrics and the worker's progress say so), fatal when Redis refuses (ACL, password)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from segstream.agents import fatal
from segstream.agents.metrics import Metrics
from segstream.agents.progress import Progress
from segstream.state.store import retry_forever

T = TypeVar("T")


class RedisRetry:
    """``await retry("what", fn)``: run ``fn`` until it succeeds, timing it per ``what``."""

    def __init__(self, max_delay_s: float, metrics: Metrics, progress: Progress) -> None:
        self.max_delay_s = max_delay_s
        self.metrics = metrics
        self.progress = progress

    async def __call__(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        m = self.metrics

        def failed(exc: BaseException) -> None:
            m.redis_retries.labels(what).inc()
            m.redis_unavailable.set(1)
            self.progress.waiting_for = "Redis"

        def recovered() -> None:
            m.redis_unavailable.set(0)
            self.progress.waiting_for = ""

        started = time.perf_counter()
        try:
            return await retry_forever(what, fn, max_delay=self.max_delay_s, on_retry=failed, on_recover=recovered)
        except fatal.REFUSED as exc:  # NOPERM, a wrong password: no retry fixes those
            fatal.stop(what, exc)
        finally:
            m.redis_seconds.labels(what).observe(time.perf_counter() - started)
