"""Dead letters: the envelope of a rejected event (original bytes, reason, source position)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from segstream.streams.codec import Rejection
from segstream.streams.schemas import DeadLetter

#: Kafka's default message limit is 1 MiB and base64 grows bytes by 4/3: keep the
#: envelope under it. Longer values keep their first MAX_KEPT_BYTES and say so.
MAX_KEPT_BYTES: Final = 512 * 1024


def dead_letter(
    rejection: Rejection,
    *,
    topic: str,
    partition: int,
    offset: int,
    kafka_ts_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    now: datetime,
) -> DeadLetter:
    raw = value or b""
    detail = rejection.detail[:500]
    if len(raw) > MAX_KEPT_BYTES:
        detail += f" (value truncated from {len(raw)} to {MAX_KEPT_BYTES} bytes)"
        raw = raw[:MAX_KEPT_BYTES]
    return DeadLetter(
        reason=rejection.reason,
        detail=detail,
        topic=topic,
        partition=partition,
        offset=offset,
        kafka_ts_ms=kafka_ts_ms,
        key=key,
        value=raw,
        rejected_at=now,
    )
