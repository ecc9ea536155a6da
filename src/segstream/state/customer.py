"""The per-customer state record and its compact binary form.

A Redis value is an 8-byte big-endian version followed by the state. The save script
compares the version header to the one the worker loaded, so a concurrent writer is
detected without decoding the state in Lua. The state is stored in one of two formats,
told apart by its first byte:

- **format 3** (written since 2026-12-03): byte ``0x01``, then a zstd frame (magicless, no
  checksum, no dictionary id) of the msgpack below, compressed at level 3 with the
  shipped dictionary number 1 (``state/dicts/customer-1.zdict``, trained by
  ``infra/train_state_dictionary.py``). About 40% fewer value bytes than format 2, for ~5 µs
  more to write and ~2 µs more to read a record (docs/BENCHMARKS.md). A record that would
  not get smaller is written in format 2 (``SEGSTREAM_STATE_COMPRESSION=false``: always).
- **formats 1 and 2**: the msgpack of :class:`CustomerState` itself (array-like: every
  field is written, defaults included; format 2 has the parts added at the end by issue
  18, format 1 does not). Its first byte is a msgpack array header (``0x90``-``0x9f``,
  ``0xdc``), never ``0x01``. Records of earlier releases are read as they are and rewritten
  in format 3 when their customer next changes.

tests/unit/state/test_golden.py pins the msgpack bytes, reads fixtures of every format and
checks that format 3 is the compressed format-2 msgpack.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from importlib import resources
from typing import Final

import msgspec
import zstandard

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
    cluster_rebuilt: int = 0  # the cluster snapshot's ``rebuilt`` when the cluster was last assigned

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

#: First byte of a format-3 state: a zstd frame made with dictionary number 1.
ZSTD_DICT_1: Final = 0x01
_PARAMS: Final = zstandard.ZstdCompressionParameters.from_level(
    3, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_content_size=1, write_checksum=0, write_dict_id=0
)


class _Codecs(threading.local):
    """A zstd compressor and decompressor per thread (neither may be used by two at once),
    with dictionary number 1, read from the package on a thread's first record."""

    pair: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = None

    def get(self) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
        if self.pair is None:
            data = resources.files("segstream.state").joinpath("dicts/customer-1.zdict").read_bytes()
            d = zstandard.ZstdCompressionDict(data)
            self.pair = (
                zstandard.ZstdCompressor(dict_data=d, compression_params=_PARAMS),
                zstandard.ZstdDecompressor(dict_data=d, format=zstandard.FORMAT_ZSTD1_MAGICLESS),
            )
        return self.pair


_ZSTD: Final = _Codecs()


def raw(state: CustomerState) -> bytes:
    """The msgpack of a state (format 2: what format 3 compresses)."""
    return _ENC.encode(state)


def pack(version: int, state: CustomerState, compress: bool = True) -> bytes:
    """The stored value: version header and the state in format 3 (``compress=False``: format 2)."""
    body = _ENC.encode(state)
    if compress:
        small = _ZSTD.get()[0].compress(body)
        if len(small) + 1 < len(body):
            return _HEADER.pack(version) + bytes((ZSTD_DICT_1,)) + small
    return _HEADER.pack(version) + body


def header(version: int) -> bytes:
    """The version header as stored; a missing customer has the empty header."""
    return _HEADER.pack(version) if version else b""


def unpack(blob: bytes | None) -> tuple[int, CustomerState]:
    """(version, state); a missing key is version 0 and an empty state."""
    if not blob:
        return 0, CustomerState()
    (version,) = _HEADER.unpack_from(blob)
    body = memoryview(blob)[_HEADER.size :]
    if body and body[0] == ZSTD_DICT_1:
        return version, _DEC.decode(_ZSTD.get()[1].decompress(body[1:]))
    return version, _DEC.decode(body)
