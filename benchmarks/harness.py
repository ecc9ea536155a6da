"""Shared pieces of the benchmarks: isolated settings, subprocesses, counters, clean-up.

Not a benchmark itself. Every benchmark that starts servers' clients or processes uses
these so that (1) each run has its own topics, consumer groups and Redis key prefix,
(2) every process it starts is stopped by pid, also on Ctrl-C, SIGTERM or an error, and
(3) its topics and keys are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from segstream.config import Settings, load_settings  # noqa: E402
from segstream.state.store import Store  # noqa: E402


def measured_commit() -> str:
    """The short commit of the code measured, for a result row (run from a worktree, a
    before/after pair names both)."""
    git = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(git, capture_output=True, text=True, cwd=Path.cwd()).stdout.strip()


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit in the main thread, so ``finally`` blocks stop what we started."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def isolated_settings(kind: str, **overrides: Any) -> tuple[str, Settings]:
    """Settings of a fresh deployment: own topics (suffix), consumer group and key prefix."""
    tag = uuid.uuid4().hex[:8]
    # event_epoch_s=0: the per-batch path the earlier runs measured (docs/BENCHMARKS.md); a
    # benchmark of the event-time barrier's catch-up passes its own
    base: dict[str, Any] = dict(
        topic_suffix=f"-{kind}{tag}", app_id=f"{kind}-{tag}", redis_prefix=f"b{tag}", web_enabled=False, event_epoch_s=0
    )
    return tag, load_settings(**(base | overrides))


def env_for(s: Settings, src: Path | None = None) -> dict[str, str]:
    """The environment of a worker subprocess: only these settings, ``src`` first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")} | s.as_env()
    env["PYTHONPATH"] = str(src or ROOT / "src")
    env["SEGSTREAM_LOG_LEVEL"] = "warn"
    return env


def rss_peak_mb(pid: int) -> float:
    """Peak resident set size of a live process (VmHWM), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def self_rss_peak_mb() -> float:
    return rss_peak_mb(os.getpid())


def start(cmd: list[str], env: dict[str, str], log_name: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a process logging to .cache/<log_name>; stop it with :func:`stop`."""
    CACHE.mkdir(exist_ok=True)
    log = CACHE / log_name
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=CACHE)
    return proc, log


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 30.0) -> None:
    """Terminate one process we started (by its pid), kill it if it does not end in ``grace`` s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Counters:
    """A deployment's counters read through segstream's own Store (whatever its key layout)."""

    def __init__(self, s: Settings) -> None:
        # a bare loop, not asyncio.Runner: the Runner turns Ctrl-C into a task cancellation,
        # which a Redis call in flight may swallow, and the benchmark would go on
        self._loop = asyncio.new_event_loop()
        self._store = Store.from_settings(s)

    def stats(self) -> dict[str, int]:
        return self._loop.run_until_complete(self._store.stats())

    def customers(self) -> list[str]:
        """Every customer id (SCAN)."""
        return list(self._loop.run_until_complete(self._store.scan_customers()))

    def applied(self) -> int:
        """Input events the workers applied (``events:*`` counters)."""
        return sum(v for k, v in self.stats().items() if k.startswith("events:"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._store.close())
        self._loop.close()


def wait_applied(
    read: Callable[[], int], total: int, timeout: float, alive: Callable[[], bool], what: str
) -> list[tuple[float, int]]:
    """Poll ``read()`` every 50 ms until it reaches ``total``; the (time, count) samples.

    Raises SystemExit when ``timeout`` passes or ``alive()`` turns false first.
    """
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    while True:
        n = read()
        now = time.perf_counter()
        samples.append((now, n))
        if n >= total:
            return samples
        if now - t0 > timeout or not alive():
            raise SystemExit(f"{what} did not finish: {n}/{total} applied")
        time.sleep(0.05)


def sustained_rate(samples: list[tuple[float, int]], total: int) -> tuple[float, float]:
    """Events/s between 10% and 90% of ``total`` applied, and the wall time from the first one."""
    lo = next(t for t, n in samples if n >= 0.1 * total)
    hi = next(t for t, n in samples if n >= 0.9 * total)
    first = next(t for t, n in samples if n > 0)
    return (0.8 * total / (hi - lo) if hi > lo else float("nan")), samples[-1][0] - first


def delete_prefix(url: str, prefix: str) -> int:
    """Unlink every key under ``prefix:`` (our own keys only; never FLUSHDB)."""
    r = redis.Redis.from_url(url)
    keys = list(r.scan_iter(match=f"{prefix}:*", count=5000))
    for i in range(0, len(keys), 5000):
        r.unlink(*keys[i : i + 5000])
    r.close()
    return len(keys)


def delete_topics(s: Settings, tag: str) -> int:
    """Delete the run's topics: every topic whose name contains its tag (suffix or app id)."""
    from segstream.streams.topics import admin_client

    admin = admin_client(s)
    try:
        mine = [t for t in admin.list_topics() if tag in t]
        if mine:
            admin.delete_topics(mine, timeout_ms=30_000)
        return len(mine)
    finally:
        admin.close()


def create_topic(s: Settings, name: str, partitions: int) -> None:
    """One extra topic (echo, naive agent output) next to segstream's own."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from segstream.streams.topics import admin_client

    admin = admin_client(s)
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(name, partitions, s.replication_factor)])
    finally:
        admin.close()


def group_stable(s: Settings, group: str) -> bool:
    """Whether a consumer group is Stable (members joined, partitions assigned)."""
    from segstream.streams.topics import admin_client

    admin = admin_client(s)
    try:
        return any(g["group_id"] == group and g["group_state"] == "Stable" for g in admin.list_groups())
    finally:
        admin.close()


def delete_groups(s: Settings, tag: str) -> int:
    """Delete the run's (empty) consumer groups: every group id containing its tag."""
    from segstream.streams.topics import admin_client

    admin = admin_client(s)
    try:
        mine = [g["group_id"] for g in admin.list_groups() if tag in g["group_id"]]
        if mine:
            admin.delete_groups(mine)
        return len(mine)
    finally:
        admin.close()


@contextlib.contextmanager
def cleaned_up(s: Settings, tag: str) -> Iterator[None]:
    """Delete the run's topics, consumer groups, keys and Faust data folders when the block ends."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            delete_topics(s, tag)
        with contextlib.suppress(Exception):
            delete_groups(s, tag)
        with contextlib.suppress(Exception):
            delete_prefix(s.redis_url, s.redis_prefix)
        # the Faust workers' local data folders (workers run in .cache with data_dir .cache/faust);
        # not a recursive glob: it would walk Kafka's data folder while the broker changes it
        for d in [*CACHE.glob(f"faust/*{tag}*-data"), *CACHE.glob(f".cache/faust/*{tag}*-data")]:
            shutil.rmtree(d, ignore_errors=True)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table, first column left-aligned, others right-aligned."""
    cols = list(zip(header, *rows, strict=True))
    widths = [max(len(str(c)) for c in col) for col in cols]
    out = []
    for i, row in enumerate([header, *rows]):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [str(c).ljust(w) if j == 0 else str(c).rjust(w) for j, (c, w) in pairs]
        out.append("  ".join(cells))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
