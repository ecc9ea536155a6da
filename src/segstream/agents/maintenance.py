"""Timers: the leader publishes model snapshots, learns clusters, refits the purchase models
and sweeps due customers; every worker watches the rules file and writes its status
(agents/status.py). A timer tick that finds Redis or Kafka away is skipped (the next tick
tries again): timers never take the worker down."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable

import faust

from segstream.agents import epochs, fatal
from segstream.agents.pipeline import Pipeline
from segstream.agents.sink import KAFKA_RETRYABLE
from segstream.agents.status import StatusReporter
from segstream.state.barrier import LIVE
from segstream.state.keys import CLOCK_GLOBAL
from segstream.state.status import STATUS_EVERY_S
from segstream.state.store import RETRYABLE

log = logging.getLogger(__name__)

SWEEP_PASSES = 50  # re-score passes over the due customers per sweep tick, at most
SWEEP_BUDGET = 0.5  # ... and no pass started after this share of the sweep interval
SLOW_SWEEP_S = 0.1  # a sweep tick longer than this is logged (with how many it re-scored)


def _skip_when_unavailable(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    @functools.wraps(fn)
    async def tick() -> None:
        try:
            await fn()
        except fatal.REFUSED as exc:  # before the retryable ones: Kafka's refusals are KafkaErrors too
            fatal.stop(fn.__name__, exc)
        except (*RETRYABLE, *KAFKA_RETRYABLE) as exc:
            log.warning("%s skipped: %s", fn.__name__, exc)

    return tick


def register(app: faust.App, pipeline: Pipeline, reporter: StatusReporter) -> None:
    s = pipeline.settings
    store = pipeline.store
    barrier = store.barrier()
    catchup = epochs.Catchup(pipeline, barrier)
    rescoring: set[str] = set()  # an operator's full re-score still sweeping (behind the barrier too)

    async def catching_up() -> bool:
        """Behind the event-time barrier the leader's jobs run per epoch (agents/epochs.py),
        not on wall-clock timers, so a replay's results do not depend on the machine's speed."""
        return bool(s.event_epoch_s) and (await barrier.epoch()).next != LIVE

    async def publish_snapshots() -> None:
        if not await catching_up():
            await pipeline.sync.publish()
            if pipeline.sync.early_fit_due():  # the first value fit: as soon as there are enough buyers
                await pipeline.leader.fit_value()

    async def learn_clusters() -> None:
        if not await catching_up():
            await pipeline.leader.learn_clusters()

    async def fit_value_models() -> None:
        if not await catching_up():
            await pipeline.leader.fit_value()

    async def advance_epoch() -> None:
        if s.event_epoch_s:
            while await catchup.advance():
                pass

    async def sweep_due() -> None:
        if await store.rescore_requested():
            await pipeline.sync.publish(force=True)
            await pipeline.leader.learn_clusters()
            await pipeline.leader.fit_value()
            n = await store.mark_all_due()
            await store.clear_rescore_request()  # after marking: waiters see due > 0
            log.info("full re-score requested: %d customers due now", n)
            rescoring.add("requested")
        elif not rescoring and s.event_epoch_s:
            ep = await barrier.epoch()
            if ep.next != LIVE:  # the epochs sweep (agents/epochs.py) ...
                if ep.done == ep.next:  # ... but events that came after the backlog's end wait for none
                    clock = (await store.clock()).get(CLOCK_GLOBAL, 0)
                    await pipeline.leader.sweep(until=min(ep.done - 1, clock))
                return
        # a silent customer may need several re-scores to catch up with a clock that moved
        # fast (a replay); each pass scores it at its next due time. Bounded per tick, in
        # passes and in time: a tick longer than the timer's interval overlaps the next
        # (Faust warns) and holds the batches' share of the event loop
        started = time.monotonic()
        ends = started + SWEEP_BUDGET * s.sweep_interval_s
        swept = 0
        for _ in range(SWEEP_PASSES):
            if not (n := await pipeline.leader.sweep()):
                rescoring.clear()  # an operator's full re-score is done
                break
            swept += n
            if time.monotonic() > ends:
                break
        if (took := time.monotonic() - started) > SLOW_SWEEP_S:  # what holds the batches back, for operators
            log.info("sweep re-scored %d due customers in %.0f ms", swept, took * 1000)

    async def watch_rules() -> None:
        await pipeline.sync.maybe_reload_rules()
        await pipeline.sync.maybe_reload_playbook()

    async def publish_status() -> None:
        await reporter.publish(leader=bool(app.is_leader()))

    for fn, interval, on_leader in (
        (publish_snapshots, s.snapshot_interval_s, True),
        (learn_clusters, s.cluster_interval_s, True),
        (fit_value_models, s.value_fit_interval_s, True),
        (sweep_due, s.sweep_interval_s, True),
        (advance_epoch, 0.05, True),  # a Redis read when nothing waits: cheap
        (watch_rules, 2.0, False),
        (publish_status, STATUS_EVERY_S, False),
    ):
        app.timer(interval, on_leader=on_leader, name=fn.__name__)(_skip_when_unavailable(fn))
