"""The ``segstream export`` command (the work is in :mod:`segstream.feeders.export` and
:mod:`segstream.feeders.export_writers`)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer
from redis.exceptions import RedisError

from segstream.feeders.export import (
    ALIASES,
    BUILT_IN_DIMENSIONS,
    DEFAULT_FIELDS,
    ExportError,
    Extractor,
    Field,
    Summary,
    catalogue,
    members,
    pump,
    select_fields,
)
from segstream.feeders.export_writers import ROW_GROUP, Output, output_format
from segstream.scoring.catalogue import LANGUAGES

if TYPE_CHECKING:
    from segstream.scoring.models import Models
    from segstream.state.store import Store

log = logging.getLogger(__name__)

PAGE: int = 1000  # customer keys one SCAN call asks for (a page of the walk)
_DIMENSION_HELP = "Dimension: rfm, lifecycle, cluster, value, churn_risk or one of the rules file"


def export_command(
    dimension: Annotated[str, typer.Option("--dimension", "-d", help=_DIMENSION_HELP)] = "",
    segment: Annotated[
        str | None, typer.Option("--segment", "-s", help="Only this segment's members (default: the whole dimension)")
    ] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="File to write (.csv, .jsonl, .parquet); - for stdout")] = "",
    fields: Annotated[
        str | None, typer.Option("--fields", "-f", help=f"Comma-separated fields (default: {DEFAULT_FIELDS})")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, jsonl or parquet (default: from the --out extension)")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Language of segment names: en or zh-CN (default: SEGSTREAM_LANGUAGE)")
    ] = None,
    list_fields: Annotated[bool, typer.Option("--list-fields", help="List the fields and aliases, and exit")] = False,
    row_group: Annotated[int, typer.Option(min=1, help="Parquet: rows per row group")] = ROW_GROUP,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Write every member of a segment, or of a whole dimension, to CSV, JSON Lines or Parquet
    (docs/EXPORT.md).

    Customers are read from Redis a page at a time, so memory stays flat whatever their
    number. The file is written as OUT.partial and renamed to OUT when complete; Ctrl-C
    stops, keeps the .partial and exits 130."""
    from segstream.cli import fail, settings_or_exit
    from segstream.config import ConfigError
    from segstream.scoring.models import build_models

    if language is not None and language not in LANGUAGES:
        fail(f"unknown --language {language!r}; choose en or zh-CN", 2)
    settings = settings_or_exit()
    try:
        models = build_models(settings)
    except ConfigError as exc:
        fail(str(exc), 2)
    rule_dims = list(models.rules.dimensions) if models.rules else []
    if list_fields:
        for line in field_lines(catalogue([*BUILT_IN_DIMENSIONS, *rule_dims])):
            typer.echo(line)
        return
    try:
        if not dimension:
            raise ExportError("--dimension is required (e.g. --dimension rfm)", 2)
        if not out:
            raise ExportError("--out is required (a file, or - for standard output)", 2)
        chosen = select_fields(fields or DEFAULT_FIELDS, catalogue([*BUILT_IN_DIMENSIONS, *rule_dims, dimension]),
                               dimension)  # fmt: skip
        output = Output(out, output_format(out, fmt), chosen, row_group)
    except ExportError as exc:
        fail(str(exc), exc.code)
    job = Job(dimension, segment, chosen, models, language or settings.language, output)
    try:
        asyncio.run(job.run(settings, progress))
    except KeyboardInterrupt:
        fail(f"interrupted: {job.summary.rows:,} rows written to {output.partial or output.name}"
             + (f", {output.path} not written" if output.path else ""), 130)  # fmt: skip
    except ExportError as exc:
        fail(str(exc) + job.partial_note(), exc.code)
    except (RedisError, OSError) as exc:
        fail(f"Redis error: {exc}{job.partial_note()}")
    for line in job.lines():  # on stderr when the rows went to stdout
        typer.echo(line, err=output.path is None)


def field_lines(fields: list[Field]) -> list[str]:
    """``--list-fields``: each field with its type and meaning, then the aliases."""
    width = max(len(f.name) for f in fields)
    lines = [f"{f.name:{width}}  {f.kind:5}  {f.help}" for f in fields]
    lines.append("")
    lines.append("aliases: all (every field), segment (the exported dimension's code and name), "
                 + ", ".join(f"{a} ({', '.join(ns)})" for a, ns in ALIASES.items()))  # fmt: skip
    lines.append("a group of fields by its start: purchases, usage, satisfaction, profile, churn_risk, value, "
                 "segments.rfm, segments")  # fmt: skip
    lines.append(f"default: {DEFAULT_FIELDS}")
    return lines


class Job:
    """One export: checks the dimension against Redis, loads the snapshots, pumps, renames."""

    def __init__(
        self, dimension: str, segment: str | None, fields: list[Field], models: Models, language: str, output: Output
    ) -> None:
        self.dimension, self.segment, self.fields = dimension, segment, fields
        self.models, self.language, self.output = models, language, output
        self.summary = Summary()
        self.opened = False
        self.size = 0

    async def run(self, settings: Any, progress: bool) -> None:
        from segstream.state.store import Store

        store = Store.from_settings(settings)
        try:
            await self._run(store, progress)
        finally:
            await store.close()

    async def _run(self, store: Store, progress: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        await self._load_snapshots(store)
        self._check(await store.segment_counts())
        now_us = (await store.clock()).get("global", 0)
        total = (await store.stats()).get("customers", 0)
        extract = Extractor(self.fields, self.models, self.language, now_us)
        label = f"export {self.dimension}" + (f"/{self.segment}" if self.segment else "")
        columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(),
                   TextColumn("scanned, {task.fields[rows]:,} rows"), TimeRemainingColumn()]  # fmt: skip
        self.summary = Summary()
        self.output.open()
        self.opened = True
        done = False
        try:
            with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=False) as bar:
                task = bar.add_task(label, total=total or None, rows=0)
                await pump(store.walk(PAGE), members(self.dimension, self.segment), extract.row, self.output,
                           self.summary, lambda s: bar.update(task, completed=s.scanned, rows=s.rows))  # fmt: skip
            self.size = self.output.finish()
            done = True
        finally:
            if not done:
                self.output.abort()

    def _check(self, counts: dict[str, dict[str, int]]) -> None:
        """A dimension and segment Redis or the models know of (an empty one exports no rows),
        or ExportError (exit code 2)."""
        from segstream.scoring.models import segment_name

        rules = self.models.rules.dimensions if self.models.rules else {}
        dims = {*counts, *BUILT_IN_DIMENSIONS, *rules}
        if self.dimension not in dims:
            raise ExportError(f"no dimension {self.dimension!r} (dimensions: {', '.join(sorted(dims))})", 2)
        seg, present = self.segment, counts.get(self.dimension, {})
        if seg is None or seg in present or any(r.segment == seg for r in rules.get(self.dimension, ())):
            return
        if segment_name(self.dimension, seg, self.models, "en") == seg:  # no name: not a segment of it
            known = ", ".join(sorted(present)) or "none has members now"
            raise ExportError(f"no segment {seg!r} in {self.dimension} (segments: {known})", 2)

    async def _load_snapshots(self, store: Store) -> None:
        """The snapshots the workers score with (cluster names, value contribution)."""
        from segstream.state.keys import SNAPSHOTS
        from segstream.state.reader import set_snapshots

        set_snapshots(self.models, [await store.get_snapshot(name) for name in SNAPSHOTS])

    def partial_note(self) -> str:
        if self.opened and self.output.partial is not None:
            return f" ({self.summary.rows:,} rows written to {self.output.partial})"
        return ""

    def lines(self) -> list[str]:
        s = self.summary
        what = f"segment {self.segment} of {self.dimension}" if self.segment else f"dimension {self.dimension}"
        size = f" ({_size(self.size)})" if self.output.path is not None else ""
        return [
            f"exported {s.rows:,} rows ({what}, {len(self.fields)} fields, {self.output.fmt}) "
            f"to {self.output.name}{size}",
            f"scanned {s.scanned:,} customers in {s.seconds:.1f} s",
        ]


def _size(n: int) -> str:
    """
    >>> _size(512), _size(2048), _size(5 * 1024 * 1024)
    ('512 B', '2.0 KiB', '5.0 MiB')
    """
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"
