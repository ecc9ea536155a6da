"""The per-customer state record and its compact binary form.

A Redis value is an 8-byte big-endian version followed by the msgpack of
:class:`CustomerState` (array-like: every field is written, defaults included, as msgspec
leaves nothing out of an array; tests/unit/state/test_golden.py pins the bytes). The save
script compares the version header to the one the worker loaded, so a concurrent writer is detected
without decoding the state in Lua.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

import msgspec

from segstream.models.mix import PurchaseMix
from segstream.models.profile import ProfileState
from segstream.models.rfm import PurchaseSummary
from segstream.models.satisfaction import FeedbackState
from segstream.models.usage import UsageState

_HEADER: Final = struct.Struct(">Q")

#: How many recent event ids per input topic a customer remembers, to drop the duplicates
#: a retrying producer writes at new offsets (right after the original, for that customer).
RECENT_IDS: Final = 2


class Outlook(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True, gc=False):
    """Value and churn risk of a customer as last scored, in compact integers.

    ``drivers_bp`` holds each churn driver's share of the score in basis points, in the
    order of :data:`segstream.models.churn.DRIVERS`.
    """

    version: int = 0  # value snapshot scored with (0: none yet)
    p_alive_bp: int = 0  # P(alive) x 10,000
    purchases_milli: int = 0  # expected purchases in the horizon x 1,000
    spend_minor: int = 0  # expected spend per purchase
    clv_minor: int = 0  # 12-month discounted CLV
    risk_bp: int = 0  # churn risk x 10,000
    high: bool = False  # in high churn risk (hysteresis)
    changed_us: int = 0  # event time the risk level last changed
    drivers_bp: list[int] = msgspec.field(default_factory=list)


class CustomerState(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """Everything segstream keeps about one customer.

    ``offsets`` maps a source partition (``p3``: purchases partition 3) to the last
    Kafka offset applied, which makes replays after a crash idempotent; ``recent`` holds,
    per input topic (``p``, ``u``, ``f``, ``r``), 64-bit hashes of the last
    :data:`RECENT_IDS` event ids, which drops the duplicates a retrying producer writes at
    new offsets. Per topic, because the topics are consumed independently: a ring shared
    by all would be flushed by a burst of usage events between a purchase and its retry.
    """

    offsets: dict[str, int] = msgspec.field(default_factory=dict)
    recent: dict[str, list[int]] = msgspec.field(default_factory=dict)
    first_us: int = 0  # first event of any kind (event time)
    last_us: int = 0  # last event of any kind
    purchases: PurchaseSummary | None = None
    usage: UsageState | None = None
    feedback: FeedbackState | None = None
    profile: ProfileState | None = None
    reactivated_us: int = 0  # when the customer came back after churning (lifecycle)
    rfm_score: int = 0  # R*100 + F*10 + M of the last RFM scoring (0: not scored)
    segments: dict[str, str] = msgspec.field(default_factory=dict)
    outlook: Outlook | None = None
    mix: PurchaseMix | None = None  # discounts, channels, categories (None: no purchase named any)

    def seen(self, topic: str, event_id: str) -> bool:
        return id_hash(event_id) in self.recent.get(topic, ())

    def remember(self, topic: str, event_id: str, ts_us: int) -> None:
        self.remember_hash(topic, id_hash(event_id), ts_us)

    def remember_hash(self, topic: str, h: int, ts_us: int) -> None:
        ring = self.recent.setdefault(topic, [])
        ring.append(h)
        del ring[:-RECENT_IDS]
        self.first_us = min(self.first_us, ts_us) if self.first_us else ts_us
        self.last_us = max(self.last_us, ts_us)


def id_hash(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest(), "big")


_ENC: Final = msgspec.msgpack.Encoder()
_DEC: Final = msgspec.msgpack.Decoder(CustomerState)


def pack(version: int, state: CustomerState) -> bytes:
    return _HEADER.pack(version) + _ENC.encode(state)


def header(version: int) -> bytes:
    """The version header as stored; a missing customer has the empty header."""
    return _HEADER.pack(version) if version else b""


def unpack(blob: bytes | None) -> tuple[int, CustomerState]:
    """(version, state); a missing key is version 0 and an empty state."""
    if not blob:
        return 0, CustomerState()
    (version,) = _HEADER.unpack_from(blob)
    return version, _DEC.decode(blob[_HEADER.size :])
