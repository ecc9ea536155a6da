"""The worker and the CLI as a Redis ACL user that may run only segstream's commands
(state/keys.REDIS_COMMANDS) on the deployment's keys: nothing is denied."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice

import redis

from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from segstream.state.keys import REDIS_COMMANDS
from tests.integration.harness import (
    ROOT,
    WorkerProcess,
    applied_total,
    every_record,
    http_url,
    produce_events,
    read_store,
    settings_env,
    wait_until,
)


def test_an_acl_user_with_only_segstreams_commands_runs_the_worker_and_the_cli(
    private_redis: Callable[[str], str],
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    admin_url = private_redis("url")
    admin = redis.Redis.from_url(admin_url)
    prefix = "acl1"
    rules = ["on", ">s3cret-acl-pw", "resetkeys", f"~{prefix}:*", "resetchannels", "-@all"]
    admin.execute_command("ACL", "SETUSER", "segstream", *rules, *(f"+{c}" for c in REDIS_COMMANDS))
    admin.execute_command("ACL", "LOG", "RESET")
    url = admin_url.replace("redis://", "redis://segstream:s3cret-acl-pw@")
    s = make_settings(
        redis_url=url, redis_prefix=prefix, snapshot_interval_s=0.5, cluster_interval_s=0.5,
        value_fit_interval_s=1, sweep_interval_s=0.2,
    )  # fmt: skip
    start_worker(s)
    events = list(islice(Simulator(200, datetime(2026, 9, 1, tzinfo=UTC), seed=3).events(), 5000))
    produce_events(s, events)
    wait_until(lambda: applied_total(s) >= len(events), 120, "every event applied as the ACL user")
    wait_until(lambda: read_store(s, lambda st: st.get_snapshot("value")) is not None, 60, "a value fit")
    cid = events[0].customer_id
    for args in (["status"], ["segments", "rescore"], ["segments", "reload"], ["customer", cid], ["dlq", "list"]):
        proc = subprocess.run([sys.executable, "-m", "segstream", *args], env=settings_env(s),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, (args, proc.stdout[-500:], proc.stderr[-1000:])
    for path in ("/segments", f"/customers/{cid}", "/segments/lifecycle/new/customers", "/api/overview",
                 "/api/flows", "/api/churn/recent", "/ready", "/health"):  # fmt: skip
        with urllib.request.urlopen(http_url(s, path), timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read()) is not None, path
    denied = admin.execute_command("ACL", "LOG")
    assert denied == [], denied
    used = {k.removeprefix("cmdstat_") for k in admin.info("commandstats")} - {"acl|setuser", "acl|log", "info"}
    assert used <= set(REDIS_COMMANDS), used - set(REDIS_COMMANDS)
    documented = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    assert all(f"+{c}" in documented for c in REDIS_COMMANDS), "docs/SECURITY.md lists the ACL's commands"


def test_a_command_the_acl_user_may_not_run_stops_the_worker_in_one_line_and_dead_letters_nothing(
    private_redis: Callable[[str], str],
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    # NOPERM is no event's fault and no retry fixes it: the worker must neither dead-letter
    # the batch (every valid event) nor retry forever, but say what was refused and exit
    admin_url = private_redis("url")
    admin = redis.Redis.from_url(admin_url)
    prefix = "acl2"
    allowed = [c for c in REDIS_COMMANDS if c not in ("evalsha", "eval")]  # the batch's atomic save
    rules = ["on", ">s3cret-acl-pw", "resetkeys", f"~{prefix}:*", "resetchannels", "-@all"]
    admin.execute_command("ACL", "SETUSER", "segstream", *rules, *(f"+{c}" for c in allowed))
    s = make_settings(redis_url=admin_url.replace("redis://", "redis://segstream:s3cret-acl-pw@"), redis_prefix=prefix)
    worker = start_worker(s)
    produce_events(s, list(islice(Simulator(50, datetime(2026, 9, 1, tzinfo=UTC), seed=4).events(), 300)))
    wait_until(lambda: worker.proc.poll() is not None, 120, "the worker to stop on NOPERM")
    assert worker.proc.returncode == 3, worker.log()[-2000:]
    refused = [line for line in worker.log().splitlines() if "Redis refused access" in line]
    assert len(refused) == 1 and "NOPERM" in refused[0] and "docs/SECURITY.md" in refused[0], refused
    assert "Traceback" not in worker.log()
    assert every_record(s, "dlq") == []  # nothing dead-lettered
