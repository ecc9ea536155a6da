"""One input partition's events held past the event-time barrier's boundary (pure).

Behind the barrier (docs/PROCESSING.md, "Same events, same results") a worker applies
only events below the next epoch boundary. A partition whose events go back and forth in
time (a history sorted by customer: every customer's orders from the first to the last)
used to be paused at its first event past the boundary and read again from there at the
next epoch, one customer's step per epoch. Instead, the worker reads on and holds the
events past the boundary here, up to a bound, and applies the rest:

- each customer's events stay in their offset order: once one of a customer's events is
  held, every later one of that customer is held behind it (a customer's state records
  the offset it applied, and skips anything at or before it);
- at the next boundary, each customer's held events below it are released, in order;
- the partition's offsets may be committed only up to its earliest held event, so a
  restart reads the held events again (those applied since are skipped by their
  customers' offsets).

What is held depends only on the partition's events, the boundary and the bound, never
on how the fetches happened to split the partition, so a replay holds the same events on
a fast and on a slow machine.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol


class Record(Protocol):
    offset: int
    value: bytes | None


Probe = Callable[[bytes | None], tuple[int | None, str | None]]  # (event time µs, customer id)


class Holding:
    """The held events of one partition.

    Parameters
    ----------
    probe
        Reads an event's time (µs) and customer id without validating the rest; either is
        None when unreadable (such an event is never held: the codec judges it).
    ahead_us
        An event further than this past the boundary is an outlier: applied at once
        rather than holding its customer for years.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> probe = lambda raw: tuple(int(x) if x.isdigit() else x for x in raw.decode().split())
    >>> h = Holding(probe, ahead_us=1000)
    >>> recs = [R(offset=i, value=v) for i, v in enumerate([b"5 a", b"15 a", b"7 a", b"8 b", b"12 c"])]
    >>> apply, read = h.admit(recs, boundary=10, cap=100)
    >>> [r.offset for r in apply], read, len(h), h.first_offset(), h.earliest()
    ([0, 3], 5, 3, 1, 12)
    >>> [r.offset for r in h.release(20)], len(h), h.first_offset()
    ([1, 2, 4], 0, None)
    """

    def __init__(self, probe: Probe, ahead_us: int) -> None:
        self.probe = probe
        self.ahead_us = ahead_us
        self._by_customer: dict[str, deque[tuple[int | None, Any]]] = {}
        self._heads: list[tuple[int, int, str]] = []  # (time, offset, customer) of each customer's first held event
        self._offsets: list[int] = []  # every held offset (lazily deleted)
        self._released: set[int] = set()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _holds(self, ts: int | None, boundary: int) -> bool:
        """Whether an event at ``ts`` waits for a later boundary (0: none set yet)."""
        return ts is not None and ts >= boundary and (boundary == 0 or ts <= boundary + self.ahead_us)

    def admit(self, records: list[Any], boundary: int, cap: int) -> tuple[list[Any], int]:
        """Split newly read records (in offset order) into those to apply now and those
        held; stop once ``cap`` events are held. Returns the records to apply and how many
        of ``records`` were taken (the rest must be read again later)."""
        apply: list[Any] = []
        for i, rec in enumerate(records):
            if self._count >= cap:
                return apply, i
            ts, cid = self.probe(rec.value)
            queue = self._by_customer.get(cid) if cid is not None else None
            if queue is None and not (cid is not None and self._holds(ts, boundary)):
                apply.append(rec)
                continue
            assert cid is not None
            if queue is None:
                queue = self._by_customer[cid] = deque()
                heapq.heappush(self._heads, (ts or 0, rec.offset, cid))
            queue.append((ts, rec))
            heapq.heappush(self._offsets, rec.offset)
            self._count += 1
        return apply, len(records)

    def release(self, boundary: int) -> list[Any]:
        """The held events no longer waiting at ``boundary``, in offset order: each
        customer's events up to its first one that still waits."""
        out: list[Any] = []
        while self._heads and not self._holds(self._heads[0][0], boundary):
            _, _, cid = heapq.heappop(self._heads)
            queue = self._by_customer[cid]
            while queue and not self._holds(queue[0][0], boundary):
                out.append(queue.popleft()[1])
            if queue:
                ts, rec = queue[0]
                heapq.heappush(self._heads, (ts or 0, rec.offset, cid))
            else:
                del self._by_customer[cid]
        self._forget(r.offset for r in out)
        out.sort(key=lambda r: r.offset)
        return out

    def release_all(self) -> list[Any]:
        """Every held event, in offset order (the stream reached the present)."""
        out = sorted((rec for queue in self._by_customer.values() for _, rec in queue), key=lambda r: r.offset)
        self._by_customer.clear()
        self._heads.clear()
        self._offsets.clear()
        self._released.clear()
        self._count = 0
        return out

    def _forget(self, offsets: Iterable[int]) -> None:
        for off in offsets:
            self._released.add(off)
            self._count -= 1

    def first_offset(self) -> int | None:
        """The earliest held offset: the partition may be committed up to it, no further."""
        while self._offsets and self._offsets[0] in self._released:
            self._released.discard(heapq.heappop(self._offsets))
        return self._offsets[0] if self._offsets else None

    def earliest(self) -> int | None:
        """The earliest event time that can be released next (the leader's next boundary
        follows from it), or None when nothing is held."""
        return self._heads[0][0] if self._heads else None
