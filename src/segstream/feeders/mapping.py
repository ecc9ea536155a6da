"""Import mappings: how the rows of a CSV, JSON Lines or Parquet file become input events.

A mapping is a small YAML file (docs/IMPORT.md describes the language). :func:`load_mapping`
checks it and names the key of the first mistake in a one-line :class:`MappingError`;
:meth:`Mapping.document` turns one row (column -> value) into the JSON document of an event,
or a :class:`Problem` naming the column and the reason. Whether the document is a valid
event is then decided by the worker's own codec (:mod:`segstream.feeders.importer`).

Everything here is pure: no file but the mapping itself is read, nothing is sent.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml

from segstream.feeders.values import (
    as_bool,
    as_text,
    attribute_value,
    is_empty,
    parse_datetime,
    parse_number,
    stable_id,
)
from segstream.streams.kinds import SCHEMAS as INPUT_SCHEMAS
from segstream.streams.schemas import MAX_ATTRIBUTES, AttributeName, AttributeText

__all__ = ["Mapping", "MappingError", "Problem", "load_mapping", "parse_datetime", "parse_mapping", "stable_id"]

FORMATS: Final = ("csv", "jsonl", "parquet")
SUFFIXES: Final = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
MONEY: Final = frozenset({"amount", "discount"})
_TOP_KEYS: Final = ("topic", "description", "format", "sample", "csv", "timezone", "event_id", "id_prefix", "skip",
                    "fields")  # fmt: skip
_FIELD_KEYS: Final = ("column", "value", "map", "otherwise", "default", "format", "units", "decimals", "times")
_SKIP_KEYS: Final = ("column", "equals", "in", "startswith", "empty", "reason")
#: ``fields: {attributes.NAME: ...}`` maps a column onto a custom profile attribute.
ATTRIBUTE_PREFIX: Final = "attributes."
_ATTRIBUTE_KEYS: Final = ("column", "value", "map", "otherwise", "default", "type", "empty")
#: An attribute's ``type:`` -> the kind of its values (text is the default).
ATTRIBUTE_TYPES: Final = {"text": "str", "number": "float", "boolean": "bool"}
_REMOVE: Final = object()  # an empty cell of an attribute with ``empty: remove``: sent as null


class MappingError(ValueError):
    """A mapping file is unusable; the message is one line naming the file and the key."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a row was not turned into an event: the source column (``-``: none) and a reason."""

    column: str
    reason: str
    detail: str


def field_kinds(topic: str) -> dict[str, tuple[str, bool]]:
    """Field name -> (``str``/``int``/``float``/``bool``/``datetime``, required) of a topic's event.

    >>> field_kinds("purchases")["amount"], field_kinds("purchases")["ts"], field_kinds("profiles")["city_tier"]
    (('float', True), ('datetime', True), ('int', False))
    """
    out = {}
    for f in msgspec.inspect.type_info(INPUT_SCHEMAS[topic]).fields:  # type: ignore[attr-defined]
        t = f.type
        if isinstance(t, msgspec.inspect.UnionType):
            t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
        kinds: dict[type, str] = {
            msgspec.inspect.IntType: "int",
            msgspec.inspect.FloatType: "float",
            msgspec.inspect.BoolType: "bool",
            msgspec.inspect.DateTimeType: "datetime",
        }
        kind = kinds.get(type(t), "str")
        out[f.name] = (kind, bool(f.required))
    return out


# ---------------------------------------------------------------- the mapping


@dataclass(frozen=True, slots=True)
class Field:
    """How one event field is filled: from ``column`` (through ``map``), or the constant ``value``."""

    name: str
    kind: str
    required: bool
    column: str | None = None
    value: Any = None
    map: dict[str, Any] | None = None
    otherwise: Any = None  # for values the map does not list; None: such a value is a problem
    default: Any = None  # for an empty cell
    formats: tuple[str, ...] = ("iso",)
    minor: bool = False  # amounts in minor units (cents): divided by 10**decimals
    decimals: int = 2
    times: str | None = None  # multiplied by this column (unit price x quantity)
    attribute: str | None = None  # a custom profile attribute (``attributes.NAME``): its name
    remove_empty: bool = False  # an attribute's empty cell sends null (removes it) rather than leaving it out


@dataclass(frozen=True, slots=True)
class Skip:
    """Rows this rule matches are skipped (reported, not sent) with ``reason``."""

    column: str
    reason: str
    equals: tuple[str, ...] = ()
    startswith: str | None = None
    empty: bool = False

    def matches(self, row: AnyMapping[str, Any]) -> bool:
        v = row.get(self.column)
        if is_empty(v):
            return self.empty
        text = as_text(v)
        return text in self.equals or (self.startswith is not None and text.startswith(self.startswith))


@dataclass(frozen=True, slots=True)
class Mapping:
    """A checked mapping (see :func:`load_mapping`)."""

    name: str
    topic: str
    fields: tuple[Field, ...]
    timezone: tzinfo = UTC
    format: str | None = None
    event_id: str | None = None
    id_prefix: str = "import"
    skip: tuple[Skip, ...] = ()
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    sample: str | None = None
    description: str = ""
    digest: str = ""  # sha256 of the mapping text (checkpoints refer to it)
    columns: frozenset[str] = field(default_factory=frozenset)  # the columns the mapping reads

    def file_format(self, path: Path) -> str:
        """The mapping's format, else the one the file name says; ValueError if neither."""
        fmt = self.format or SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format of {path.name}: name it .csv, .jsonl or .parquet or set format:")
        return fmt

    def source(self, event_field: str) -> str:
        """The column an event field comes from (``-`` for constants and generated ids)."""
        if event_field == "event_id":
            return self.event_id or "-"
        f = next((f for f in self.fields if f.name == event_field), None)
        return f.column if f is not None and f.column else "-"

    def skipped(self, row: AnyMapping[str, Any]) -> Skip | None:
        return next((s for s in self.skip if s.matches(row)), None)

    def document(self, row: AnyMapping[str, Any], occurrence: int = 0) -> dict[str, Any] | Problem:
        """The event document of a row, or the first :class:`Problem` with it.

        >>> m = parse_mapping('''
        ... topic: purchases
        ... timezone: Europe/London
        ... fields:
        ...   customer_id: Customer
        ...   ts: {column: Date, format: "%d/%m/%Y"}
        ...   amount: {column: Cents, units: minor}
        ...   channel: {value: online}
        ... ''', "demo")
        >>> m.document({"Customer": "c1", "Date": "01/03/2024", "Cents": "1999"})["amount"]
        19.99
        >>> m.document({"Customer": "c1", "Date": "2024/03/01", "Cents": "1"})
        Problem(column='Date', reason='bad_date', detail="'2024/03/01' matches none of the formats %d/%m/%Y")

        Custom attributes of a profile go into ``attributes``; an empty cell leaves one out:

        >>> m = parse_mapping('''
        ... topic: profiles
        ... fields:
        ...   customer_id: Id
        ...   ts: Modified
        ...   attributes.tier: Tier
        ...   attributes.seats: {column: Seats, type: number}
        ... ''', "demo")
        >>> m.document({"Id": "a1", "Modified": "2024-03-01T09:00:00Z", "Tier": "gold", "Seats": "12"})["attributes"]
        {'tier': 'gold', 'seats': 12.0}
        >>> m.document({"Id": "a1", "Modified": "2024-03-01T09:00:00Z", "Tier": "", "Seats": "12"})["attributes"]
        {'seats': 12.0}
        """
        doc: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        for f in self.fields:
            got = self._value(f, row)
            if isinstance(got, Problem):
                return got
            if f.attribute is not None:
                if got is not None:
                    attributes[f.attribute] = None if got is _REMOVE else got
            elif got is not None:
                doc[f.name] = got
        if attributes:
            doc["attributes"] = attributes
        if self.event_id is not None:
            raw = row.get(self.event_id)
            if is_empty(raw):
                return Problem(self.event_id, "missing_value", "no event id")
            doc["event_id"] = as_text(raw)
        else:
            doc["event_id"] = stable_id(self.id_prefix, row, occurrence)
        return doc

    def _value(self, f: Field, row: AnyMapping[str, Any]) -> Any:
        col = f.column or "-"
        if f.column is None:
            raw = f.value
        else:
            if f.column not in row:
                return Problem(col, "missing_column", f"the file has no column {f.column!r}")
            raw = row[f.column]
            if f.map is not None and not is_empty(raw):
                key = as_text(raw)
                if key in f.map:
                    raw = f.map[key]
                elif f.otherwise is not None:
                    raw = f.otherwise
                else:
                    return Problem(col, "unmapped_value", f"{key!r} is not in the value map of `{f.name}`")
        if is_empty(raw):
            raw = f.default
        if is_empty(raw):
            if f.remove_empty:
                return _REMOVE
            return Problem(col, "missing_value", f"`{f.name}` is required; the cell is empty") if f.required else None
        try:
            if f.attribute is not None:
                return attribute_value(f.kind, raw)
            return self._convert(f, raw, row)
        except ValueError as exc:
            reason = {"datetime": "bad_date", "int": "bad_number", "float": "bad_number", "bool": "bad_value"}
            return Problem(col, reason.get(f.kind, "bad_value"), str(exc))

    def _convert(self, f: Field, raw: Any, row: AnyMapping[str, Any]) -> Any:
        if f.kind == "datetime":
            return parse_datetime(raw, f.formats, self.timezone).isoformat()
        if f.kind == "bool":
            return as_bool(raw)
        if f.kind == "str":
            return as_text(raw)
        number = parse_number(raw)
        if f.times is not None:
            if is_empty(row.get(f.times)):
                raise ValueError(f"`{f.name}` is multiplied by column {f.times!r}, which is empty")
            number *= parse_number(row[f.times])
        if f.minor:
            number /= 10**f.decimals
        if f.kind == "int":
            if not number.is_integer():
                raise ValueError(f"{as_text(raw)!r} is not a whole number")
            return int(number)
        return round(number, f.decimals) if f.name in MONEY and math.isfinite(number) else number


# ---------------------------------------------------------------- reading and checking YAML


def load_mapping(path: str | Path) -> Mapping:
    """The mapping in a YAML file; :class:`MappingError` (one line) when it is unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read mapping {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_mapping(text, path.stem, where=str(path))


def parse_mapping(text: str, name: str, where: str | None = None) -> Mapping:
    """Check and build a mapping from YAML text (see :func:`load_mapping`)."""
    where = where or name

    def bad(key: str, msg: str) -> MappingError:
        return MappingError(f"mapping {where}: {key}: {msg}")

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise MappingError(f"mapping {where}: {at}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict):
        raise MappingError(f"mapping {where}: expected a YAML mapping with topic: and fields:")
    _known(doc, _TOP_KEYS, "", bad)
    topic = doc.get("topic")
    if topic not in INPUT_SCHEMAS:
        raise bad("topic", f"{topic!r} is not one of {', '.join(INPUT_SCHEMAS)}")
    fmt = doc.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise bad("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        tz: tzinfo = ZoneInfo(str(doc.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {doc.get('timezone')!r} (use an IANA name such as Asia/Shanghai)"
        raise bad("timezone", msg) from None
    csv_opts = doc.get("csv") or {}
    if not isinstance(csv_opts, dict):
        raise bad("csv", "expected delimiter: and/or encoding:")
    _known(csv_opts, ("delimiter", "encoding"), "csv.", bad)
    delimiter = str(csv_opts.get("delimiter", ","))
    if len(delimiter) != 1:
        raise bad("csv.delimiter", f"{delimiter!r} is not one character")
    kinds = field_kinds(topic)
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise bad("fields", "expected a mapping of event field -> column or {column: ..., ...}")
    fields = tuple(_field(str(k), v, kinds, bad, topic) for k, v in raw_fields.items())
    if (n := sum(f.attribute is not None for f in fields)) > MAX_ATTRIBUTES:
        raise bad("fields", f"{n} custom attributes; a profile carries at most {MAX_ATTRIBUTES}")
    names = {f.name for f in fields}
    if "event_id" in names:
        raise bad("fields.event_id", "set the event id column with the top-level key event_id:")
    if missing := [k for k, (_, req) in kinds.items() if req and k != "event_id" and k not in names]:
        raise bad("fields", f"missing required field(s) {', '.join(missing)} of {topic}")
    skip = tuple(_skip(i, s, bad) for i, s in enumerate(doc.get("skip") or []))
    event_id = doc.get("event_id")
    columns = {f.column for f in fields if f.column} | {f.times for f in fields if f.times}
    columns |= {s.column for s in skip} | ({str(event_id)} if event_id else set())
    return Mapping(
        name=name,
        topic=topic,
        fields=fields,
        timezone=tz,
        format=fmt,
        event_id=None if event_id is None else str(event_id),
        id_prefix=str(doc.get("id_prefix", name)),
        skip=skip,
        delimiter=delimiter,
        encoding=str(csv_opts.get("encoding", "utf-8-sig")),
        sample=doc.get("sample"),
        description=str(doc.get("description", "")).strip(),
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        columns=frozenset(columns),
    )


def _known(d: dict[str, Any], keys: tuple[str, ...], prefix: str, bad: Any) -> None:
    for k in d:
        if k not in keys:
            raise bad(f"{prefix}{k}", f"unknown key (expected one of {', '.join(keys)})")


def _field(name: str, spec: Any, kinds: dict[str, tuple[str, bool]], bad: Any, topic: str) -> Field:
    key = f"fields.{name}"
    if name.startswith(ATTRIBUTE_PREFIX) or name == "attributes":
        if topic != "profiles":
            raise bad(key, f"custom attributes are for the profiles topic; this mapping's topic is {topic}")
        if name == "attributes":
            raise bad(key, "map each custom attribute on its own: attributes.NAME: COLUMN or {column: ...}")
        return _attribute(name, spec, bad)
    if name not in kinds:
        raise bad(key, f"not a field of this topic's events (fields: {', '.join(kinds)})")
    kind, required = kinds[name]
    spec, vmap = _column_or_value(key, spec, _FIELD_KEYS, "event", bad)
    formats = spec.get("format", "iso")
    formats = (formats,) if isinstance(formats, str) else formats
    if not isinstance(formats, list | tuple) or not formats or not all(isinstance(x, str) for x in formats):
        raise bad(f"{key}.format", "expected a strptime format or a list of them (iso: ISO-8601)")
    if "format" in spec and kind != "datetime":
        raise bad(f"{key}.format", f"`{name}` is not a time")
    units = spec.get("units", "major")
    if units not in ("major", "minor"):
        raise bad(f"{key}.units", f"{units!r} is not major or minor")
    if ("units" in spec or "times" in spec or "decimals" in spec) and kind not in ("float", "int"):
        raise bad(key, f"units:, decimals: and times: are for numbers; `{name}` is a {kind}")
    decimals = spec.get("decimals", 2)
    if not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise bad(f"{key}.decimals", f"{decimals!r} is not a whole number 0-6")
    return Field(
        name=name,
        kind=kind,
        required=required,
        **_source(spec, vmap),
        formats=tuple(formats),
        minor=units == "minor",
        decimals=decimals,
        times=None if spec.get("times") is None else str(spec["times"]),
    )


def _column_or_value(
    key: str, spec: Any, allowed: tuple[str, ...], target: str, bad: Any
) -> tuple[dict[str, Any], dict[Any, Any] | None]:
    """A field's spec as a dict (a bare column name is ``{column: NAME}``), checked: only
    ``allowed`` keys, exactly one of ``column:`` and ``value:``, a ``map:`` only with a
    column; and its value map (``target`` names what the map's values are)."""
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise bad(key, "expected a column name or {column: ...} / {value: ...}")
    _known(spec, allowed, f"{key}.", bad)
    if ("column" in spec) == ("value" in spec):
        raise bad(key, "give exactly one of column: and value:")
    vmap = spec.get("map")
    if vmap is not None and (not isinstance(vmap, dict) or "column" not in spec):
        raise bad(f"{key}.map", f"expected source value -> {target} value, with column:")
    return spec, vmap


def _source(spec: dict[str, Any], vmap: dict[Any, Any] | None) -> dict[str, Any]:
    """Where a field's value comes from, as :class:`Field` takes it: the column (through the
    map, with ``otherwise`` and ``default``) or the constant value."""
    column = spec.get("column")
    return {
        "column": None if column is None else str(column),
        "value": spec.get("value"),
        "map": None if vmap is None else {as_text(k): v for k, v in vmap.items()},
        "otherwise": spec.get("otherwise"),
        "default": spec.get("default"),
    }


def _attribute(name: str, spec: Any, bad: Any) -> Field:
    """The field of ``attributes.NAME``: a column, a constant or a value map, of a ``type:``."""
    key = f"fields.{name}"
    attribute = name[len(ATTRIBUTE_PREFIX) :]
    try:
        msgspec.convert(attribute, AttributeName)
    except msgspec.ValidationError:
        msg = f"{attribute!r} is not a custom attribute name (a-z, 0-9 and _, starting with a letter; up to 32)"
        raise bad(key, msg) from None
    spec, vmap = _column_or_value(key, spec, _ATTRIBUTE_KEYS, "attribute", bad)
    typ = spec.get("type", "text")
    if typ not in ATTRIBUTE_TYPES:
        raise bad(f"{key}.type", f"{typ!r} is not one of {', '.join(ATTRIBUTE_TYPES)}")
    kind = ATTRIBUTE_TYPES[typ]
    empty = spec.get("empty", "keep")
    if empty not in ("keep", "remove"):
        raise bad(f"{key}.empty", f"{empty!r} is not keep (leave the attribute out) or remove (send null)")
    constants = [("value", spec.get("value")), ("otherwise", spec.get("otherwise")), ("default", spec.get("default"))]
    constants += [(f"map.{k}", v) for k, v in (vmap or {}).items()]
    for where, v in constants:  # a constant that could never be sent is a mistake in the mapping
        if is_empty(v):
            continue
        try:
            got = attribute_value(kind, v)
        except ValueError as exc:
            raise bad(f"{key}.{where}", f"{exc}" if kind == "str" else f"{exc} (a {typ} attribute)") from None
        try:
            msgspec.convert(got, AttributeText | float | bool)
        except msgspec.ValidationError as exc:
            raise bad(f"{key}.{where}", f"{as_text(got)[:16]!r}... is {len(as_text(got))} characters: {exc}") from None
    return Field(
        name=name,
        kind=kind,
        required=False,
        **_source(spec, vmap),
        attribute=attribute,
        remove_empty=empty == "remove",
    )


def _skip(i: int, spec: Any, bad: Any) -> Skip:
    key = f"skip[{i}]"
    if not isinstance(spec, dict):
        raise bad(key, "expected {column: ..., equals|in|startswith|empty: ..., reason: ...}")
    _known(spec, _SKIP_KEYS, f"{key}.", bad)
    if "column" not in spec or "reason" not in spec:
        raise bad(key, "needs column: and reason:")
    tests = [k for k in ("equals", "in", "startswith", "empty") if k in spec]
    if not tests:
        raise bad(key, "needs one of equals:, in:, startswith:, empty:")
    values = spec.get("in", [])
    if not isinstance(values, list):
        raise bad(f"{key}.in", "expected a list")
    equals = tuple(as_text(v) for v in values) + ((as_text(spec["equals"]),) if "equals" in spec else ())
    start = spec.get("startswith")
    return Skip(
        column=str(spec["column"]),
        reason=str(spec["reason"]),
        equals=equals,
        startswith=None if start is None else str(start),
        empty=bool(spec.get("empty", False)),
    )
