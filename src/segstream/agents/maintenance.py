"""Timers: the leader publishes model snapshots and sweeps due customers; every worker
watches the rules file."""

from __future__ import annotations

import logging

import faust

from segstream.agents.pipeline import Pipeline

log = logging.getLogger(__name__)


def register(app: faust.App, pipeline: Pipeline) -> None:
    s = pipeline.settings

    @app.timer(s.snapshot_interval_s, on_leader=True, name="publish_snapshots")  # type: ignore[untyped-decorator]
    async def publish_snapshots() -> None:
        await pipeline.sync.publish()

    @app.timer(s.cluster_interval_s, on_leader=True, name="learn_clusters")  # type: ignore[untyped-decorator]
    async def learn_clusters() -> None:
        await pipeline.learn_clusters()

    @app.timer(s.sweep_interval_s, on_leader=True, name="sweep_due")  # type: ignore[untyped-decorator]
    async def sweep_due() -> None:
        store = pipeline.store
        if await store.client.get(store.keys.rescore_request):
            await pipeline.sync.publish(force=True)
            await pipeline.learn_clusters()
            n = await store.mark_all_due()
            await store.client.delete(store.keys.rescore_request)  # after marking: waiters see due > 0
            log.info("full re-score requested: %d customers due now", n)
        while await pipeline.sweep() >= 2000:
            pass  # a backlog of due customers: keep going until it is cleared

    @app.timer(2.0, name="watch_rules")  # type: ignore[untyped-decorator]
    async def watch_rules() -> None:
        await pipeline.sync.maybe_reload_rules()
