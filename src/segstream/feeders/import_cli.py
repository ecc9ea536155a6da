"""The ``segstream import`` command (the work is in :mod:`segstream.feeders.importer`)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from redis.exceptions import RedisError

from segstream.config import Settings
from segstream.feeders.importer import ImportFailure, Summary, count_rows, run_import, shipped_mappings
from segstream.feeders.mapping import Mapping, MappingError, load_mapping
from segstream.state.sync import SyncStore


class StoreLedger(SyncStore):
    """The event ids imports sent to one input topic, in Redis (:class:`Store`), for the
    synchronous import loop. Ids are kept as 8-byte BLAKE2b digests (a false "already sent"
    needs two different ids with the same 64 bits: about 1 in 37 million for 1M imported rows)."""

    def __init__(self, settings: Settings, topic_kind: str) -> None:
        super().__init__(settings)
        self._kind = topic_kind

    @staticmethod
    def digest(event_id: str) -> bytes:
        return hashlib.blake2b(event_id.encode(), digest_size=8).digest()

    def ping(self) -> None:
        self.run(self._store.ping())

    def sent(self, event_ids: list[str]) -> set[str]:
        found = self.run(self._store.imported_events(self._kind, [self.digest(i) for i in event_ids]))
        return {i for i, f in zip(event_ids, found, strict=True) if f}

    def record(self, event_ids: list[str]) -> None:
        self.run(self._store.record_imported_events(self._kind, [self.digest(i) for i in event_ids]))


def resolve_mapping(name: str) -> Mapping:
    """A mapping file, or the name of a shipped one (``online-retail-ii``); MappingError otherwise."""
    path = Path(name)
    if path.is_file():
        return load_mapping(path)
    shipped = shipped_mappings()
    if name in shipped:
        return load_mapping(shipped[name])
    raise MappingError(f"no mapping file {name} and no shipped mapping of that name (shipped: {', '.join(shipped)})")


_MAPPING_HELP = "Mapping YAML file, or a shipped one: " + ", ".join(shipped_mappings())


def import_command(
    file: Annotated[
        Path | None, typer.Argument(dir_okay=False, help="CSV, JSON Lines (.jsonl) or Parquet file to import")
    ] = None,
    mapping: Annotated[str, typer.Option("--mapping", "-m", help=_MAPPING_HELP)] = "",
    sample: Annotated[bool, typer.Option(help="Import the shipped mapping's own sample file instead of FILE")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate every row and write the report; send nothing")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Where rejected and skipped rows go (CSV; default: FILE.report.csv here)")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Skip the rows an earlier, interrupted run of the same file and mapping sent")
    ] = False,
    ledger: Annotated[
        bool,
        typer.Option(
            help="Send only rows whose event id no earlier import sent to the topic, and record the sent ones "
            "(in Redis); --no-ledger sends every valid row"
        ),
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Import rows of a CSV, JSON Lines or Parquet file as input events through a mapping (docs/IMPORT.md).

    Every row is checked by the worker's own codec before anything is sent; rows not sent
    go to the report with their line, column and reason."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from segstream.cli import fail, guarded, settings_or_exit
    from segstream.streams.codec import EventCodec

    if not mapping:
        fail("--mapping is required (a YAML file or a shipped mapping: " + ", ".join(shipped_mappings()) + ")", 2)
    try:
        m = resolve_mapping(mapping)
    except MappingError as exc:
        fail(str(exc), 2)
    if sample:
        if file is not None:
            fail("give FILE or --sample, not both", 2)
        if m.sample is None:
            fail(f"mapping {m.name} ships no sample", 2)
        file = shipped_mappings()[m.name].with_name(m.sample) if m.name in shipped_mappings() else None
        if file is None or not file.is_file():
            fail(f"mapping {m.name} names sample {m.sample}, which is not shipped", 2)
    if file is None:
        fail("give the FILE to import (or --sample with a shipped mapping)", 2)
    if not file.is_file():
        fail(f"no file {file}", 2)
    if resume and dry_run:
        fail("--resume and --dry-run do not go together (a dry run records nothing)", 2)
    settings = settings_or_exit()
    out = report or Path(file.name + ".report.csv")
    codec = EventCodec(
        m.topic,
        max_bytes=settings.max_event_bytes,
        min_time=settings.min_event_time,
        max_future=settings.max_future_skew,
        currency=settings.currency,
    )
    topic = settings.topic(m.topic)
    try:
        total = count_rows(file, m)
    except (OSError, UnicodeDecodeError, ValueError, ImportFailure) as exc:
        fail(f"cannot read {file}: {exc}", 2)
    producer = None
    sink = None
    book: StoreLedger | None = None
    if not dry_run:
        from segstream.feeders.importer import KafkaSink
        from segstream.feeders.producer import make_producer

        if ledger:
            book = ledger_book = StoreLedger(settings, m.topic)
            guarded(ledger_book.ping)  # Redis answers, or one line and exit
        producer = guarded(lambda: make_producer(settings))
        sink = KafkaSink(producer, topic)
    label = f"import {m.name}" + (" (dry run)" if dry_run else "")
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    summary: Summary | None = None
    error: str | None = None
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task(label, total=total)
            summary = run_import(
                file, m, codec, sink, out, now=datetime.now(UTC), topic=topic, resume=resume,
                tick=lambda n: bar.update(task, completed=n), ledger=book,
            )  # fmt: skip
    except (ImportFailure, OSError, UnicodeDecodeError, ValueError) as exc:
        error = str(exc)
    except RedisError as exc:
        error = f"Redis error: {exc}"
    except KeyboardInterrupt:
        error = "interrupted; run again with --resume to go on"
    finally:
        if producer is not None:
            producer.close(timeout=0 if error else None)
        if book is not None:
            book.close()
    if error is not None:
        fail(error if "--resume" in error or dry_run else f"{error} (the checkpoint allows --resume)")
    assert summary is not None
    for line in summary.lines(dry_run):
        typer.echo(line)
    typer.echo(f"{'would go' if dry_run else 'sent'} to {topic}; report: {out}")
