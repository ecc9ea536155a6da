"""The scoring clock: which activity partitions are being consumed, and the time a silent
customer can be scored at without missing events of a lagging input (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from segstream.state.keys import CLOCK_GLOBAL
from segstream.streams import kinds

#: Inputs whose silence means inactivity (lifecycle, churn): purchases and usage.
ACTIVITY_TOPICS = kinds.ACTIVITY_CODES


def active_clocks(clocks: Mapping[str, int], wall_now_ms: int, idle_ms: int) -> dict[str, int]:
    """The clocks of the activity partitions (purchases ``p*``, usage ``u*``) being consumed.

    A partition whose clock moved within the last ``idle_ms`` of wall time (``w{field}``
    holds when, in ms) is being consumed: every event of it up to its clock has been
    applied, and none after. One that did not move is idle and bounds nothing.

    >>> clocks = {"global": 100, "p0": 100, "u1": 60, "u2": 20, "f0": 5, "wp0": 9_000, "wu1": 9_500, "wu2": 1_000}
    >>> active_clocks(clocks, wall_now_ms=10_000, idle_ms=2_000)
    {'p0': 100, 'u1': 60}
    """
    floor = wall_now_ms - idle_ms
    return {
        f: v for f, v in clocks.items() if f[0] in ACTIVITY_TOPICS and "#" not in f and clocks.get("w" + f, 0) >= floor
    }


def scoring_clock(clocks: Mapping[str, int], wall_now_ms: int, idle_ms: int) -> int:
    """The clock the due-time sweep scores at: the low watermark of the activity partitions
    being consumed (:func:`active_clocks`), or the global clock when all are idle.

    While one input is consumed behind the others (a backlog replayed through separate
    agents), no silent customer is then scored before its events have been applied; live,
    the partitions are seconds apart and this is the global clock.

    >>> clocks = {"global": 100, "p0": 100, "u1": 60, "u2": 20, "wp0": 9_000, "wu1": 9_500, "wu2": 1_000}
    >>> scoring_clock(clocks, wall_now_ms=10_000, idle_ms=2_000), scoring_clock(clocks, 20_000, 2_000)
    (60, 100)
    """
    return min([clocks.get(CLOCK_GLOBAL, 0), *active_clocks(clocks, wall_now_ms, idle_ms).values()])
