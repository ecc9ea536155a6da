"""The ``segstream`` command: worker, topics, contracts, simulate, replay, import, export, watch, customer, status,
dlq.

Bad settings or arguments and unreachable servers end with a one-line message and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from redis.exceptions import RedisError

from segstream import logsafe
from segstream.config import ConfigError, Settings, load_settings
from segstream.feeders.dlq import dlq_cli
from segstream.feeders.export_cli import export_command
from segstream.feeders.import_cli import import_command
from segstream.streams.topics import KafkaUnavailable, create_topics

T = TypeVar("T")
cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="segstream: real-time customer segmentation on Kafka and Redis.",
)
topics_cli = typer.Typer(no_args_is_help=True, help="Kafka topics.")
cli.add_typer(topics_cli, name="topics")
segments_cli = typer.Typer(no_args_is_help=True, help="Rule segments.")
cli.add_typer(segments_cli, name="segments")
cli.add_typer(dlq_cli, name="dlq")  # dlq list, dlq replay (feeders/dlq.py)
cli.command("import")(import_command)  # feeders/import_cli.py
cli.command("export")(export_command)  # feeders/export_cli.py


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"segstream: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(str(exc), 2)
    logsafe.install(settings.secret_values())
    return settings


def guarded(fn: Callable[[], T]) -> T:
    """Run fn; turn unreachable Kafka/Redis into a one-line error."""
    try:
        return fn()
    except KafkaUnavailable as exc:
        fail(str(exc))
    except ConfigError as exc:  # a bad rules or playbook file
        fail(str(exc), 2)
    except (RedisError, OSError) as exc:
        fail(f"Redis error: {exc}")


def _aware(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 time: {value!r}") from None
    if ts.tzinfo is None:
        raise typer.BadParameter("needs a UTC offset, e.g. 2024-01-01T00:00:00+00:00")
    return ts


@cli.command()
def worker(
    web_port: Annotated[int | None, typer.Option(help="Port of /health, /ready and /metrics")] = None,
) -> None:
    """Run a segstream worker (Faust) until Ctrl-C / SIGTERM."""
    settings = settings_or_exit(web_port=web_port)
    guarded(lambda: create_topics(settings))
    from faust.worker import Worker

    from segstream.app import create_app

    try:
        app, _ = create_app(settings)
    except ConfigError as exc:
        fail(str(exc), 2)

    class SafeWorker(Worker):  # Faust sets its logging up itself: redact secrets in it too
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            logsafe.install(settings.secret_values(), logger)

    SafeWorker(app, loglevel=settings.log_level).execute_from_commandline()


@cli.command()
def api(
    port: Annotated[int | None, typer.Option(help="Port (default SEGSTREAM_API_PORT)")] = None,
    processes: Annotated[int | None, typer.Option(help="Processes sharing the port (SEGSTREAM_API_PROCESSES)")] = None,
) -> None:
    """Serve the customer API from Redis alone (no Kafka, no worker) until Ctrl-C / SIGTERM."""
    settings = settings_or_exit(api_port=port, api_processes=processes)
    if problem := settings.api_exposure_problem():
        fail(problem, 2)
    from segstream.api.server import serve

    serve(settings)


@topics_cli.command("create")
def topics_create(
    partitions: Annotated[int | None, typer.Option(min=1, max=1024, help="Partitions per topic")] = None,
) -> None:
    """Create segstream's topics (existing ones are left as they are)."""
    settings = settings_or_exit(partitions=partitions)
    for r in guarded(lambda: create_topics(settings)):
        typer.echo(f"{r.name:32} {'created' if r.created else 'exists':8} {r.partitions} partitions")


@cli.command()
def contracts(
    out: Annotated[Path, typer.Option(help="Directory to write the documents to (created if missing)")] = Path(
        "contracts"
    ),
) -> None:
    """Write the event contracts: asyncapi.json and one <topic>.schema.json per topic."""
    from segstream.streams.contracts import asyncapi, json_schemas

    settings = settings_or_exit()
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory", 2)
    documents = {"asyncapi.json": asyncapi(settings)}
    documents |= {f"{topic}.schema.json": schema for topic, schema in json_schemas().items()}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, doc in documents.items():
            (out / name).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    typer.echo(f"wrote {len(documents)} files to {out}")


@segments_cli.command("check")
def segments_check(
    file: Annotated[
        Path | None, typer.Argument(help="Rules file (default: SEGSTREAM_RULES_FILE or the packaged one)")
    ] = None,
) -> None:
    """Validate a rules file; print its dimensions, or the line and reason of the first mistake."""
    from segstream.models.rules import RulesError
    from segstream.scoring.models import load_rules, rules_path

    path = file or rules_path(settings_or_exit())
    try:
        rules = load_rules(path)
    except RulesError as exc:
        fail(str(exc))
    for dim, rs in rules.dimensions.items():
        typer.echo(f"{dim:16} {', '.join(r.segment for r in rs)}")


@segments_cli.command("reload")
def segments_reload() -> None:
    """Check the rules file, then tell every worker to reload it (a bad file is refused here)."""
    from segstream.models.rules import RulesError
    from segstream.scoring.models import load_rules, rules_path

    settings = settings_or_exit()
    try:
        load_rules(rules_path(settings))
    except RulesError as exc:
        fail(f"{exc}; the workers keep their current rules")

    async def bump(store: Any) -> int:
        return int(await store.bump_rules_generation())

    generation = _with_store(bump)
    typer.echo(f"rules generation {generation}: workers reload {rules_path(settings)} within ~2 s")


@segments_cli.command("rescore")
def segments_rescore(
    wait: Annotated[bool, typer.Option(help="Wait until the leader has re-scored everyone")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait at most")] = 600.0,
) -> None:
    """Ask the leader to publish fresh model snapshots and re-score every customer now."""
    import time

    async def request(store: Any) -> None:
        await store.request_rescore()

    idle_ms = round(settings_or_exit().idle_partition_s * 1000)

    async def pending(store: Any) -> tuple[bool, int]:
        from segstream.scoring.clock import scoring_clock

        clock = scoring_clock(await store.clock(), int(time.time() * 1000), idle_ms)  # the sweep's clock
        return await store.rescore_requested(), await store.due_count(clock)

    from segstream.streams.topics import group_state

    settings = settings_or_exit()
    _with_store(request)
    deadline = time.monotonic() + timeout
    looked = 0.0
    while wait:
        requested, due = _with_store(pending)
        if not requested and due == 0:
            typer.echo("re-scored: no customer is due")
            return
        if time.monotonic() > deadline:
            fail(f"timed out: {due} customer(s) still due (is a worker running?)")
        if time.monotonic() - looked > 5:  # nobody to serve it: say so now, not after the timeout
            looked = time.monotonic()
            if guarded(lambda: group_state(settings))[1] == 0:
                fail(f"no worker is in consumer group {settings.app_id}: the re-score is requested and "
                     "runs when one starts (segstream worker)")  # fmt: skip
        time.sleep(0.5)
    typer.echo("re-score requested")


@cli.command()
def simulate(
    customers: Annotated[int, typer.Option(min=1, help="Population size")] = 5000,
    rate: Annotated[float, typer.Option(min=0, help="Events per second (0 = as fast as possible)")] = 500.0,
    events: Annotated[int | None, typer.Option(min=1, help="Stop after this many events")] = None,
    seed: Annotated[int, typer.Option(help="Random seed; same seed and start, same events")] = 42,
    start: Annotated[
        str | None, typer.Option(help="Event time of the first signup (ISO-8601 with offset); default two years ago")
    ] = None,
    purchases_only: Annotated[bool, typer.Option(help="Only purchases (no usage, feedback, profiles)")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    after: Annotated[
        str | None, typer.Option(help="Send only events after this time (resume a simulation with the same seed)")
    ] = None,
    live: Annotated[
        bool, typer.Option(help="Past the present, go on at life's pace: each event sent when its time comes")
    ] = False,
    signup_days: Annotated[float, typer.Option(min=0.001, help="Signups spread over this many days")] = 30.0,
    comeback: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of churners who come back once after a pause")
    ] = 0.0,
) -> None:
    """Feed synthetic customers' events into Kafka, in event time, until the present
    (at --rate), and then, with --live, at life's pace until stopped."""
    from segstream.feeders.producer import Pace, backfill_then_live, make_producer, send_events, topic_router, until
    from segstream.feeders.simulator import Simulator

    settings = settings_or_exit()
    now = datetime.now(UTC)
    t0 = _aware(start) if start else (now - timedelta(days=730)).replace(hour=0, minute=0, second=0, microsecond=0)
    sim = Simulator(customers, t0, seed, signup_days=signup_days, comeback_share=comeback)
    everything: Iterator[Any] = sim.purchases() if purchases_only else sim.events()
    if after:
        skip = _aware(after)
        everything = (e for e in everything if e.ts > skip)
    stream: Iterator[Any] = everything if live else until(everything, now)
    if live:
        stream = backfill_then_live(stream, now, rate or None, say=typer.echo)
    if events:
        stream = islice(stream, events)
    producer = guarded(lambda: make_producer(settings))
    typer.echo(f"simulating {customers} customers from {t0.isoformat()} (seed {seed})")
    n = send_events(
        producer,
        topic_router(settings),
        stream,
        total=events,
        pace=Pace(rate=None if live else rate or None),  # live: paced by backfill_then_live
        progress=progress,
        label="simulate",
    )
    producer.close()
    typer.echo(f"sent {n} events")


@cli.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CDNOW master or sample file")],
    speedup: Annotated[
        float | None,
        typer.Option(min=1, help="Event time this many times faster than life (default: as fast as possible)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Send only the first N events (in time order)")] = None,
    until: Annotated[
        str | None, typer.Option(help="Only purchases on or before this date (YYYY-MM-DD), e.g. a calibration end")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Replay CDNOW purchases into Kafka in event-time order (event time from the file)."""
    from segstream.feeders.cdnow import cdnow_events, read_cdnow
    from segstream.feeders.producer import Pace, make_producer, send_events

    settings = settings_or_exit()
    try:
        df = read_cdnow(file)
    except (ValueError, OSError) as exc:
        fail(f"cannot read {file}: {exc}", 2)
    if until is not None:
        try:
            end = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            fail(f"--until: expected a date YYYY-MM-DD, got {until!r}", 2)
        df = df[df["date"] <= end]
    total = min(len(df), limit) if limit else len(df)
    producer = guarded(lambda: make_producer(settings))
    n = send_events(
        producer,
        settings.topic("purchases"),
        islice(cdnow_events(df), total),
        total=total,
        pace=Pace(speedup=speedup),
        progress=progress,
        label="replay",
    )
    producer.close()
    typer.echo(f"replayed {n} purchases of {df['customer_id'].nunique()} customers from {file}")


@cli.command()
def watch(
    topic: Annotated[str, typer.Option(help="segment_changes, churn_risk or dlq")] = "segment_changes",
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest message")] = False,
    max_messages: Annotated[int | None, typer.Option("--max", min=1, help="Stop after N messages")] = None,
) -> None:
    """Print output events as they arrive (one JSON document per line)."""
    from kafka import KafkaConsumer

    from segstream.streams.security import client_kwargs, describe_failure, tls_problem

    settings = settings_or_exit()
    if problem := tls_problem(settings):
        fail(problem)
    if topic not in ("segment_changes", "churn_risk", "dlq"):
        fail(f"unknown topic {topic!r}; choose segment_changes, churn_risk or dlq", 2)
    try:
        consumer = KafkaConsumer(
            settings.topic(topic),
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=False,
            **client_kwargs(settings),
        )
    except Exception as exc:  # kafka-python raises several unrelated types here
        fail(describe_failure(settings, exc))
    try:
        for i, msg in enumerate(consumer, 1):
            typer.echo(msg.value.decode("utf-8", "replace"))
            if max_messages and i >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _with_store(fn: Callable[[Any], Any]) -> Any:
    from segstream.state.store import Store

    settings = settings_or_exit()

    async def run() -> Any:
        store = Store.from_settings(settings)
        try:
            return await fn(store)
        finally:
            await store.close()

    return guarded(lambda: asyncio.run(run()))


@cli.command()
def customer(customer_id: Annotated[str, typer.Argument(help="The customer id")]) -> None:
    """Print one customer's document as JSON: the same document as ``GET /customers/{id}``."""
    from segstream.state.reader import Reader

    settings = settings_or_exit()

    async def read(store: Any) -> dict[str, Any] | None:
        return await Reader(settings, store).customer(customer_id)

    doc = _with_store(read)
    if doc is None:
        fail(f"no customer {customer_id!r}")
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@cli.command()
def status(
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between the two readings for events/s")] = 1.0,
) -> None:
    """Whether the workers process (or are rebalancing, stalled), lag per partition, events/s,
    dead letters and segment populations.

    Exits non-zero with a one-line message when Kafka or Redis cannot be reached."""
    import time

    from rich.console import Console
    from rich.table import Table

    from segstream.state.status import STATUS_STALE_S, combine, group_verdict
    from segstream.streams.topics import consumer_lag, group_state

    settings = settings_or_exit()

    async def read(store: Any) -> tuple[Any, Any, Any]:
        return await store.segment_counts(), await store.stats(), await store.statuses()

    def applied(stats: dict[str, int]) -> int:
        return sum(v for k, v in stats.items() if k.startswith("events:"))

    _, before, _ = _with_store(read)
    lag = guarded(lambda: consumer_lag(settings))
    time.sleep(interval)
    counts, stats, statuses = _with_store(read)
    console = Console()
    rate = (applied(stats) - applied(before)) / interval
    behind = sum(end - max(0, done) for end, done in lag.values())
    dead = {k.removeprefix("dlq:"): v for k, v in stats.items() if k.startswith("dlq:")}
    group, members = guarded(lambda: group_state(settings))
    verdict = group_verdict(group, members, behind, applied(stats) - applied(before), interval)
    colour = {"ready": "green", "idle": "blue"}.get(verdict.status, "red")
    console.print(f"[bold {colour}]{verdict.status}[/]: {verdict.reason} (group {settings.app_id}: {group})")
    console.print(
        f"[bold]{applied(stats):,}[/] events applied, [bold]{rate:,.0f}[/] events/s, "
        f"lag [bold]{behind:,}[/], {stats.get('customers', 0):,} customers, {sum(dead.values()):,} dead letters"
    )
    table = Table(title="consumer lag")
    for col in ("topic", "partition", "end offset", "committed", "lag"):
        table.add_column(col, justify="right" if col != "topic" else "left")
    for (topic, part), (end, done) in sorted(lag.items()):
        table.add_row(topic, str(part), str(end), "-" if done < 0 else str(done), str(end - max(0, done)))
    console.print(table)
    now_us = time.time_ns() // 1000
    workers = combine(statuses, now_us)
    table = Table(title="workers (as each last reported itself)")
    for col in ("worker", "leader", "status", "partitions", "reported", "reason"):
        table.add_column(col, justify="right" if col in ("partitions", "reported") else "left")
    for w in sorted(workers.live, key=lambda w: w.worker):
        age = f"{(now_us - w.updated_us) / 1e6:.1f} s ago"
        table.add_row(w.worker, "yes" if w.leader else "", w.status, str(w.partitions), age, w.reason)
    for name in workers.gone:
        table.add_row(name, "", "gone", "", f"> {STATUS_STALE_S:g} s ago", "no status lately")
    console.print(table)
    if dead:
        table = Table(title="dead letters")
        table.add_column("reason")
        table.add_column("events", justify="right")
        for reason, n in sorted(dead.items(), key=lambda kv: -kv[1]):
            table.add_row(reason, str(n))
        console.print(table)
    table = Table(title="segments")
    for col in ("dimension", "segment", "customers"):
        table.add_column(col, justify="right" if col == "customers" else "left")
    for dim, segs in sorted(counts.items()):
        for seg, n in sorted(segs.items(), key=lambda kv: -kv[1]):
            table.add_row(dim, seg, str(n))
    console.print(table)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # kafka-python logs every refused connection; the one-line error says it once.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
