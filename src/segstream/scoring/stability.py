"""How stable segment membership is: volatility per dimension and flip-backs (pure).

Volatility of a dimension is ``(adds + drops) / size`` per hour: a move from A to B is one
drop and one add, entering the dimension one add. A flip-back is a move that undoes the
customer's previous move of that dimension (A -> B -> A) within ``window_us`` of event
time (24 event-hours by default); the flip-back rate is their share of all moves.
docs/SEGMENTS.md says which margins keep both low.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping

HOUR_US = 3_600_000_000
_BITS = 16  # bits of a segment-name code in a packed move
_MASK = (1 << _BITS) - 1
_MASK2 = (1 << 2 * _BITS) - 1


class FlipBacks:
    """The latest move of each (customer, dimension), to tell a move that undoes it.

    Bounded: at most ``max_entries`` moves are remembered, the least recently moved
    forgotten first (a worker keeps only its own customers' recent moves; after a restart
    the first moves are not compared with anything).

    >>> fb = FlipBacks(max_entries=2)
    >>> h = HOUR_US
    >>> fb.observe("c1", "rfm", "loyal", "champions", 0), fb.observe("c1", "rfm", "champions", "loyal", 5 * h)
    (False, True)
    >>> fb.observe("c1", "rfm", "loyal", "champions", 40 * h)  # undoes a move of 35 hours ago: not a flip-back
    False
    >>> fb.observe("c2", "rfm", None, "new", 0), fb.observe("c3", "rfm", "lost", "new", 0), len(fb)
    (False, False, 2)
    >>> fb.moves["rfm"], fb.backs["rfm"], fb.rate("rfm")  # entering a dimension is not a move
    (4, 1, 0.25)
    """

    def __init__(self, window_us: int = 24 * HOUR_US, max_entries: int = 200_000) -> None:
        self.window_us = window_us
        self.max_entries = max_entries
        # one str key and one int per move: (dimension, customer) as "<len>:dimensioncustomer"
        # (the length prefix makes it unambiguous whatever the names hold), (time, from, to) packed
        # as time << 2·_BITS | from << _BITS | to over small codes of the segment names. At
        # the bound, 200,000 moves: 38 MB (tracemalloc) where tuples took 63
        self._last: OrderedDict[str, int] = OrderedDict()
        self._codes: dict[str | None, int] = {None: 0}
        self.moves: Counter[str] = Counter()  # per dimension, since start
        self.backs: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._last)

    def observe(self, customer_id: str, dimension: str, old: str | None, new: str | None, t_us: int) -> bool:
        """Record a move; whether it undoes the customer's previous move within the window."""
        if len(self._codes) > _MASK - 2:  # room for this move's two names, or start afresh
            self._last.clear()
            self._codes = {None: 0}
        key = f"{len(dimension)}:{dimension}{customer_id}"
        a, b = self._code(old), self._code(new)
        prev = self._last.pop(key, None)  # undone: the previous move was b -> a
        back = (
            prev is not None
            and (prev & _MASK2) == (b << _BITS | a)
            and 0 <= t_us - (prev >> 2 * _BITS) <= self.window_us
        )
        self._last[key] = t_us << 2 * _BITS | a << _BITS | b
        if len(self._last) > self.max_entries:
            self._last.popitem(last=False)
        if old is not None:
            self.moves[dimension] += 1
            self.backs[dimension] += back
        return back

    def _code(self, segment: str | None) -> int:
        """A small code per segment name (a short list in practice: the catalogue's codes,
        the rules' names, cluster ids). Past 2**16 names the memory starts afresh, as after
        a restart (:meth:`observe`)."""
        code = self._codes.get(segment)
        if code is None:
            code = self._codes[segment] = len(self._codes)
        return code

    def rate(self, dimension: str) -> float:
        """Flip-backs among the moves of a dimension so far (0 without moves)."""
        n = self.moves[dimension]
        return self.backs[dimension] / n if n else 0.0


def volatility(
    flows: Mapping[str, Mapping[tuple[str, str], int]], sizes: Mapping[str, Mapping[str, int]], minutes: int
) -> dict[str, float]:
    """``(adds + drops) / size`` per hour of each dimension over the last ``minutes``, from
    the store's flows (``(from, to) -> moves``, from ``""`` when entering) and the segment
    populations.

    >>> volatility({"rfm": {("loyal", "champions"): 3, ("", "new"): 2}}, {"rfm": {"loyal": 40, "new": 10}}, 30)
    {'rfm': 0.32}
    """
    out: dict[str, float] = {}
    for dim, moves in flows.items():
        size = sum(sizes.get(dim, {}).values())
        changes = sum(n * (2 if old else 1) for (old, _), n in moves.items())
        out[dim] = round(changes / size / (minutes / 60), 6) if size else 0.0
    return out
