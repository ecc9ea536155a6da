"""Sending feeder events to Kafka (kafka-python), paced by rate or event-time speed-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from segstream.config import Settings
from segstream.streams import kinds
from segstream.streams.codec import encode
from segstream.streams.schemas import Event
from segstream.streams.topics import connect

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pace:
    """At most ``rate`` events per wall second, or event time ``speedup`` x faster than life."""

    rate: float | None = None
    speedup: float | None = None


def make_producer(settings: Settings) -> KafkaProducer:
    return connect(
        settings,
        lambda security: KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=f"{settings.app_id}-feeder",
            acks="all",
            linger_ms=10,
            batch_size=256 * 1024,
            retries=10,
            max_in_flight_requests_per_connection=1,  # keep per-key order through retries
            reconnect_backoff_max_ms=1000,  # several bootstrap attempts, not one, before giving up
            **security,
        ),
    )


def topic_router(settings: Settings) -> Callable[[Event], str]:
    """The input topic of each event type."""
    names = {k.schema: settings.topic(k.name) for k in kinds.KINDS}
    return lambda ev: names[type(ev)]


def send_events(
    producer: KafkaProducer,
    topic: str | Callable[[Event], str],
    events: Iterable[Event],
    *,
    total: int | None = None,
    pace: Pace = Pace(),
    progress: bool = True,
    label: str = "sending",
) -> int:
    """Send each event keyed by its customer id; return how many were sent."""
    route = topic if callable(topic) else (lambda _ev: topic)
    sent = 0
    t0 = time.monotonic()
    first_ts = None
    columns = [
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(label, total=total, rate="")
        for ev in events:
            if pace.rate:
                ahead = sent / pace.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            elif pace.speedup:
                first_ts = first_ts or ev.ts
                ahead = (ev.ts - first_ts).total_seconds() / pace.speedup - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(min(ahead, 60.0))
            producer.send(route(ev), key=ev.customer_id.encode(), value=encode(ev))
            sent += 1
            if sent % 500 == 0:
                elapsed = max(1e-9, time.monotonic() - t0)
                bar.update(task, completed=sent, rate=f"{sent / elapsed:,.0f} ev/s")
        producer.flush()
        elapsed = max(1e-9, time.monotonic() - t0)
        bar.update(task, completed=sent, rate=f"{sent / elapsed:,.0f} ev/s")
    return sent


def until(events: Iterable[Event], end: datetime) -> Iterator[Event]:
    """The events (in event-time order) up to ``end``."""
    for e in events:
        if e.ts > end:
            return
        yield e


def backfill_then_live(
    events: Iterable[Event], now: datetime, rate: float | None, say: Callable[[str], Any] = log.info
) -> Iterator[Event]:
    """Events up to ``now`` at ``rate`` per second (None: as fast as they are taken), the
    backfill; then each one when the wall clock reaches its time (live), saying so once."""
    started = time.monotonic()
    sent = 0
    backfill = True
    for e in events:
        if backfill and e.ts <= now:
            if rate and (ahead := sent / rate - (time.monotonic() - started)) > 0:
                time.sleep(ahead)
            sent += 1
            yield e
            continue
        if backfill:
            backfill = False
            say(f"backfill done: {sent} events up to {now.isoformat(timespec='seconds')}; live from here")
        while (wait := (e.ts - datetime.now(UTC)).total_seconds()) > 0:
            time.sleep(min(wait, 1.0))
        yield e
