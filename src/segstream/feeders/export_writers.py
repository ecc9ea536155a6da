"""Writers of exported rows (CSV, JSON Lines, Parquet) and the output file they go to.

A file is written as ``<out>.partial`` and renamed to ``<out>`` (atomically, replacing an
older one) only when the export is complete; an interrupted export closes its writer and
leaves the ``.partial`` file, readable up to the last row written (a Parquet one has its
footer). ``-`` writes CSV or JSON Lines to standard output.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from segstream.feeders.export import ExportError, Field

log = logging.getLogger(__name__)

FORMATS: Final = ("csv", "jsonl", "parquet")
EXTENSIONS: Final = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
ROW_GROUP: Final = 10_000  # Parquet rows buffered and written as one row group


def output_format(out: str, fmt: str | None) -> str:
    """The format: ``fmt`` if given, else from the file's extension (``-``: CSV).

    >>> output_format("members.parquet", None), output_format("-", None), output_format("x.txt", "jsonl")
    ('parquet', 'csv', 'jsonl')
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ExportError(f"unknown --format {fmt!r}; choose csv, jsonl or parquet", 2)
        return fmt
    if out == "-":
        return "csv"
    ext = Path(out).suffix.lower()
    if ext not in EXTENSIONS:
        raise ExportError(f"cannot tell the format of {out} from its extension; give --format csv, jsonl or parquet", 2)
    return EXTENSIONS[ext]


class CSVWriter:
    """A header of field names, then one line per row: empty for None, ``true``/``false``."""

    def __init__(self, fh: IO[str], fields: list[Field]) -> None:
        self._out = csv.writer(fh)
        self._out.writerow([f.name for f in fields])

    def write(self, rows: list[list[Any]]) -> None:
        self._out.writerows(["" if v is None else "true" if v is True else "false" if v is False else v for v in r]
                            for r in rows)  # fmt: skip

    def close(self) -> None:
        pass


class JSONLWriter:
    """One JSON object per line, the field names as keys (null for None)."""

    def __init__(self, fh: IO[bytes], fields: list[Field]) -> None:
        self._fh = fh
        self._names = [f.name for f in fields]
        self._enc = msgspec.json.Encoder()

    def write(self, rows: list[list[Any]]) -> None:
        names = self._names
        self._fh.write(self._enc.encode_lines([dict(zip(names, r, strict=True)) for r in rows]))

    def close(self) -> None:
        pass


def arrow_schema(fields: list[Field]) -> Any:
    """The Parquet schema of the fields (a ``pyarrow.Schema``); ``time`` is a UTC timestamp (µs)."""
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(f.name, types[f.kind]) for f in fields])


class ParquetWriter:
    """Rows buffered per column and written ``row_group`` at a time as one row group."""

    def __init__(self, path: Path, fields: list[Field], row_group: int = ROW_GROUP) -> None:
        import pyarrow.parquet as pq

        self._fields = fields
        self._schema = arrow_schema(fields)
        self._row_group = row_group
        self._columns: list[list[Any]] = [[] for _ in fields]
        self._buffered = 0
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")

    def write(self, rows: list[list[Any]]) -> None:
        for r in rows:
            for col, v in zip(self._columns, r, strict=True):
                col.append(v)
        self._buffered += len(rows)
        if self._buffered >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._buffered:
            return
        arrays = []
        for f, col, t in zip(self._fields, self._columns, self._schema.types, strict=True):
            # time: ISO-8601 strings with an offset, which Arrow parses; float: ints are fine
            arrays.append(pa.array(col, pa.string()).cast(t) if f.kind == "time" else pa.array(col, t))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema), row_group_size=self._row_group)
        self._columns = [[] for _ in self._fields]
        self._buffered = 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()


class Output:
    """The destination of an export: a file written as ``<path>.partial``, or standard output.

    :meth:`open` makes the writer, :meth:`write` hands it rows; :meth:`finish` closes it and renames the partial file to
    the final name; :meth:`abort` closes it and leaves the partial file. OSError becomes
    ExportError (one line)."""

    def __init__(self, out: str, fmt: str, fields: list[Field], row_group: int = ROW_GROUP) -> None:
        if out == "-" and fmt == "parquet":
            raise ExportError("Parquet cannot go to standard output; give --out FILE.parquet", 2)
        self.path = None if out == "-" else Path(out)
        self.partial = None if self.path is None else self.path.with_name(self.path.name + ".partial")
        if self.path is not None and not self.path.parent.is_dir():
            raise ExportError(f"no directory {self.path.parent} for --out {out}", 2)
        if self.path is not None and self.path.is_dir():
            raise ExportError(f"--out {out} is a directory", 2)
        self.fmt, self.fields, self.row_group = fmt, fields, row_group
        self._fh: IO[Any] | None = None
        self._writer: CSVWriter | JSONLWriter | ParquetWriter | None = None

    @property
    def name(self) -> str:
        return "standard output" if self.path is None else str(self.path)

    def open(self) -> None:
        """Create the partial file (or take standard output) and write the header, if any."""
        try:
            if self.fmt == "parquet":
                assert self.partial is not None
                self._writer = ParquetWriter(self.partial, self.fields, self.row_group)
            elif self.fmt == "csv":
                self._fh = sys.stdout if self.partial is None else self.partial.open("w", encoding="utf-8", newline="")
                self._writer = CSVWriter(self._fh, self.fields)
            else:
                self._fh = sys.stdout.buffer if self.partial is None else self.partial.open("wb")
                self._writer = JSONLWriter(self._fh, self.fields)
        except OSError as exc:
            raise ExportError(f"cannot write {self.partial or 'to standard output'}: {exc.strerror or exc}") from None

    def write(self, rows: list[list[Any]]) -> None:
        assert self._writer is not None, "open() first"
        try:
            self._writer.write(rows)
        except OSError as exc:
            raise ExportError(f"cannot write {self.partial or 'to standard output'}: {exc.strerror or exc}") from None

    def _close(self) -> None:
        writer, fh = self._writer, self._fh
        self._writer = self._fh = None
        try:
            if writer is not None:
                writer.close()
        finally:
            if fh is not None:
                if self.partial is None:
                    fh.flush()
                else:
                    fh.close()

    def finish(self) -> int:
        """Close the writer and give the file its name; its size in bytes (0: standard output)."""
        try:
            self._close()
            if self.path is None or self.partial is None:
                return 0
            os.replace(self.partial, self.path)
            return self.path.stat().st_size
        except OSError as exc:
            raise ExportError(f"cannot write {self.partial or 'to standard output'}: {exc.strerror or exc}") from None

    def abort(self) -> None:
        """Close the writer (what was written stays in the partial file)."""
        try:
            self._close()
        except (OSError, ExportError) as exc:  # already failing: say so, keep the first error
            log.warning("closing %s: %s", self.partial or "standard output", exc)
