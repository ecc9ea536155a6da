"""Whether this worker is processing, and if not, why: what ``/ready``, the dashboard and the
operators see instead of a reassuring zero lag.

The batch consumer (agents/ingest.py) tells it when the consumer group moves partitions and
when work is done; the web server's thread reads :meth:`Progress.state`. The states:

- ``rebalancing``: this worker has no partitions yet, or the group is moving them;
- ``standby``: the group gave this worker no partitions (more workers than partitions);
- ``stalled``: events wait (or a batch is in flight) and none was applied for ``stall_after_s``;
- ``ready``: partitions assigned and work flowing, or nothing to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from segstream.state.status import State


@dataclass
class Progress:
    """The consumer's progress, from one writer (the worker's loop) to any reader.

    >>> now = [0.0]
    >>> p = Progress(stall_after_s=30, clock=lambda: now[0])
    >>> p.state().status
    'rebalancing'
    >>> p.assigned(4); p.worked(); p.behind = 120; p.state().status
    'ready'
    >>> now[0] = 39.0; p.state()
    State(status='stalled', reason='120 events wait and none was applied for 39 s', partitions=4)
    """

    stall_after_s: float
    clock: Callable[[], float] = time.monotonic
    partitions: int | None = None  # None: no assignment yet, or one being changed
    behind: int = 0  # events waiting in this worker's partitions, as last seen
    waiting_for: str = ""  # what a batch in flight waits for (Redis), or the barrier's leader
    in_flight: bool = False  # a batch is being processed
    _since: float = field(default=0.0, init=False)  # last time work was done or there was none

    def __post_init__(self) -> None:
        self._since = self.clock()

    def revoked(self) -> None:
        """The group takes partitions away (a rebalance starts)."""
        self.partitions = None

    def assigned(self, n: int) -> None:
        """The group gave this worker ``n`` partitions (a rebalance ended)."""
        self.partitions = n
        self._since = self.clock()

    def started(self) -> None:
        """A batch is being processed."""
        self.in_flight = True

    def worked(self) -> None:
        """A batch was applied, or there was nothing to apply."""
        self._since = self.clock()
        self.waiting_for = ""
        self.in_flight = False

    def state(self) -> State:
        if self.partitions is None:
            return State("rebalancing", "the consumer group is assigning partitions", 0)
        if not self.partitions:
            return State("standby", "the consumer group gave this worker no partitions", 0)
        idle = self.clock() - self._since
        if idle >= self.stall_after_s and (self.behind or self.waiting_for or self.in_flight):
            what = f"waiting for {self.waiting_for}; " if self.waiting_for else ""
            waiting = f"{self.behind:,} events wait" if self.behind else "a batch is in flight"
            return State("stalled", f"{what}{waiting} and none was applied for {idle:.0f} s", self.partitions)
        return State("ready", "processing", self.partitions)
