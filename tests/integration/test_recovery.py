"""Recovery in seconds, and a worker that says when it is not processing.

A worker killed with SIGKILL and started again takes its partitions back at once (static
group membership), and ``/ready``, the dashboard's overview and ``segstream status`` say
"rebalancing" or "stalled" rather than show a reassuring zero lag. Real Kafka, real Redis,
real worker processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from tests.integration.harness import WorkerProcess, applied_total, http_url, produce_events, settings_env, wait_until

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SESSION_S = 80.0  # the killed member keeps its place this long: a new member would wait for it


def get(s: Settings, path: str, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(http_url(s, path))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, None


def test_a_worker_killed_and_restarted_takes_its_partitions_back_before_its_old_session_ends(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    # with dynamic membership the restarted worker is a new member, and each group waits
    # for the killed one's session to expire (SESSION_S after its last heartbeat) before it
    # hands out partitions; with static membership (the default: host name and web port)
    # it takes the killed member's place at once
    s = make_settings(session_timeout_s=SESSION_S)
    assert s.group_instance_id() is not None
    events = list(islice(Simulator(300, T0, seed=31).events(), 6_000))
    first = start_worker(s, "first")
    produce_events(s, events[:3_000])
    wait_until(lambda: applied_total(s) >= 3_000, 120, "the first half applied")
    first.kill()
    killed = time.monotonic()
    start_worker(s, "restarted", ready=False)
    produce_events(s, events[3_000:])
    seen: set[str] = set()

    def resumed() -> bool:
        status, body = get(s, "/ready")
        if body:
            seen.add(body["status"])
        return status == 200 and applied_total(s) == len(events)

    # SESSION_S - 20 s: well before a new member could have been given anything
    wait_until(resumed, SESSION_S - 20, "the restarted worker to apply the second half", every=0.05)
    assert time.monotonic() - killed < SESSION_S
    assert seen <= {"rebalancing", "ready"}, seen


def test_ready_overview_and_status_say_stalled_while_batches_hang(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    # the first batch holds for 60 s (a test knob), longer than this test runs: events wait,
    # nothing is applied for longer than stall_after_s, and the worker must say so instead of
    # showing a lag of zero
    s = make_settings(slow_batch_s=60.0, stall_after_s=2.0, batch_size=50, api_token="t0ken-for-tests")
    worker = start_worker(s)
    wait_until(lambda: get(s, "/ready")[0] == 200, 60, "the worker to be ready (nothing to do yet)")
    produce_events(s, list(islice(Simulator(200, T0, seed=32).events(), 2_000)))
    wait_until(lambda: get(s, "/ready")[1].get("status") == "stalled", 60, "/ready to say stalled")
    status, body = get(s, "/ready")
    assert status == 503 and "none was applied for" in body["reason"], body
    # the API knows it from the status the worker writes every second
    wait_until(lambda: get(s, "/api/overview")[1]["processing"]["status"] == "stalled", 10, "the overview: stalled")
    status, overview = get(s, "/api/overview", token="t0ken-for-tests")
    assert status == 200 and overview["processing"]["status"] == "stalled", overview
    assert "none was applied for" in overview["processing"]["reason"], overview
    out = subprocess.run([sys.executable, "-m", "segstream", "status", "--interval", "1"],
                         env=settings_env(s), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "stalled:" in out.stdout and "events wait and none was applied in 1 s" in out.stdout, out.stdout
    assert worker.proc.poll() is None


def test_status_says_stalled_when_events_wait_and_no_worker_is_in_the_group(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings(instance_id="")  # a dynamic member leaves the group when it stops
    worker = start_worker(s)
    produce_events(s, list(islice(Simulator(50, T0, seed=33).events(), 200)))
    wait_until(lambda: applied_total(s) == 200, 120, "the events applied")
    worker.stop()
    produce_events(s, list(islice(Simulator(50, T0, seed=34).events(), 100)))
    out = subprocess.run([sys.executable, "-m", "segstream", "status", "--interval", "0.5"],
                         env=settings_env(s), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "stalled: 100 events wait and no worker is in the consumer group" in out.stdout, out.stdout
    # a re-score nobody can serve says so at once, in one line, not after its timeout
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "segstream", "segments", "rescore", "--timeout", "120"],
                         env=settings_env(s), capture_output=True, text=True, timeout=150)  # fmt: skip
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1, (out.stdout, out.stderr)
    assert "no worker is in consumer group" in out.stderr and time.monotonic() - started < 60
