"""This worker's status, written into Redis every second for the API, the dashboard and
``segstream status`` (state/status.py says what it holds and how readers combine them)."""

from __future__ import annotations

import os
import socket
import time

from segstream.agents.pipeline import Pipeline
from segstream.models.grading import Grades
from segstream.state.status import STATUS_FORGET_S, PartitionLag, WorkerStatus, combine, encode

#: The self-grading report is recomputed at most this often (seconds): it sorts its window.
GRADES_EVERY_S = 5.0


class StatusReporter:
    """Describes this worker (:meth:`status`) and publishes it (:meth:`publish`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        s = pipeline.settings
        self.worker = s.group_instance_id() or f"{socket.gethostname()}-{os.getpid()}"
        self._grades = Grades()
        self._graded_at = -GRADES_EVERY_S

    def status(self, leader: bool = False) -> WorkerStatus:
        p = self.pipeline
        now = time.monotonic()
        if now - self._graded_at >= GRADES_EVERY_S:
            self._grades, self._graded_at = p.grading.report(), now
        state = p.progress.state()
        flips = p.flips
        return WorkerStatus(
            worker=self.worker,
            updated_us=time.time_ns() // 1000,
            leader=leader,
            status=state.status,
            reason=state.reason,
            partitions=state.partitions,
            lag=[PartitionLag(t, n, behind) for (t, n), behind in sorted(dict(p.lag).items())],
            moves={d: n for d, n in list(flips.moves.items()) if n},
            flip_backs={d: n for d, n in list(flips.backs.items()) if n},
            grades=self._grades,
        )

    async def publish(self, leader: bool) -> None:
        """Write this worker's status; remove statuses of workers gone for an hour."""
        self.pipeline.refresh_lag()  # in the worker's loop, beside its consumer
        status = self.status(leader)
        blob = encode(status)
        stored = await self.pipeline.store.put_status(self.worker, blob)
        old = combine(stored, status.updated_us, stale_s=STATUS_FORGET_S).gone
        if old := [w for w in old if w != self.worker]:
            await self.pipeline.store.put_status(self.worker, blob, forget=old)
