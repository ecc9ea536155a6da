"""Operators' views, built from what Redis holds: overview (throughput, lag, dead letters,
stability), segment flows, the latest churn-risk events and the models with their grades.

Framework-free: the standalone API (api/server.py) and the worker's own web server
(agents/web.py) answer with the same builders. What only a worker knows (its processing
state, lag, flip-backs, self-grading) comes from the statuses every worker writes into
Redis (state/status.py), so the views add up all workers and need none of their memory.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import msgspec

from segstream.scoring.models import Models, segment_name
from segstream.scoring.stability import volatility
from segstream.state.status import Workers, combine
from segstream.state.store import Store
from segstream.streams.codec import from_us

RATE_WINDOW_S = 10.0  # events/s is measured over about this much wall time


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


async def workers(store: Store) -> Workers:
    """Every worker's status as stored, combined as of now."""
    return combine(await store.statuses(), time.time_ns() // 1000)


async def overview(store: Store, models: Models, live: Workers, throughput: Throughput) -> dict[str, Any]:
    """``GET /api/overview``."""
    stats = await store.stats()
    clock = (await store.clock()).get("global", 0)
    applied = sum(v for k, v in stats.items() if k.startswith("events:"))
    dead = {k.removeprefix("dlq:"): v for k, v in stats.items() if k.startswith("dlq:")}
    flows, counts = await store.flows(60), await store.segment_counts()
    per_hour = volatility(flows, counts, 60)
    moves, backs = live.moves()
    stability = {
        dim: {
            "volatility_per_hour": per_hour.get(dim, 0.0),
            "moves": moves[dim],
            "flip_backs": backs[dim],
            "flip_back_rate": round(backs[dim] / moves[dim], 4) if moves[dim] else 0.0,
        }
        for dim in sorted(set(per_hour) | set(moves))
    }
    snaps = {"rfm": models.rfm_snapshot, "cluster": models.cluster_snapshot, "value": models.value_snapshot}
    return {
        "stream_clock": from_us(clock).isoformat() if clock else None,
        "events_per_s": round(throughput.rate(applied, time.monotonic()), 1),
        "applied_total": applied,
        "lag": live.lag,
        "lag_total": live.lag_total,
        "processing": live.processing,
        "workers": [
            {
                "worker": w.worker,
                "leader": w.leader,
                "status": w.status,
                "reason": w.reason,
                "partitions": w.partitions,
                "updated": from_us(w.updated_us).isoformat(),
            }
            for w in sorted(live.live, key=lambda w: w.worker)
        ],
        "workers_gone": live.gone,
        "dead_letters": dead,
        "dead_letters_total": sum(dead.values()),
        "model_versions": {k: s.version if s else None for k, s in snaps.items()},
        "stability": stability,
    }


def models_view(models: Models, live: Workers) -> dict[str, Any]:
    """``GET /models``: the published snapshots and how the workers' scores graded."""
    rfm, clusters, value = models.rfm_snapshot, models.cluster_snapshot, models.value_snapshot
    grades = live.grades
    return {
        "rfm": {"version": rfm.version, "customers": rfm.customers} if rfm else None,
        "cluster": {
            "version": clusters.version,
            "k": clusters.k or len(clusters.ids),
            "k_method": clusters.k_method,
            "k_score": clusters.k_score,
            "k_changed_at": clusters.rebuilt,
        }
        if clusters
        else None,
        "value": {
            "version": value.version,
            "customers": value.customers,
            "status": value.status,
            "bgnbd_status": value.bgnbd_status,
            "gammagamma_status": value.gammagamma_status,
            "paretonbd_status": value.paretonbd_status,
            "lapse_model": models.value.lapse_model,
        }
        if value
        else None,
        "grades": msgspec.to_builtins(grades) if grades is not None else None,
        "grades_by_worker": msgspec.to_builtins(live.grades_by_worker),
    }


async def flows(store: Store, models: Models, language: str, minutes: int) -> dict[str, Any]:
    """``GET /api/flows``: moves between segments in the last ``minutes``, with names."""
    out: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, dict[str, str]] = {}
    for dim, moves in (await store.flows(minutes)).items():
        rows = [{"from": old or None, "to": new, "count": n} for (old, new), n in moves.items() if n]
        out[dim] = sorted(rows, key=lambda r: -r["count"])
        codes = {c for (old, new) in moves for c in (old, new) if c}
        names[dim] = {c: segment_name(dim, c, models, language) for c in codes}
    return {"minutes": minutes, "flows": out, "names": names}


async def recent_churn(store: Store, limit: int) -> bytes:
    """``GET /api/churn/recent``: the newest churn-risk events, as they were sent (JSON)."""
    return b'{"events":[' + b",".join(await store.recent_churn_events(limit)) + b"]}"
