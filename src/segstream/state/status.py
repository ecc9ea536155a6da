"""What each worker tells the API and the CLI about itself: the read-only worker status.

Every worker writes its :class:`WorkerStatus` into Redis every :data:`STATUS_EVERY_S`
(``{p}:workers``, one field per worker, JSON): whether it is processing and why not, the lag
of its partitions, the segment moves and flip-backs it saw, and how its own scores graded.
Whatever serves the dashboard and the operators' views (the standalone API, the worker's own
web server, ``segstream status``) reads them back with :func:`combine`, so no reader needs
the worker's memory, and with several workers the views add up all of them.

A status older than :data:`STATUS_STALE_S` is a worker that stopped (or lost Redis): it is
listed as gone, and its lag and counts no longer count. A writer removes statuses older than
:data:`STATUS_FORGET_S`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Final, NamedTuple

import msgspec

from segstream.models.grading import Grades

#: Seconds between two statuses of a worker.
STATUS_EVERY_S: Final = 1.0
#: A status older than this (seconds) is a worker that is gone.
STATUS_STALE_S: Final = 10.0
#: A writer removes statuses older than this (seconds).
STATUS_FORGET_S: Final = 3600.0

#: Processing states, the most telling first: with several workers the view shows the first
#: one any of them is in.
SEVERITY: Final = ("stalled", "rebalancing", "standby", "ready")


class State(NamedTuple):
    status: str  # ready | rebalancing | standby | stalled
    reason: str
    partitions: int

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class PartitionLag(msgspec.Struct, array_like=True, frozen=True):
    """Messages behind in one input partition, as its worker last saw them."""

    topic: str
    partition: int
    behind: int


class WorkerStatus(msgspec.Struct, kw_only=True, frozen=True):
    """One worker, as it last described itself (wall time ``updated_us``)."""

    worker: str
    updated_us: int
    leader: bool = False
    status: str = "rebalancing"  # ready | rebalancing | standby | stalled (agents/progress.py)
    reason: str = ""
    partitions: int = 0
    lag: list[PartitionLag] = []
    moves: dict[str, int] = {}  # segment moves per dimension since the worker started
    flip_backs: dict[str, int] = {}  # ... of which A -> B -> A within 24 event-hours
    grades: Grades = msgspec.field(default_factory=Grades)


class Workers(msgspec.Struct, frozen=True):
    """Every worker's status, the live ones (newest first) apart from the gone ones."""

    live: list[WorkerStatus]
    gone: list[str]

    @property
    def processing(self) -> dict[str, str]:
        """The most telling state any live worker is in, with its reason (who says it, when
        there are several).

        >>> w = [WorkerStatus(worker="a", updated_us=1, status="ready"),
        ...      WorkerStatus(worker="b", updated_us=1, status="stalled", reason="Redis away")]
        >>> Workers(w, []).processing
        {'status': 'stalled', 'reason': 'b: Redis away'}
        >>> Workers([], ["a"]).processing["status"]
        'no_worker'
        """
        if not self.live:
            gone = f" (gone: {', '.join(self.gone)})" if self.gone else ""
            return {"status": "no_worker", "reason": f"no worker has reported in the last {STATUS_STALE_S:g} s{gone}"}
        worst = min(self.live, key=lambda w: (_rank(w.status), w.worker))
        reason = f"{worst.worker}: {worst.reason}" if len(self.live) > 1 and worst.reason else worst.reason
        return {"status": worst.status, "reason": reason}

    @property
    def lag(self) -> dict[str, dict[str, int]]:
        """Messages behind per topic and partition; a partition two workers report (during a
        rebalance) counts as its latest report says.

        >>> a = WorkerStatus(worker="a", updated_us=2, partitions=1, lag=[PartitionLag("t", 0, 5)])
        >>> b = WorkerStatus(worker="b", updated_us=1, lag=[PartitionLag("t", 0, 9), PartitionLag("t", 1, 3)])
        >>> Workers([a, b], []).lag, Workers([a, b], []).lag_total
        ({'t': {'0': 5, '1': 3}}, 8)
        """
        out: dict[str, dict[str, int]] = {}
        for w in self.live:  # newest first: the first report of a partition wins
            for p in w.lag:
                out.setdefault(p.topic, {}).setdefault(str(p.partition), p.behind)
        return {t: dict(sorted(ps.items(), key=lambda kv: int(kv[0]))) for t, ps in sorted(out.items())}

    @property
    def lag_total(self) -> int | None:
        """All messages behind; None while no live worker holds a partition (unknown, not 0)."""
        if not any(w.partitions for w in self.live):
            return None
        return sum(n for parts in self.lag.values() for n in parts.values())

    def moves(self) -> tuple[Counter[str], Counter[str]]:
        """Segment moves and flip-backs per dimension, summed over the live workers."""
        moves: Counter[str] = Counter()
        backs: Counter[str] = Counter()
        for w in self.live:
            moves.update(w.moves)
            backs.update(w.flip_backs)
        return moves, backs

    @property
    def grades(self) -> Grades | None:
        """The grades of the live worker that graded the most (each worker grades its own
        customers: several workers' grades are shown each by :attr:`grades_by_worker`)."""
        if not self.live:
            return None
        return max(self.live, key=lambda w: (_graded(w.grades), w.worker)).grades

    @property
    def grades_by_worker(self) -> dict[str, Grades]:
        return {w.worker: w.grades for w in sorted(self.live, key=lambda w: w.worker)}


def _rank(status: str) -> int:
    return SEVERITY.index(status) if status in SEVERITY else 0  # an unknown state is worth a look


def _graded(g: Grades) -> int:
    return sum(v.churn.graded_total for v in g.versions) + g.pending


_decoder = msgspec.json.Decoder(WorkerStatus)


def encode(status: WorkerStatus) -> bytes:
    return msgspec.json.encode(status)


def combine(blobs: Mapping[str, bytes], now_us: int, stale_s: float = STATUS_STALE_S) -> Workers:
    """The workers from their stored statuses (worker id -> JSON), as of wall time ``now_us``.
    A status that does not decode (another release's) is counted as gone, not trusted.

    >>> blobs = {"a": encode(WorkerStatus(worker="a", updated_us=10_000_000, status="ready")),
    ...          "b": encode(WorkerStatus(worker="b", updated_us=1_000_000)), "c": b"{"}
    >>> w = combine(blobs, now_us=12_000_000)
    >>> [s.worker for s in w.live], w.gone
    (['a'], ['b', 'c'])
    """
    live: list[WorkerStatus] = []
    gone: list[str] = []
    limit = now_us - round(stale_s * 1e6)
    for worker, blob in sorted(blobs.items()):
        try:
            status = _decoder.decode(blob)
        except msgspec.DecodeError:
            gone.append(worker)
            continue
        if status.updated_us >= limit:
            live.append(status)
        else:
            gone.append(worker)
    live.sort(key=lambda s: -s.updated_us)
    return Workers(live, gone)


def group_verdict(group: str, members: int, behind: int, applied: int, seconds: float) -> State:
    """What ``segstream status`` says of a consumer group, seen from outside: its broker-side
    ``group`` state and members, the events ``behind`` its committed offsets, and the events
    ``applied`` in the last ``seconds``.

    >>> group_verdict("Stable", 2, 500, 0, 1.0).status
    'stalled'
    >>> group_verdict("PreparingRebalance", 2, 500, 0, 1.0).reason
    'the consumer group is moving partitions between its 2 members'
    """
    if group in ("PreparingRebalance", "CompletingRebalance"):
        return State("rebalancing", f"the consumer group is moving partitions between its {members} members", 0)
    if not members:
        if behind:
            return State("stalled", f"{behind:,} events wait and no worker is in the consumer group", 0)
        return State("idle", "no worker is in the consumer group, and nothing waits", 0)
    if behind and not applied:
        return State("stalled", f"{behind:,} events wait and none was applied in {seconds:g} s", 0)
    return State("ready", "processing" if applied else "nothing waits", 0)
