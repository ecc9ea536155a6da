"""Decoding and validation of input events; every rejection names its reason.

Decoding uses msgspec typed decoders (one per topic). Checks a type cannot express —
finite amounts, timestamps with an offset and within a sane range, the currency, score
ranges — follow, so each bad event gets one of :data:`REASONS`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from segstream.streams.schemas import INPUT_SCHEMAS, Event, Feedback, Profile, Purchase, Usage

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)

REASONS: Final = (
    "too_large",  # value longer than max_event_bytes
    "empty",  # no value at all (tombstone)
    "not_utf8",  # bytes are not UTF-8
    "not_json",  # not a JSON document
    "non_finite_number",  # NaN or Infinity literals (not JSON, but some producers write them)
    "missing_field",  # a required field is absent
    "wrong_type",  # a field has the wrong JSON type or shape
    "invalid_value",  # a field breaks its constraint (empty or overlong id, unknown enum value)
    "no_timezone",  # a timestamp without an offset
    "timestamp_out_of_range",  # before min_event_time or too far in the future
    "bad_amount",  # NaN, infinite or negative money or quantity
    "unsupported_currency",  # not the deployment's currency
    "bad_score",  # NPS outside 0-10, CSAT/review outside 1-5, missing score
    "processing_error",  # valid on the wire but the model step failed on it (a bug: see the log)
)

#: Amounts above this (in major units) are rejected as implausible; it also keeps
#: minor-unit integer sums far from float and overflow trouble.
MAX_AMOUNT: Final = 1e12

_SCORE_RANGES: Final = {"nps": (0.0, 10.0), "csat": (1.0, 5.0), "review": (1.0, 5.0)}


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


_CONSTRAINT = re.compile(r"^Expected `\w+` (of length )?[<>]=|^Invalid enum value|^Number out of range")


def _classify_validation(msg: str) -> str:
    if msg.startswith("Object missing required field"):
        return "missing_field"
    if _CONSTRAINT.match(msg):
        return "invalid_value"
    return "wrong_type"


def _diagnose_undecodable(raw: bytes, exc: msgspec.DecodeError) -> Rejection:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Rejection("not_utf8", f"byte {err.start} is not UTF-8")
    try:
        json.loads(text)  # the stdlib accepts NaN/Infinity, msgspec (rightly) does not
    except ValueError:
        return Rejection("not_json", str(exc))
    return Rejection("non_finite_number", "NaN or Infinity is not a JSON number")


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
    """

    def __init__(
        self,
        kind: str,
        *,
        max_bytes: int = 16_384,
        min_time: datetime = datetime(1990, 1, 1, tzinfo=UTC),
        max_future: timedelta = timedelta(days=1),
        currency: str = "USD",
    ) -> None:
        if kind not in INPUT_SCHEMAS:
            raise ValueError(f"unknown event type {kind!r}")
        self.kind = kind
        self.max_bytes = max_bytes
        self.min_time = min_time
        self.max_future = max_future
        self.currency = currency
        self._schema = INPUT_SCHEMAS[kind]
        self._decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(self._schema)

    def decode(self, raw: bytes | None, now: datetime) -> Event | Rejection:
        """The event, or the :class:`Rejection` saying why not. ``now`` is wall-clock time."""
        if raw is None or not raw:
            return Rejection("empty", "message has no value")
        if len(raw) > self.max_bytes:
            return Rejection("too_large", f"{len(raw)} bytes > limit {self.max_bytes}")
        try:
            event = self._decoder.decode(raw)
        except msgspec.ValidationError as exc:
            msg = str(exc)
            return Rejection(_classify_validation(msg), msg)
        except msgspec.DecodeError as exc:
            return _diagnose_undecodable(raw, exc)
        except UnicodeDecodeError as exc:  # invalid UTF-8 inside a JSON string
            return Rejection("not_utf8", f"byte {exc.start} of a string is not UTF-8")
        return self._check(event, now) or event

    def _check(self, ev: Event, now: datetime) -> Rejection | None:
        bad = _check_time(ev.ts, "ts", self.min_time, now + self.max_future)
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
    if not lo <= ts <= hi:
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
        return Rejection("bad_score", f"{ev.kind} feedback needs a score") if rng else None
    if not math.isfinite(ev.score):
        return Rejection("bad_score", f"score is {ev.score!r}")
    if rng and not rng[0] <= ev.score <= rng[1]:
        return Rejection("bad_score", f"{ev.kind} score {ev.score:g} outside {rng[0]:g}..{rng[1]:g}")
    return None


_ENCODER: Final = msgspec.json.Encoder()


def encode(obj: object) -> bytes:
    """JSON bytes of an output struct (segment change, churn risk, dead letter)."""
    return _ENCODER.encode(obj)
