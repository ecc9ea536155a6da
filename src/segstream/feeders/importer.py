"""``segstream import``: rows of a CSV, JSON Lines or Parquet file, through a mapping, to an input topic.

Each row becomes a JSON document (:meth:`Mapping.document`), which the worker's own
:class:`~segstream.streams.codec.EventCodec` decodes and checks exactly as the worker will;
only the bytes it accepts are sent, unchanged, keyed by the customer id. A row that is not
sent goes to the report (CSV: ``line,status,column,reason,detail``): ``rejected`` when it is
wrong, ``skipped`` when a ``skip:`` rule of the mapping leaves it out on purpose.

Line numbers are those of the file: CSV counts the header as line 1 (a quoted field over
several lines counts them all), JSON Lines counts every line, Parquet numbers rows from 1.

Resuming: rows are sent in file order. Every :data:`CHUNK` rows the producer is flushed and
the last line Kafka acknowledged is written to a checkpoint (the report path plus
``.checkpoint.json``) with the file's and the mapping's SHA-256; ``resume=True`` skips the
rows up to it. A crash between a flush and the checkpoint re-sends at most one chunk, with the
same stable event ids (docs/IMPORT.md says what the worker does with those).

Importing again: with a :class:`Ledger` (the Redis set of the event ids imports have sent to
the topic), every chunk is checked against it before anything is sent, and the ids Kafka
acknowledged are recorded after the flush. A row whose event id an earlier import sent (of
this file or of any other, e.g. a later export holding the same orders) is passed over and
counted as ``already`` imported: importing a file twice sends its rows once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final, Protocol

import msgspec

from segstream.feeders.mapping import Mapping, Problem
from segstream.streams.codec import EventCodec, Rejection
from segstream.streams.schemas import Attributes, Event

log = logging.getLogger(__name__)

CHUNK: Final = 1000  # rows between a flush and a checkpoint
REPORT_HEADER: Final = ("line", "status", "column", "reason", "detail")
SAMPLES: Final = Path(__file__).with_name("samples")


class ImportFailure(Exception):
    """An import could not start or go on; the message is one line."""


class Ledger(Protocol):
    """What imports have sent to the topic, by event id."""

    def sent(self, event_ids: list[str]) -> set[str]:
        """The ones among these that an earlier import sent."""
        ...

    def record(self, event_ids: list[str]) -> None:
        """Remember these as sent (Kafka acknowledged them)."""
        ...


class Sink(Protocol):
    """Where accepted events go: Kafka in the command, a list in tests."""

    def send(self, key: bytes, value: bytes) -> None: ...

    def flush(self) -> None:
        """Wait until everything sent is acknowledged; raise ImportFailure if some was not."""


# ---------------------------------------------------------------- reading


def read_rows(path: Path, mapping: Mapping) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    """(line, row) of each row of the file, or (line, Problem) for a line that is no row."""
    fmt = mapping.file_format(path)
    if fmt == "csv":
        yield from _csv_rows(path, mapping)
    elif fmt == "jsonl":
        yield from _jsonl_rows(path, mapping)
    else:
        yield from _parquet_rows(path)


def _csv_rows(path: Path, mapping: Mapping) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    with path.open(encoding=mapping.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=mapping.delimiter)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        if missing := sorted(mapping.columns - set(header)):
            raise ImportFailure(f"{path.name} has no column(s) {', '.join(map(repr, missing))} the mapping reads")
        last = reader.line_num
        for cells in reader:
            line, last = last + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank line
            if len(cells) != len(header):
                yield line, Problem("-", "bad_row", f"{len(cells)} cells, the header has {len(header)}")
                continue
            yield line, dict(zip(header, cells, strict=True))


def _jsonl_rows(path: Path, mapping: Mapping) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    with path.open(encoding=mapping.encoding) as fh:
        for line, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as exc:
                yield line, Problem("-", "not_json", str(exc))
                continue
            yield line, row if isinstance(row, dict) else Problem("-", "bad_row", "not a JSON object")


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    import pyarrow.parquet as pq

    line = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
        for row in batch.to_pylist():
            line += 1
            yield line, row


def count_rows(path: Path, mapping: Mapping) -> int:
    """How many rows (for the progress bar): Parquet from its metadata, others by reading."""
    if mapping.file_format(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return sum(1 for _ in read_rows(path, mapping))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- converting


@dataclass(frozen=True, slots=True)
class Accepted:
    """A row the codec accepted: the event and the exact bytes to send."""

    event: Event
    value: bytes


def convert(
    mapping: Mapping, codec: EventCodec, row: dict[str, Any], now: datetime, occurrence: int = 0
) -> Accepted | Problem:
    """A row as an accepted event, or the Problem (its column and reason) that stops it."""
    doc = mapping.document(row, occurrence)
    if isinstance(doc, Problem):
        return doc
    value = msgspec.json.encode(doc)
    got = codec.decode(value, now)
    if isinstance(got, Rejection):
        if "`$.attributes" in got.detail:  # msgspec says `$.attributes[...]`: name the attribute and its column
            name = _attribute_at_fault(doc.get("attributes") or {})
            if name is not None:
                detail = f"custom attribute `{name}`: {got.detail}"
                return Problem(mapping.source(f"attributes.{name}"), got.reason, detail)
        return Problem(_column_of(mapping, got), got.reason, got.detail)
    return Accepted(got, value)


def _attribute_at_fault(attributes: dict[str, Any]) -> str | None:
    """The first custom attribute the schema refuses alone."""
    for name, v in attributes.items():
        try:
            msgspec.convert({name: v}, Attributes)
        except msgspec.ValidationError:
            return name
    return None


def _column_of(mapping: Mapping, rejection: Rejection) -> str:
    """The source column of the field a codec rejection names (msgspec: ``$.amount``; checks: ``amount``)."""
    for name in [f.name for f in mapping.fields] + ["event_id"]:
        if f"`$.{name}`" in rejection.detail or f"`{name}`" in rejection.detail:
            return mapping.source(name)
    if rejection.reason in ("unsupported_currency", "bad_score"):
        return mapping.source("currency" if rejection.reason == "unsupported_currency" else "score")
    return "-"


# ---------------------------------------------------------------- checkpoint


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far an import got: rows up to ``line`` are acknowledged by Kafka."""

    file_sha256: str
    mapping_sha256: str
    topic: str
    line: int
    done: bool = False

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(_asdict(self)) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        try:
            doc = json.loads(path.read_text())
            return cls(**doc)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise ImportFailure(f"checkpoint {path} is unreadable ({exc}); delete it to start over") from None


def _asdict(cp: Checkpoint) -> dict[str, Any]:
    return {k: getattr(cp, k) for k in ("file_sha256", "mapping_sha256", "topic", "line", "done")}


def _report_upto(report: Path, line: int) -> list[list[str]]:
    """The rows of an earlier run's report up to ``line``."""
    try:
        with report.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))[1:]
    except FileNotFoundError:
        return []
    return [r for r in rows if r and r[0].isdigit() and int(r[0]) <= line]


def checkpoint_path(report: Path) -> Path:
    return report.with_name(report.name + ".checkpoint.json")


# ---------------------------------------------------------------- the run


@dataclass(slots=True)
class Summary:
    """What an import read, sent, rejected and skipped; customers and event-time span of the sent."""

    read: int = 0
    sent: int = 0
    rejected: int = 0
    skipped: int = 0
    resumed_after: int = 0  # rows up to this line were sent by an earlier run
    earlier: int = 0  # rows passed over for that reason
    already: int = 0  # valid rows whose event id an earlier import sent (the ledger): not sent again
    reasons: Counter[str] = field(default_factory=Counter)
    customers: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    def accepted(self, ev: Event) -> None:
        self.sent += 1
        self.customers.add(ev.customer_id)
        self.first = ev.ts if self.first is None else min(self.first, ev.ts)
        self.last = ev.ts if self.last is None else max(self.last, ev.ts)

    def lines(self, dry_run: bool) -> list[str]:
        """The summary printed at the end, one line each."""
        verb = "would send" if dry_run else "sent"
        out = [f"read {self.read} rows: {verb} {self.sent}, rejected {self.rejected}, skipped {self.skipped}"]
        if self.resumed_after:
            out.append(f"resumed after line {self.resumed_after}: {self.earlier} rows sent by an earlier run")
        if self.already:
            out.append(f"already imported (event id sent by an earlier import): {self.already} rows not sent again")
        if self.reasons:
            out.append("not sent: " + ", ".join(f"{r} {n}" for r, n in self.reasons.most_common()))
        span = "-"
        if self.first is not None and self.last is not None:
            span = f"{self.first.isoformat()} .. {self.last.isoformat()}"
        out.append(f"{len(self.customers)} customers, event time {span}")
        return out


def run_import(
    path: Path,
    mapping: Mapping,
    codec: EventCodec,
    sink: Sink | None,
    report: Path,
    *,
    now: datetime,
    topic: str,
    resume: bool = False,
    tick: Callable[[int], Any] = lambda n: None,
    ledger: Ledger | None = None,
) -> Summary:
    """Import a file; ``sink=None`` is a dry run (validate and report, send and record nothing).

    ``ledger``: rows whose event id it holds are not sent, the sent ones are recorded in it
    (None: every valid row is sent, as when nothing was imported before). A dry run does not
    read it.

    ``tick(rows_done)`` is called every few hundred rows (the progress bar). Raises
    :class:`ImportFailure` when the file, report or checkpoint cannot be used or Kafka
    did not acknowledge; the checkpoint then holds the last acknowledged line.
    """
    summary = Summary()
    cp_path = checkpoint_path(report)
    digest = file_sha256(path)
    start = 0
    if resume:
        cp = Checkpoint.load(cp_path)
        if cp is not None:
            if (cp.file_sha256, cp.mapping_sha256, cp.topic) != (digest, mapping.digest, topic):
                raise ImportFailure(
                    f"checkpoint {cp_path} is for another file, mapping or topic; delete it or drop --resume"
                )
            start = summary.resumed_after = cp.line
    try:
        kept = _report_upto(report, start) if start else []
        out: IO[str] = report.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ImportFailure(f"cannot write report {report}: {exc.strerror or exc}") from None
    seen: Counter[bytes] = Counter()  # rows that repeat exactly get distinct stable ids
    pending_line = start
    chunk: list[Accepted] = []  # the chunk's accepted rows, sent at its end

    def send_chunk(sink: Sink) -> list[str]:
        """Send the chunk's events whose id no import sent yet (each id once); their ids."""
        done = ledger.sent([a.event.event_id for a in chunk]) if ledger is not None else set()
        fresh: dict[str, None] = {}
        for a in chunk:
            if ledger is not None and (a.event.event_id in done or a.event.event_id in fresh):
                summary.already += 1
                continue
            sink.send(a.event.customer_id.encode(), a.value)
            summary.accepted(a.event)
            fresh[a.event.event_id] = None
        chunk.clear()
        return list(fresh)

    with out:
        writer = csv.writer(out)
        writer.writerow(REPORT_HEADER)
        writer.writerows(kept)  # an earlier run's, up to its checkpoint (later lines are read again)

        def commit(line: int, done: bool = False) -> None:
            if sink is None:
                return
            fresh = send_chunk(sink)
            sink.flush()
            if ledger is not None:
                ledger.record(fresh)
            Checkpoint(digest, mapping.digest, topic, line, done).save(cp_path)

        for line, row in read_rows(path, mapping):
            summary.read += 1
            occurrence = 0
            if not isinstance(row, Problem):  # counted before the resume point too: ids stay the same
                key = msgspec.json.encode(sorted((k, str(v)) for k, v in row.items()))
                occurrence = seen[key]
                seen[key] += 1
            if line <= start:
                summary.earlier += 1
                continue
            got: Accepted | Problem
            status = "rejected"
            if isinstance(row, Problem):
                got = row
            elif (rule := mapping.skipped(row)) is not None:
                got, status = Problem(rule.column, "skipped", rule.reason), "skipped"
            else:
                got = convert(mapping, codec, row, now, occurrence)
            if isinstance(got, Problem):
                writer.writerow((line, status, got.column, got.reason, got.detail))
                summary.reasons[got.reason] += 1
                if status == "skipped":
                    summary.skipped += 1
                else:
                    summary.rejected += 1
            elif sink is not None:
                chunk.append(got)
            else:
                summary.accepted(got.event)
            pending_line = line
            if summary.read % CHUNK == 0:
                commit(pending_line)
                out.flush()
            if summary.read % 200 == 0:
                tick(summary.read)
        commit(pending_line, done=True)
    tick(summary.read)
    log.info("imported %s: %s", path, "; ".join(summary.lines(sink is None)))
    return summary


class KafkaSink:
    """Send to one topic with a kafka-python producer; ``flush`` checks every acknowledgement."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self._futures: list[Any] = []

    def send(self, key: bytes, value: bytes) -> None:
        self._futures.append(self.producer.send(self.topic, key=key, value=value))

    def flush(self) -> None:
        self.producer.flush()
        failed = [f for f in self._futures if not f.succeeded()]
        self._futures.clear()
        if failed:
            raise ImportFailure(f"Kafka did not acknowledge {len(failed)} event(s): {failed[0].exception}")


def shipped_mappings() -> dict[str, Path]:
    """Name -> path of the mappings shipped with segstream (``samples/*.yaml``)."""
    return {p.stem: p for p in sorted(SAMPLES.glob("*.yaml"))}
