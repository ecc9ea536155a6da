"""Cell values of imported files: emptiness, times, numbers, text, and stable row ids (pure)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping as AnyMapping
from datetime import date, datetime, tzinfo
from typing import Any, Final

import msgspec

_TRUE: Final = frozenset({"true", "yes", "y", "1", "是", "有"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "否", "无"})


def is_empty(value: Any) -> bool:
    """None, NaN and blank text are empty cells.

    >>> [is_empty(v) for v in (None, "", "  ", float("nan"), 0, "0")]
    [True, True, True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def parse_datetime(value: Any, formats: tuple[str, ...], tz: tzinfo) -> datetime:
    """An aware time from a cell: ``iso`` or strptime formats, tried in order; a time
    without an offset is taken in ``tz``. ValueError when no format fits.

    >>> from datetime import UTC
    >>> from zoneinfo import ZoneInfo
    >>> sh = ZoneInfo("Asia/Shanghai")
    >>> parse_datetime("2024-03-01 14:05", ("%Y-%m-%d %H:%M",), sh).isoformat()
    '2024-03-01T14:05:00+08:00'
    >>> parse_datetime("01/03/2024", ("%d/%m/%Y",), UTC).isoformat()
    '2024-03-01T00:00:00+00:00'
    >>> parse_datetime("2024年3月1日", ("iso", "%Y年%m月%d日"), sh).isoformat()
    '2024-03-01T00:00:00+08:00'
    >>> parse_datetime("2024-03-01T14:05:00-05:00", ("iso",), sh).isoformat()  # its own offset wins
    '2024-03-01T14:05:00-05:00'
    """
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day, tzinfo=tz)
    else:
        text = str(value).strip()
        for fmt in formats:
            try:
                ts = datetime.fromisoformat(text) if fmt == "iso" else datetime.strptime(text, fmt)  # noqa: DTZ007
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"{text!r} matches none of the formats {', '.join(formats)}")
    return ts if ts.tzinfo is not None and ts.utcoffset() is not None else ts.replace(tzinfo=tz)


def parse_number(value: Any) -> float:
    """A number from a cell; ``,`` is a thousands separator. ValueError when it is none.

    >>> parse_number("1,234.50"), parse_number(" 7 "), parse_number(2)
    (1234.5, 7.0, 2.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{str(value).strip()!r} is not a number") from None


def as_text(value: Any) -> str:
    """Text of a cell; an integral float (a Parquet or pandas id column) loses its ``.0``.

    >>> as_text(13085.0), as_text(" C-1 "), as_text(7)
    ('13085', 'C-1', '7')
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def stable_id(prefix: str, row: AnyMapping[str, Any], occurrence: int = 0) -> str:
    """An event id from the row's columns and values (stable across runs, whatever the row's position);
    ``occurrence`` tells apart rows that repeat exactly within one file.

    >>> a = stable_id("shop", {"order": "A1", "total": "9.50"})
    >>> b = stable_id("shop", {"order": "A2", "total": "9.50"})
    >>> a == stable_id("shop", {"order": "A1", "total": "9.50"}), a == b
    (True, False)
    >>> a, stable_id("shop", {"order": "A1", "total": "9.50"}, 1) != a  # pinned: a change breaks re-imports
    ('shop-5ca4ee2d32e949fafdf3beba', True)
    """
    cells = [[k, None if is_empty(v) else as_text(v)] for k, v in row.items()]
    digest = hashlib.sha256(msgspec.json.encode([prefix, occurrence, cells])).hexdigest()
    return f"{prefix}-{digest[:24]}"


def as_bool(raw: Any) -> bool:
    """A yes/no cell as a boolean; ValueError when it is neither.

    >>> as_bool("Yes"), as_bool("否"), as_bool(True)
    (True, False, True)
    """
    if isinstance(raw, bool):
        return raw
    text = as_text(raw).lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{as_text(raw)!r} is not yes/no")


def attribute_value(kind: str, raw: Any) -> str | float | bool:
    """A (non-empty) value of a custom attribute of ``kind`` ``str``, ``float`` or ``bool``; ValueError if unfit.

    Text is the cell's text (its length is the codec's to check); a number must be finite,
    since JSON has no infinity and ``null`` would remove the attribute.

    >>> attribute_value("str", " Outdoor "), attribute_value("float", "1,250"), attribute_value("bool", "是")
    ('Outdoor', 1250.0, True)
    >>> attribute_value("float", "inf")
    Traceback (most recent call last):
    ...
    ValueError: 'inf' is not a finite number
    """
    if kind == "bool":
        return as_bool(raw)
    if kind == "float":
        number = parse_number(raw)
        if not math.isfinite(number):
            raise ValueError(f"{as_text(raw)!r} is not a finite number")
        return number
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is yes/no, not text: set type: boolean, or quote it")
    return as_text(raw)
