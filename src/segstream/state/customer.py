"""The per-customer state record and its compact binary form.

A Redis value is an 8-byte big-endian version followed by the msgpack of
:class:`CustomerState` (array-like, trailing defaults omitted). The save script compares
the version header to the one the worker loaded, so a concurrent writer is detected
without decoding the state in Lua.
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from segstream.models.rfm import PurchaseSummary

_HEADER: Final = struct.Struct(">Q")


class CustomerState(msgspec.Struct, array_like=True, omit_defaults=True):
    """Everything segstream keeps about one customer.

    ``offsets`` maps a source partition (``p3``: purchases partition 3) to the last
    Kafka offset applied, which makes replays after a crash idempotent.
    """

    offsets: dict[str, int] = msgspec.field(default_factory=dict)
    last_event_us: int = 0
    p_first_us: int = 0
    p_last_us: int = 0
    p_count: int = 0
    p_spend_minor: int = 0
    segments: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def purchases(self) -> PurchaseSummary:
        return PurchaseSummary(self.p_first_us, self.p_last_us, self.p_count, self.p_spend_minor)

    def set_purchases(self, s: PurchaseSummary) -> None:
        self.p_first_us, self.p_last_us = s.first_us, s.last_us
        self.p_count, self.p_spend_minor = s.count, s.spend_minor


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
