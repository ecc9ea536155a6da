"""The event-time barrier of a catch-up, in Redis: which epoch the workers may apply up to,
which epoch's leader jobs ran, and where each input partition stands.

See docs/PROCESSING.md ("Same events, same results"). One small hash per deployment; the
workers write their partitions' positions, the leader reads them and moves the epoch on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from segstream.state.keys import TOPIC_CODES, Keys

LIVE: Final = -1  # the stream reached the present: no barrier
NOT_STARTED: Final = 0


@dataclass(frozen=True, slots=True)
class Epoch:
    next: int  # events at or after this event time (µs) wait; LIVE: none wait
    done: int  # the boundary whose sweep and snapshots ran (0: none yet)
    fitted: int = 0  # the boundary of the last value fit (0: none yet)
    learned: int = 0  # the boundary of the last cluster pass (0: none yet)


@dataclass(frozen=True, slots=True)
class Position:
    """Where one input partition stands: waiting at an event of ``held_us``, or drained."""

    epoch: int
    held_us: int | None

    def encode(self) -> str:
        return f"{self.epoch}:drained" if self.held_us is None else f"{self.epoch}:held:{self.held_us}"

    @classmethod
    def decode(cls, raw: str) -> Position:
        """
        >>> Position.decode("86400:held:90000"), Position.decode("86400:drained").held_us
        (Position(epoch=86400, held_us=90000), None)
        """
        epoch, kind, *rest = raw.split(":")
        return cls(int(epoch), int(rest[0]) if kind == "held" else None)


def partition_name(topic: str, partition: int) -> str:
    """A partition's field in the barrier hash, e.g. ``purchases/3``."""
    return f"{topic}/{partition}"


def partition_names(topic: Callable[[str], str], partitions: int) -> list[str]:
    """Every input partition the barrier waits for (``topic`` names an input kind's topic).

    >>> partition_names(lambda kind: kind, 1)
    ['purchases/0', 'usage/0', 'feedback/0', 'profiles/0']
    """
    return [partition_name(topic(kind), p) for kind in TOPIC_CODES for p in range(partitions)]


def next_boundary(held_us: int, epoch_us: int) -> int:
    """The first epoch boundary after an event time.

    >>> next_boundary(5, 10), next_boundary(10, 10), next_boundary(0, 10)
    (10, 20, 10)
    """
    return (held_us // epoch_us + 1) * epoch_us


def ready(positions: Mapping[str, Position], partitions: list[str], epoch: int) -> list[int] | None:
    """The held event times when every partition reported for ``epoch``, else None.

    >>> ready({"a/0": Position(10, 12), "a/1": Position(10, None)}, ["a/0", "a/1"], 10)
    [12]
    >>> ready({"a/0": Position(10, 12), "a/1": Position(0, None)}, ["a/0", "a/1"], 10) is None
    True
    """
    held: list[int] = []
    for name in partitions:
        pos = positions.get(name)
        if pos is None or pos.epoch != epoch:
            return None
        if pos.held_us is not None:
            held.append(pos.held_us)
    return held


class Barrier:
    """The barrier's Redis side (one deployment's keys)."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def epoch(self) -> Epoch:
        raw = cast(dict[bytes, bytes], await self.client.hgetall(self.keys.epoch))
        field = {k.decode(): int(v) for k, v in raw.items()}
        return Epoch(
            field.get("next", NOT_STARTED), field.get("done", 0), field.get("fitted", 0), field.get("learned", 0)
        )

    async def set_next(self, boundary: int) -> None:
        await self.client.hset(self.keys.epoch, "next", boundary)

    async def set_done(self, boundary: int, learned: bool = False, fitted: bool = False) -> None:
        """The epoch's jobs ran (and its cluster pass, its value fit, if they were due)."""
        mapping = (
            {"done": boundary} | ({"learned": boundary} if learned else {}) | ({"fitted": boundary} if fitted else {})
        )
        await self.client.hset(self.keys.epoch, mapping=mapping)

    async def positions(self) -> dict[str, Position]:
        raw = cast(dict[bytes, bytes], await self.client.hgetall(self.keys.barrier))
        return {k.decode(): Position.decode(v.decode()) for k, v in raw.items()}

    async def settled(self, partitions: list[str]) -> bool:
        """No barrier any more (live), or every one of ``partitions`` drained and the last
        epoch closed: a catch-up's events are all scored and its snapshots published."""
        ep = await self.epoch()
        if ep.next == LIVE:
            return True
        return ready(await self.positions(), partitions, ep.next) == [] and ep.done == ep.next > 0

    async def report(self, positions: Mapping[str, Position], gone: list[str] | tuple[str, ...] = ()) -> None:
        """Record partitions' positions; forget those in ``gone`` (busy again)."""
        if gone:
            await self.client.hdel(self.keys.barrier, *gone)
        if positions:
            await self.client.hset(self.keys.barrier, mapping={k: p.encode() for k, p in positions.items()})
