"""Dead letters back to their source topic: ``segstream dlq list`` and ``segstream dlq replay``.

After a fix (a setting, a bug, a producer that now sends what was missing) the dead letters
of the four input topics can be sent again: the original bytes, unchanged, with the original
key, to the topic they came from, plus the header :data:`REPLAYED_HEADER` (value
``<dlq partition>/<dlq offset>``). The worker takes a copy as a new event (it has a new
offset); its event-id check still drops one whose customer applied that ``event_id`` among
its last few events.

A run reads the dead-letter topic from its first offsets to the end offsets measured when
it starts (it ends even while new dead letters arrive), with no consumer group. Every dead
letter re-sent is remembered in Redis (hash ``{prefix}:dlq:replayed``, by its dlq position
and its source position: :func:`replay_id`), so a later run skips it. Per chunk of up to
:data:`CHUNK` dead letters: one HMGET before sending, one HSET once Kafka has acknowledged
the copies. A run stopped between the two re-sends that chunk next time (at least once).

Selection, ids, header and tally are pure; the Kafka and Redis I/O and the commands follow.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Protocol

import msgspec
import typer

from segstream.config import Settings
from segstream.state.sync import SyncStore
from segstream.streams.codec import REASONS
from segstream.streams.dead_letters import MAX_KEPT_BYTES
from segstream.streams.schemas import DeadLetter
from segstream.streams.security import client_kwargs, describe_failure
from segstream.streams.topics import INPUT_TOPICS, KafkaUnavailable

REPLAYED_HEADER: Final = "segstream-replayed-from"
CHUNK: Final = 500  # dead letters per poll: one Redis look-up and one record each
IDLE_TIMEOUT_S: Final = 30.0  # no record and no progress this long while reading: give up

# Tally columns. Every dead letter read counts under READ; one the selection takes under
# MATCHED and exactly one of the outcomes after it.
READ: Final = "read"
MATCHED: Final = "matched"
RESENT: Final = "re-sent"  # in a dry run: would be re-sent
ALREADY: Final = "already re-sent"  # by an earlier run
FOREIGN: Final = "other topic"  # source topic is not one of this deployment's inputs
TRUNCATED: Final = "truncated"  # the envelope kept only the start of the value
FAILED: Final = "failed"  # Kafka did not acknowledge the copy


class ReplayError(Exception):
    """A replay could not go on; the message is one line."""


# ---------------------------------------------------------------- pure


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter and its position in the dead-letter topic."""

    partition: int
    offset: int
    dead: DeadLetter


_DECODER: Final = msgspec.json.Decoder(DeadLetter)


def decode_letter(partition: int, offset: int, value: bytes | None) -> Letter | None:
    """The dead letter at a dlq position, or None when the message is not one."""
    try:
        dead = _DECODER.decode(value or b"")
    except msgspec.DecodeError:  # ValidationError included
        return None
    return None if dead.rejected_at.tzinfo is None else Letter(partition, offset, dead)


def input_topics(settings: Settings) -> dict[str, str]:
    """Full name -> kind of this deployment's four input topics."""
    return {settings.topic(kind): kind for kind in INPUT_TOPICS}


def parse_reasons(values: Iterable[str]) -> frozenset[str]:
    """The reasons asked for (empty: all); ValueError names an unknown one."""
    wanted = frozenset(values)
    if unknown := sorted(wanted - set(REASONS)):
        raise ValueError(f"unknown reason {', '.join(unknown)}; choose from {', '.join(REASONS)}")
    return wanted


def parse_topics(values: Iterable[str], inputs: Mapping[str, str]) -> frozenset[str]:
    """Full source topic names from input kinds (``purchases``) or full names (empty: all)."""
    by_kind = {kind: name for name, kind in inputs.items()}
    out = set()
    for v in values:
        if v not in by_kind and v not in inputs:
            raise ValueError(
                f"unknown topic {v}; choose {', '.join(by_kind)} (or their full names: {', '.join(inputs)})"
            )
        out.add(by_kind.get(v, v))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters a run takes: every one, or those of the reasons, source topics
    (full names) and rejection times asked for; ``since`` inclusive, ``until`` exclusive."""

    reasons: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}")

    def matches(self, dead: DeadLetter) -> bool:
        return (
            (not self.reasons or dead.reason in self.reasons)
            and (not self.topics or dead.topic in self.topics)
            and (self.since is None or dead.rejected_at >= self.since)
            and (self.until is None or dead.rejected_at < self.until)
        )


def replay_id(letter: Letter) -> str:
    """What identifies a dead letter once re-sent: its dlq position and its source position.

    >>> from datetime import UTC, datetime
    >>> dead = DeadLetter(reason="empty", detail="", topic="purchases", partition=3, offset=1042,
    ...                   kafka_ts_ms=None, key=None, value=b"", rejected_at=datetime.now(UTC))
    >>> replay_id(Letter(0, 17, dead))
    '0/17@purchases/3/1042'
    """
    d = letter.dead
    return f"{letter.partition}/{letter.offset}@{d.topic}/{d.partition}/{d.offset}"


def replay_headers(letter: Letter) -> list[tuple[str, bytes]]:
    """The headers of a re-sent copy: where in the dead-letter topic it came from."""
    return [(REPLAYED_HEADER, f"{letter.partition}/{letter.offset}".encode())]


def truncated(dead: DeadLetter) -> bool:
    """The envelope kept only the first MAX_KEPT_BYTES of the value (see dead_letters.py)."""
    return len(dead.value) >= MAX_KEPT_BYTES and "value truncated from" in dead.detail


@dataclass(slots=True)
class Row:
    """Counts of one (reason, source topic) and the span of their rejection times."""

    counts: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def saw(self, at: datetime) -> None:
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)


@dataclass(slots=True)
class Tally:
    """What a run read and did, per (reason, source topic); input topics by their kind."""

    read: int = 0
    unreadable: int = 0  # messages of the dead-letter topic that are no dead letter
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)

    def row(self, dead: DeadLetter, inputs: Mapping[str, str]) -> Row:
        return self.rows.setdefault((dead.reason, inputs.get(dead.topic, dead.topic)), Row())

    def total(self, column: str) -> int:
        return sum(r.counts[column] for r in self.rows.values())


class Ledger(Protocol):
    """The record of re-sent dead letters (Redis in the command, a dict in tests)."""

    def replayed(self, ids: Sequence[str]) -> set[str]: ...

    def record(self, sent: Mapping[str, str]) -> None: ...


#: Sends (id, letter) pairs; returns id -> where each acknowledged copy went, and the first
#: error (None: all acknowledged). It does not raise: what was sent must still be recorded.
Send = Callable[[Sequence[tuple[str, Letter]]], tuple[dict[str, str], BaseException | None]]


def process_chunk(
    letters: Sequence[Letter | None],
    selection: Selection,
    inputs: Mapping[str, str],
    ledger: Ledger,
    send: Send | None,
    tally: Tally,
) -> None:
    """Tally a chunk; re-send the dead letters not re-sent before and record them (none of
    that when ``send`` is None: a dry run or a listing). Raises :class:`ReplayError` (or the
    KeyboardInterrupt) after recording what was acknowledged when sending failed."""
    pending: list[tuple[str, Letter, Row]] = []
    for letter in letters:
        tally.read += 1
        if letter is None:
            tally.unreadable += 1
            continue
        dead = letter.dead
        row = tally.row(dead, inputs)
        row.counts[READ] += 1
        if not selection.matches(dead):
            continue
        row.counts[MATCHED] += 1
        row.saw(dead.rejected_at)
        if dead.topic not in inputs:
            row.counts[FOREIGN] += 1
        elif truncated(dead):
            row.counts[TRUNCATED] += 1
        else:
            pending.append((replay_id(letter), letter, row))
    done = ledger.replayed([i for i, _, _ in pending]) if pending else set()
    todo = []
    for i, letter, row in pending:
        if i in done:
            row.counts[ALREADY] += 1
        else:
            todo.append((i, letter, row))
    if send is None:
        for _, _, row in todo:
            row.counts[RESENT] += 1
        return
    if not todo:
        return
    sent, error = send([(i, letter) for i, letter, _ in todo])
    ledger.record(sent)
    for i, _, row in todo:
        row.counts[RESENT if i in sent else FAILED] += 1
    if isinstance(error, KeyboardInterrupt):
        raise error
    if error is not None or len(sent) < len(todo):
        raise ReplayError(f"{len(todo) - len(sent)} dead letter(s) not acknowledged by Kafka: {error}")


def summary_lines(tally: Tally, dry_run: bool) -> list[str]:
    """The totals of a run, one line each."""
    t = {c: tally.total(c) for c in (MATCHED, RESENT, ALREADY, FOREIGN, TRUNCATED, FAILED)}
    read = f"read {tally.read} dead letter(s)" + (f", {tally.unreadable} unreadable" if tally.unreadable else "")
    verb = "would re-send" if dry_run else "re-sent"
    done = f"matched {t[MATCHED]}: {verb} {t[RESENT]}, already re-sent {t[ALREADY]}"
    done += f", other topics {t[FOREIGN]}, truncated {t[TRUNCATED]}"
    return [read, done + (f", failed {t[FAILED]}" if t[FAILED] else "")]


def aligned(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 2) -> list[str]:
    """Plain-text columns, never cut (a pipe or a log keeps every name): the first ``left``
    aligned left, the others right."""
    table = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    ]


def replay_rows(tally: Tally, dry_run: bool) -> list[str]:
    """Per (reason, source topic): read, matched and what became of them (empty: nothing read)."""
    shown = [c for c in (READ, MATCHED, RESENT, ALREADY, FOREIGN, TRUNCATED, FAILED)
             if c in (READ, MATCHED, RESENT, ALREADY) or tally.total(c)]  # fmt: skip
    header = ["reason", "topic", *("would re-send" if dry_run and c == RESENT else c for c in shown)]
    rows = [[why, src, *(str(row.counts[c]) for c in shown)] for (why, src), row in sorted(tally.rows.items())]
    return aligned(header, rows) if rows else []


def list_rows(tally: Tally) -> list[str]:
    """Per (reason, source topic) the selection took: how many, how many re-sent, when rejected."""

    def utc(at: datetime | None) -> str:
        return "-" if at is None else f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

    header = ["reason", "topic", "dead letters", "already re-sent", "first rejected (UTC)", "last rejected (UTC)"]
    rows = [
        [why, src, str(row.counts[MATCHED]), str(row.counts[ALREADY]), utc(row.first), utc(row.last)]
        for (why, src), row in sorted(tally.rows.items())
        if row.counts[MATCHED]
    ]
    return aligned(header, rows) if rows else []


# ---------------------------------------------------------------- Kafka and Redis


def open_dlq(settings: Settings) -> tuple[Any, dict[Any, int], int]:
    """A consumer assigned to every partition of the dead-letter topic at its first offset,
    the end offsets as of now, and how many messages lie between."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    name = settings.topic("dlq")
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=f"{settings.app_id}-dlq",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # retention removed the position meanwhile: the new first one
            **client_kwargs(settings),
        )
    except (KafkaError, OSError) as exc:
        raise KafkaUnavailable(describe_failure(settings, exc)) from None
    try:
        parts = consumer.partitions_for_topic(name)
        if not parts:
            raise ReplayError(f"no dead-letter topic {name} in Kafka at {settings.kafka_bootstrap}")
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        begins, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, begins[tp])
    except BaseException as exc:
        consumer.close()
        if isinstance(exc, KafkaError):
            raise KafkaUnavailable(f"Kafka at {settings.kafka_bootstrap} failed: {exc}") from None
        raise
    return consumer, {tp: int(ends[tp]) for tp in tps}, sum(int(ends[tp]) - int(begins[tp]) for tp in tps)


def read_chunks(
    consumer: Any,
    ends: Mapping[Any, int],
    *,
    chunk: int = CHUNK,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[list[Letter | None]]:
    """Chunks of the messages before ``ends`` (partition -> end offset measured at the
    start) of an assigned, positioned consumer; later messages are left alone."""
    left = {tp for tp, end in ends.items() if consumer.position(tp) < end}
    if finished := set(ends) - left:
        consumer.pause(*finished)
    last = clock()
    while left:
        out: list[Letter | None] = []
        for tp, records in consumer.poll(timeout_ms=500, max_records=chunk).items():
            out += [decode_letter(r.partition, r.offset, r.value) for r in records if r.offset < ends[tp]]
        if finished := {tp for tp in left if consumer.position(tp) >= ends[tp]}:
            consumer.pause(*finished)
            left -= finished
        if out or finished:
            last = clock()
        elif clock() - last > idle_timeout_s:
            raise KafkaUnavailable(f"no dead letter read for {idle_timeout_s:.0f} s ({len(left)} partition(s) left)")
        if out:
            yield out


def kafka_sender(producer: Any) -> Send:
    """Send each copy to its source topic (original key and bytes, plus the header)."""

    def send(items: Sequence[tuple[str, Letter]]) -> tuple[dict[str, str], BaseException | None]:
        futures = []
        error: BaseException | None = None
        try:
            for i, letter in items:
                d = letter.dead
                futures.append((i, producer.send(d.topic, key=d.key, value=d.value, headers=replay_headers(letter))))
            producer.flush()
        except BaseException as exc:  # Ctrl-C too: what was acknowledged is still recorded
            error = exc
        sent = {}
        for i, fut in futures:
            if fut.succeeded():
                sent[i] = f"{fut.value.topic}/{fut.value.partition}/{fut.value.offset}"
            elif error is None:
                error = fut.exception
        return sent, error

    return send


class StoreLedger(SyncStore):
    """The Redis record of re-sent dead letters (:class:`Store`), for the synchronous loop."""

    def replayed(self, ids: Sequence[str]) -> set[str]:
        return self.run(self._store.replayed_dead_letters(ids))

    def record(self, sent: Mapping[str, str]) -> None:
        self.run(self._store.record_replayed_dead_letters(sent))


def scan(
    settings: Settings,
    selection: Selection,
    ledger: Ledger,
    send: Send | None,
    tally: Tally,
    *,
    progress: bool = True,
    label: str = "dlq",
) -> None:
    """Read the dead-letter topic to its current end, processing chunk by chunk into ``tally``."""
    from kafka.errors import KafkaError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    consumer, ends, total = open_dlq(settings)
    inputs = input_topics(settings)
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task(label, total=total)
            for letters in read_chunks(consumer, ends):
                process_chunk(letters, selection, inputs, ledger, send, tally)
                bar.update(task, completed=min(tally.read, total))
            bar.update(task, completed=total)
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {settings.kafka_bootstrap} failed: {exc}") from None
    finally:
        consumer.close()


# ---------------------------------------------------------------- commands

dlq_cli = typer.Typer(no_args_is_help=True, help="Dead letters: a summary, and sending them back after a fix.")

Reasons = Annotated[list[str] | None, typer.Option("--reason", help="Only this rejection reason (repeatable)")]
Topics = Annotated[
    list[str] | None,
    typer.Option("--topic", help="Only this source topic: purchases, usage, feedback, profiles or a full name"),
]
Since = Annotated[str | None, typer.Option(help="Only those rejected at or after this time (ISO-8601 with offset)")]
Until = Annotated[str | None, typer.Option(help="Only those rejected before this time (ISO-8601 with offset)")]


def _selection(
    settings: Settings, reason: list[str] | None, topic: list[str] | None, since: str | None, until: str | None
) -> Selection:
    """The selection the options ask for; a bad one ends with one line and exit code 2."""
    from segstream.cli import _aware, fail

    def when(option: str, value: str | None) -> datetime | None:
        try:
            return _aware(value) if value else None
        except typer.BadParameter as exc:
            fail(f"{option}: {exc.message}", 2)

    try:
        topics = parse_topics(topic or (), input_topics(settings))
        return Selection(parse_reasons(reason or ()), topics, when("--since", since), when("--until", until))
    except ValueError as exc:
        fail(str(exc), 2)


def _run(settings: Settings, selection: Selection, send: Send | None, tally: Tally, progress: bool, label: str) -> None:
    """Scan; errors end with one line (after the caller printed what was done)."""
    from redis.exceptions import RedisError

    ledger = StoreLedger(settings)
    try:
        scan(settings, selection, ledger, send, tally, progress=progress, label=label)
    except (ReplayError, KafkaUnavailable) as exc:
        raise _Stop(str(exc), 1) from None
    except (RedisError, OSError) as exc:
        raise _Stop(f"Redis error: {exc}", 1) from None
    except KeyboardInterrupt:
        raise _Stop("interrupted", 130) from None
    finally:
        ledger.close()


class _Stop(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dlq_cli.command("list")
def dlq_list(reason: Reasons = None, topic: Topics = None, since: Since = None, until: Until = None) -> None:
    """Dead letters per reason and source topic: how many, how many re-sent, when rejected."""
    from segstream.cli import fail, settings_or_exit

    settings = settings_or_exit()
    selection = _selection(settings, reason, topic, since, until)
    tally = Tally()
    try:
        _run(settings, selection, None, tally, False, "list")
    except _Stop as exc:
        fail(str(exc), exc.code)
    for line in list_rows(tally):
        typer.echo(line)
    typer.echo(summary_lines(tally, True)[0] + f", {tally.total(MATCHED)} listed")


@dlq_cli.command("replay")
def dlq_replay(
    reason: Reasons = None,
    topic: Topics = None,
    since: Since = None,
    until: Until = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would be re-sent; send and record nothing")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Send dead letters back to their source topic (original key and bytes), each only once."""
    from segstream.cli import fail, guarded, settings_or_exit
    from segstream.feeders.producer import make_producer

    settings = settings_or_exit()
    selection = _selection(settings, reason, topic, since, until)
    producer = None if dry_run else guarded(lambda: make_producer(settings))
    tally = Tally()
    stop = None
    try:
        _run(settings, selection, None if producer is None else kafka_sender(producer), tally, progress, "dlq replay")
    except _Stop as exc:
        stop = exc
    finally:
        if producer is not None:
            producer.close(timeout=0 if stop else None)  # after a failure: drop what is unacknowledged
    if stop is None or tally.read:  # what was done before a failure, too
        for line in [*replay_rows(tally, dry_run), *summary_lines(tally, dry_run)]:
            typer.echo(line)
    if stop is not None:
        fail(str(stop), stop.code)
