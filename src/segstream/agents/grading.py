"""The worker grades its own scores (issue 19): every customer it scores is a prediction of
what the customer does next, every purchase and use it applies an outcome
(:class:`segstream.models.grading.ChurnGrader`; ``GET /models`` serves the grades).

Each worker grades the customers of its own partitions, in memory: with several workers
each serves its share, and a restarted worker starts grading afresh (docs/QUALITY.md,
"Self-graded scores").
"""

from __future__ import annotations

import threading
from collections.abc import Container, Sequence

from segstream.agents.step import KIND_OF_CODE, Positioned, StepResult
from segstream.models.grading import ChurnGrader, Grades
from segstream.state.keys import CLOCK_GLOBAL


class Grading:
    """Feeds one worker's scores and outcomes to its grader."""

    def __init__(self, horizon_days: float) -> None:
        self.grader = ChurnGrader(horizon_days=horizon_days)
        self.now = 0  # the latest stream clock the grader was advanced to
        # the worker's thread feeds it, the web server's thread reports (GET /models)
        self._lock = threading.Lock()

    def saved(self, result: StepResult, events: Sequence[Positioned], skip: Container[str], now: int = 0) -> None:
        """After a save: ``events`` applied (purchases and uses are outcomes), then the
        customers' new scores (predictions as of the stream clock, or ``now`` when the
        result carries none: the sweep); ``skip``: customers whose save conflicted (they
        are scored again)."""
        with self._lock:
            self._saved(result, events, skip, now)

    def _saved(self, result: StepResult, events: Sequence[Positioned], skip: Container[str], now: int) -> None:
        g = self.grader
        for p in events:
            cid, kind = p.event.customer_id, KIND_OF_CODE.get(p.source[:1])
            if cid in skip:
                continue
            if kind == "purchases":
                g.observe(cid, p.ts_us, round(p.event.amount * 100))  # type: ignore[attr-defined]
            elif kind == "usage":
                g.observe(cid, p.ts_us)
        self.now = max(self.now, result.clock.get(CLOCK_GLOBAL, 0), now)
        for item in result.items:
            o = item.state.outlook
            if o is None or item.customer_id in skip:
                continue
            valued = o.version > 0
            g.record(
                item.customer_id,
                max(self.now, item.state.last_us),
                min(1.0, max(0.0, o.risk_bp / 10_000)),
                o.version,
                o.purchases_milli / 1000 if valued else None,
                float(o.spend_minor) if valued else None,
            )
        if self.now:
            g.advance(self.now)

    def report(self) -> Grades:
        with self._lock:
            return self.grader.report()
