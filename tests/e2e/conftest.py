"""End-to-end fixtures: a real worker fed by the simulator, for the browser tests.

Uses the integration tests' factories (real Kafka and Redis, own topics and key prefix).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from segstream.config import Settings
from tests.integration.conftest import base_settings, make_settings, start_worker  # noqa: F401 - fixtures
from tests.integration.harness import ARTIFACTS, WorkerProcess, applied_total, settings_env, wait_until

TOKEN = "e2e-T0ken"


def serve(make: Callable[..., Settings], start: Callable[..., WorkerProcess], **over: object) -> Iterator[str]:
    """A worker's dashboard URL while the simulator feeds it (bounded: it stops by itself)."""
    s = make(partitions=4, **over)
    start(s)
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / f"simulator-{s.app_id}.log").open("wb") as log:
        sim = subprocess.Popen(
            [sys.executable, "-m", "segstream", "simulate", "--customers", "300", "--rate", "400",
             "--events", "40000", "--no-progress"],
            env=settings_env(s), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until(lambda: applied_total(s) > 2000, 60, "the simulator's first events applied", every=0.5)
            yield f"http://127.0.0.1:{s.api_port}"
        finally:
            sim.terminate()
            sim.wait(30)


@pytest.fixture
def dashboard_url(
    make_settings: Callable[..., Settings],  # noqa: F811
    start_worker: Callable[..., WorkerProcess],  # noqa: F811
) -> Iterator[str]:
    """A worker without a token (loopback): every call of the page is open."""
    yield from serve(make_settings, start_worker)


@pytest.fixture
def dashboard_url_with_token(
    make_settings: Callable[..., Settings],  # noqa: F811
    start_worker: Callable[..., WorkerProcess],  # noqa: F811
) -> Iterator[str]:
    """A worker with the API token :data:`TOKEN`."""
    yield from serve(make_settings, start_worker, api_token=TOKEN)


@pytest.fixture
def screenshot_path() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / "dashboard.png"
