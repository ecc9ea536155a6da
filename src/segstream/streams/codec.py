"""Decoding and validation of input events; every rejection names its reason.

Decoding uses msgspec typed decoders (one per topic). Checks a type cannot express —
finite amounts, timestamps with an offset and within a sane range, the currency, score
ranges, control characters in ids — follow, so each bad event gets one of :data:`REASONS`.

Each message is judged alone and :meth:`EventCodec.decode` never raises: nesting deeper
than :data:`MAX_DEPTH` is refused before parsing (``too_deep``), and anything unforeseen
that still raises becomes an ``undecodable`` rejection instead of killing the worker.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Final

import msgspec

from segstream.streams.kinds import SCHEMAS as INPUT_SCHEMAS
from segstream.streams.schemas import Event, Feedback, Profile, Purchase, Usage

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)

REASONS: Final = (
    "too_large",  # value longer than max_event_bytes
    "empty",  # no value at all (tombstone)
    "too_deep",  # arrays/objects nested deeper than MAX_DEPTH anywhere (checked before parsing)
    "not_utf8",  # bytes are not UTF-8
    "invalid_encoding",  # a lone UTF-16 surrogate escape ("\ud800") in a string or key: not text
    "not_json",  # not a JSON document (also: a BOM, comments, unescaped control characters)
    "non_finite_number",  # NaN or Infinity literals (not JSON, but some producers write them)
    "missing_field",  # a required field is absent
    "wrong_type",  # a field has the wrong JSON type or shape
    "invalid_value",  # a field breaks its constraint (empty, overlong or control-character id, unknown enum)
    "no_timezone",  # a timestamp without an offset
    "timestamp_out_of_range",  # before min_event_time or too far in the future
    "bad_amount",  # NaN, infinite or negative money or quantity
    "unsupported_currency",  # not the deployment's currency
    "bad_score",  # NPS outside 0-10, CSAT/review/complaint severity outside 1-5, missing score
    "undecodable",  # decoding or checking raised something unforeseen (a codec bug: detail has the exception)
    "too_late",  # stamped more than max_lateness_days before its partition's clock (docs/PROCESSING.md)
    "processing_error",  # valid on the wire but the model step failed on it (a bug: see the log)
)

#: Amounts above this (in major units) are rejected as implausible; it also keeps
#: minor-unit integer sums far from float and overflow trouble.
MAX_AMOUNT: Final = 1e12

#: Deepest nesting of arrays and objects accepted anywhere in an event, the event object
#: itself being level 1. Input schemas are flat; this leaves producers room for nested
#: extra fields while keeping recursive parsing (msgspec skips unknown fields recursively)
#: far from Python's recursion limit.
MAX_DEPTH: Final = 32

#: Rejection details quote msgspec messages, which may quote the offending value.
_MAX_DETAIL: Final = 500

#: Score ranges; a complaint's score is its severity (1 minor .. 5 severe) and may be left out.
_SCORE_RANGES: Final = {"nps": (0.0, 10.0), "csat": (1.0, 5.0), "review": (1.0, 5.0), "complaint": (1.0, 5.0)}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event was not applied: a code from :data:`REASONS` and a human detail."""

    reason: str
    detail: str


def to_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (``ts`` must be aware)."""
    return (ts - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_CONSTRAINT = re.compile(
    r"^Expected `\w+` (of length [<>]=|matching regex|[<>]=)|^Expected `object` of length|^Invalid enum value"
    r"|^Number out of range"
)


def _classify_validation(msg: str) -> str:
    if msg.startswith("Object missing required field"):
        return "missing_field"
    if _CONSTRAINT.match(msg):
        return "invalid_value"
    return "wrong_type"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


# --------------------------------------------------------------------------- nesting depth

#: A JSON string literal, or an unterminated one running to the end (so every match attempt
#: starting at a quote succeeds and a scan stays linear on hostile input); it tells whether a
#: byte lies inside a string when diagnosing a parse error.
_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
#: A backslash escaping a byte that matters to structure (matched left to right, so runs of
#: backslashes pair off as in JSON; other escapes hold no quote or bracket).
_ESCAPED_STRUCTURE: Final = re.compile(rb'\\[\\"\[\]{}]')
#: ``bytes.translate`` arguments keeping only quotes and brackets, with ``{}`` folded into ``[]``.
_FOLD: Final = bytes(range(256)).translate(bytes.maketrans(b"{}", b"[]"))
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP: Final = tuple(1 if b == ord("[") else -1 if b == ord("]") else 0 for b in range(256))


def nesting_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in ``raw`` (brackets inside strings do not count).

    Exact when the answer exceeds ``limit``; otherwise any value ``<= limit`` (the cheap
    answer). Malformed input is scanned as far as it goes: depth is the most containers
    open at any point, an unterminated string runs to the end, and a backslash escapes the
    next byte wherever it is (in valid JSON it only occurs in strings). Loops run in C
    (translate, replace, accumulate); only escaped quotes and backslashes cost a regex
    match each. A few ns a byte for an event with dozens of nested line items, 1-2 ms for
    16 KB of hostile brackets.
    """
    if b"\\" in raw:
        raw = _ESCAPED_STRUCTURE.sub(b"", raw)  # an escaped quote does not end a string
    structure = raw.translate(_FOLD, _NOT_STRUCTURE)
    if structure.count(b"[") <= limit:
        return 0
    # Usually no string holds a bracket: then every string is an adjacent pair of quotes here,
    # and dropping the pairs leaves no quote. Else the first string holding one keeps a quote.
    outside = structure.replace(b'""', b"")
    if b'"' in outside:
        outside = b"".join(structure.split(b'"')[::2])  # the odd pieces lie inside strings
        if outside.count(b"[") <= limit:
            return 0
    rest = outside
    for _ in range(limit):  # each pass drops the innermost level: gone in `limit` passes means shallow enough
        rest, before = rest.replace(b"[]", b""), len(rest)
        if not rest:
            return 0
        if len(rest) == before:  # unbalanced
            break
    return max(accumulate(map(_STEP.__getitem__, outside)))


# --------------------------------------------------------------------------- undecodable JSON

_BOM: Final = b"\xef\xbb\xbf"
_AT_BYTE: Final = re.compile(r"\(byte (\d+)\)$")
#: NaN and Infinity as producers write them (JavaScript ``NaN``/``Infinity``, Python's ``nan``/
#: ``inf``), after any sign.
_NON_FINITE: Final = re.compile(rb"\+?(?i:nan|inf(?:inity)?)(?![0-9A-Za-z_])")
_VALUE_START: Final = frozenset(b":[,-+ \t\r\n")
_ESCAPE: Final = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def lone_surrogate_escape(raw: bytes) -> int | None:
    """Byte offset of the first ``\\uD800``-``\\uDFFF`` escape that is not half of a pair, or None."""
    if b"\\u" not in raw:
        return None
    high: int | None = None  # offset of a high surrogate waiting for its low half
    high_end = -1
    for m in _ESCAPE.finditer(raw):
        cp = int(m.group(1), 16) if m.group(1) else -1
        if high is not None:
            if m.start() == high_end and 0xDC00 <= cp <= 0xDFFF:
                high = None
                continue
            return high
        if 0xD800 <= cp <= 0xDBFF:
            high, high_end = m.start(), m.end()
        elif 0xDC00 <= cp <= 0xDFFF:
            return m.start()
    return high


def _non_finite_at(raw: bytes, pos: int) -> int | None:
    """Start of the NaN/Infinity literal msgspec's "invalid character" at ``pos`` is about, or None.

    msgspec points at its first letter (or ``+``), one byte on while skipping an unknown
    field, or four on when it read a lower-case ``n`` as the start of ``null``.
    """
    for start in range(max(pos - 4, 0), pos + 1):
        m = _NON_FINITE.match(raw, start)
        if m is None or pos > m.end() + 1 or (start and raw[start - 1] not in _VALUE_START):
            continue
        if not any(s.start() < start < s.end() for s in _STRING.finditer(raw, 0, start + 1)):
            return start
    return None


def _diagnose_undecodable(raw: bytes, exc: msgspec.DecodeError) -> Rejection:
    """Name why msgspec could not parse ``raw``; its error is the first failure in the bytes."""
    msg = str(exc)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Rejection("not_utf8", f"byte {err.start} is not UTF-8")
    if raw.startswith(_BOM):
        return Rejection("not_json", "starts with a UTF-8 byte order mark (EF BB BF), which JSON text must not")
    if "surrogate" in msg:
        return Rejection("invalid_encoding", f"lone UTF-16 surrogate escape in a string: {msg}")
    at = _AT_BYTE.search(msg)
    pos = int(at.group(1)) if at else None
    # msgspec reports some lone surrogates (e.g. in the last key) as truncated input
    lone = lone_surrogate_escape(raw)
    if lone is not None and (pos is None or lone < pos):  # at pos: a backslash outside any string
        return Rejection("invalid_encoding", f"lone UTF-16 surrogate escape at byte {lone}")
    if pos is not None and "invalid character" in msg:
        start = _non_finite_at(raw, pos)
        if start is not None:
            return Rejection("non_finite_number", f"NaN or Infinity (byte {start}) is not a JSON number")
    if pos is not None and pos < len(raw):
        if raw[pos] < 0x20:
            return Rejection(
                "not_json", f"unescaped control character 0x{raw[pos]:02x} at byte {pos}; JSON strings must escape it"
            )
        start = pos - 1 if "trailing characters" in msg else pos  # msgspec points one past their start
        if raw.startswith((b"//", b"/*"), start):
            return Rejection("not_json", f"a comment at byte {start}; JSON has no comments")
    return Rejection("not_json", _clip(msg))


# --------------------------------------------------------------------------- ids

#: C0 and C1 control characters and DEL: not part of any sane id (format characters such as
#: the RTL override U+202E, emoji and CJK are fine).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def _check_id(value: str, field: str) -> Rejection | None:
    bad = _CONTROL.search(value)  # str.isprintable() is a cheaper first test, but false for e.g. U+202E too
    if bad is None:
        return None
    return Rejection("invalid_value", f"`{field}` has control character U+{ord(bad.group()):04X} at {bad.start()}")


class EventCodec:
    """Decode and validate the events of one input topic.

    Parameters
    ----------
    kind
        One of ``purchases``, ``usage``, ``feedback``, ``profiles``.
    max_bytes
        Larger values are rejected as ``too_large`` without being parsed.
    min_time
        Earliest acceptable event time.
    max_future
        How far past wall-clock time an event may be stamped.
    currency
        The only currency accepted for purchases.
    max_depth
        Deeper nesting of arrays and objects is rejected as ``too_deep`` without being parsed.
    """

    def __init__(
        self,
        kind: str,
        *,
        max_bytes: int = 16_384,
        min_time: datetime = datetime(1990, 1, 1, tzinfo=UTC),
        max_future: timedelta = timedelta(days=1),
        currency: str = "USD",
        max_depth: int = MAX_DEPTH,
    ) -> None:
        if kind not in INPUT_SCHEMAS:
            raise ValueError(f"unknown event type {kind!r}")
        self.kind = kind
        self.max_bytes = max_bytes
        self.min_time = min_time
        self.max_future = max_future
        self.currency = currency
        self.max_depth = max_depth
        self._schema = INPUT_SCHEMAS[kind]
        self._decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(self._schema)

    def decode(self, raw: bytes | None, now: datetime) -> Event | Rejection:
        """The event, or the :class:`Rejection` saying why not. ``now`` is wall-clock time.

        Never raises: each message is judged alone, so no input can stop the stream.
        """
        try:
            if raw is None or not raw:
                return Rejection("empty", "message has no value")
            if len(raw) > self.max_bytes:
                return Rejection("too_large", f"{len(raw)} bytes > limit {self.max_bytes}")
            # Fast path, two memchr calls: no array and the only `{` opens the event (nesting 1).
            if raw.rfind(b"{") > 0 or raw.find(b"[") >= 0:
                depth = nesting_depth(raw, self.max_depth)
                if depth > self.max_depth:
                    return Rejection("too_deep", f"arrays/objects nested {depth} deep > limit {self.max_depth}")
            try:
                event = self._decoder.decode(raw)
            except msgspec.ValidationError as exc:
                msg = str(exc)
                return Rejection(_classify_validation(msg), _clip(msg))
            except msgspec.DecodeError as exc:
                return _diagnose_undecodable(raw, exc)
            except UnicodeDecodeError as exc:  # invalid UTF-8 inside a JSON string
                return Rejection("not_utf8", f"byte {exc.start} of a string is not UTF-8")
            return self._check(event, now) or event
        except RecursionError:  # the caller's stack was already deep: nesting alone cannot get here
            return Rejection("too_deep", f"recursion limit hit while decoding (nesting limit {self.max_depth})")
        except Exception as exc:  # a codec bug or an input no check foresaw: reject it, keep going
            return Rejection("undecodable", _clip(f"{type(exc).__name__}: {exc}"))

    def _check(self, ev: Event, now: datetime) -> Rejection | None:
        bad = None
        if not (ev.event_id.isprintable() and ev.customer_id.isprintable()):  # fast path for ordinary ids
            bad = _check_id(ev.event_id, "event_id") or _check_id(ev.customer_id, "customer_id")
        bad = bad or _check_time(ev.ts, "ts", self.min_time, now + self.max_future)
        if bad:
            return bad
        if isinstance(ev, Purchase):
            return self._check_purchase(ev)
        if isinstance(ev, Usage):
            return _check_amounts(quantity=ev.quantity, duration_s=ev.duration_s)
        if isinstance(ev, Feedback):
            return _check_feedback(ev)
        if isinstance(ev, Profile):
            bad = None
            if ev.signup_date is not None:
                bad = _check_time(ev.signup_date, "signup_date", self.min_time, now + self.max_future)
            if not bad and ev.renewal_date is not None:  # contracts end in the future: up to 50 years
                bad = _check_time(ev.renewal_date, "renewal_date", self.min_time, now + timedelta(days=50 * 366))
            return bad
        return None

    def _check_purchase(self, ev: Purchase) -> Rejection | None:
        bad = _check_amounts(amount=ev.amount, discount=ev.discount)
        if bad:
            return bad
        if ev.currency is not None and ev.currency.upper() != self.currency:
            return Rejection("unsupported_currency", f"currency {ev.currency!r}, expected {self.currency}")
        return None


def _check_time(ts: datetime, field: str, lo: datetime, hi: datetime) -> Rejection | None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        return Rejection("no_timezone", f"`{field}` {ts.isoformat()} has no UTC offset")
    if not lo <= ts <= hi:  # aware comparison never overflows, even at year 1 with a +23:59 offset
        return Rejection(
            "timestamp_out_of_range", f"`{field}` {ts.isoformat()} outside {lo.isoformat()} .. {hi.isoformat()}"
        )
    return None


def _check_amounts(**values: float) -> Rejection | None:
    for name, v in values.items():
        if not math.isfinite(v) or not 0 <= v <= MAX_AMOUNT:
            return Rejection("bad_amount", f"`{name}` is {v!r}; must be finite and in 0..{MAX_AMOUNT:g}")
    return None


def _check_feedback(ev: Feedback) -> Rejection | None:
    rng = _SCORE_RANGES.get(ev.kind)
    if ev.score is None:
        return Rejection("bad_score", f"{ev.kind} feedback needs a score") if rng and ev.kind != "complaint" else None
    if not math.isfinite(ev.score):
        return Rejection("bad_score", f"score is {ev.score!r}")
    if rng and not rng[0] <= ev.score <= rng[1]:
        return Rejection("bad_score", f"{ev.kind} score {ev.score:g} outside {rng[0]:g}..{rng[1]:g}")
    return None


_ENCODER: Final = msgspec.json.Encoder()


def encode(obj: object) -> bytes:
    """JSON bytes of an output struct (segment change, churn risk, dead letter)."""
    return _ENCODER.encode(obj)
