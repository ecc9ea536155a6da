"""`make demo` (infra/demo.sh) as a newcomer runs it: a year of history backfilled, a living
population on the dashboard's API, a killed worker started again, and Ctrl-C that stops
everything the demo started. Real Kafka and Redis (the suite's: the demo uses servers that
already run and leaves them running), its own topics, group, key prefix, port and folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segstream.config import Settings
from tests.integration.harness import ROOT, free_port, settings_env, wait_until


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


def children(pid: int) -> dict[int, str]:
    """The direct children of a process, with their command lines."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):  # gone meanwhile
                out[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return out


def test_the_demo_backfills_a_living_population_restarts_a_killed_worker_and_stops_on_ctrl_c(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    s = make_settings(api_port=free_port())
    port = s.web_port
    env = settings_env(s) | {"DEMO_CUSTOMERS": "300", "DEMO_DAYS": "365", "DEMO_STATE_DIR": str(tmp_path / "demo")}
    out = tmp_path / "demo.out"
    with out.open("wb") as fh:  # a session of its own: whatever is left of it can be found and killed
        # Ctrl-C as a terminal gives it: a shell that started this run in the background (no
        # job control) leaves SIGINT ignored, and bash cannot trap a signal ignored on entry
        demo = subprocess.Popen(["bash", str(ROOT / "infra" / "demo.sh")], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:

        def said(text: str) -> bool:
            assert demo.poll() is None, out.read_text(errors="replace")[-3000:]
            return text in out.read_text(errors="replace")

        wait_until(lambda: said("demo: backfill done"), 240, "the backfill", every=0.5)
        status, seg = get(s.api_port, "/segments")
        assert status == 200, status
        stages = set(seg["segments"]["lifecycle"])
        assert {"new", "active", "at_risk", "churned"} <= stages, stages
        status, churn = get(s.api_port, "/api/churn/recent")
        assert status == 200 and any(e["level"] == "high" for e in churn["events"]), churn
        status, flows = get(s.api_port, "/api/flows?minutes=15")
        assert status == 200 and flows["flows"].get("lifecycle"), flows
        # the profile API, its own process, serves all of it: a customer's document and the dashboard
        status, overview = get(s.api_port, "/api/overview")
        assert status == 200 and overview["processing"]["status"] == "ready" and overview["workers"], overview
        status, doc = get(s.api_port, "/customers/c0000001")
        assert status == 200 and doc["freshness"]["read_from"] == "primary" and doc["segments"], doc
        assert any("segstream api" in cmd for cmd in children(demo.pid).values()), children(demo.pid)

        # the worker's command line, or the title Faust gives its process when setproctitle is installed
        names = ("segstream worker", "[Faust:Worker]")
        workers = [pid for pid, cmd in children(demo.pid).items() if any(n in cmd for n in names)]
        assert len(workers) == 1, children(demo.pid)
        os.kill(workers[0], signal.SIGKILL)
        wait_until(lambda: said("the worker exited (code 137); starting it again"), 30, "the restart line")
        wait_until(lambda: get(port, "/ready")[0] == 200, 60, "the restarted worker to be ready")

        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(60) == 0
        text = out.read_text(errors="replace")
        assert "demo: stopped." in text and "the worker stopped; see" not in text, text[-2000:]
        assert get(port, "/health")[0] == 0, "the worker still answers after Ctrl-C"
        with pytest.raises(ProcessLookupError):  # nothing of the demo is left running
            os.killpg(demo.pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(10)
