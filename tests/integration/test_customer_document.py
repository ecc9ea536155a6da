"""One customer document: `segstream customer` and `GET /customers/{id}` show the same
document, names included, for customers of every dimension (a real worker, Kafka, Redis)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from typer.testing import CliRunner

from segstream.cli import cli
from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from tests.integration.harness import WorkerProcess, produce_events, read_store, settings_env, settled, wait_until

TOKEN = "doc-token"


def http_document(s: Settings, cid: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{s.api_port}/customers/{urllib.request.quote(cid, safe='')}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        doc = json.loads(resp.read())
    assert doc.pop("freshness")["read_from"] == "primary"  # where the API read it: said over HTTP only
    return doc  # type: ignore[no-any-return]


def cli_document(s: Settings, cid: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["customer", cid], env=settings_env(s))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_cli_and_http_show_the_same_document_for_customers_of_every_dimension(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings(
        api_token=TOKEN, batch_size=2000, idle_partition_s=300, event_epoch_s=86_400,
        value_fit_event_interval_s=86_400, cluster_event_interval_s=86_400,
    )  # fmt: skip
    sim = Simulator(200, datetime(2024, 1, 1, tzinfo=UTC), seed=5)
    produce_events(s, islice(sim.events(), 30_000))
    start_worker(s)

    def ready() -> bool:
        snaps = read_store(s, lambda st: _snapshots(st))
        return settled(s) and all(snaps)

    wait_until(ready, 300, "every event scored, with cluster and value snapshots published")
    customers = sorted(read_store(s, lambda st: st.scan_customers()))
    dims: set[str] = set()
    valued = 0
    for cid in customers:
        over_http = http_document(s, cid)
        assert cli_document(s, cid) == over_http, cid
        dims |= set(over_http["segments"])
        valued += "value" in over_http
        for dim, seg in over_http["segments"].items():  # names, never the bare codes of a bare model
            if dim == "cluster":
                assert seg["name"] != seg["code"] and not seg["name"].startswith("cluster "), (cid, seg)
    assert {"rfm", "lifecycle", "cluster", "value"} <= dims, dims
    assert valued > 0
    result = CliRunner().invoke(cli, ["customer", "nobody-at-all"], env=settings_env(s))
    assert result.exit_code == 1 and "no customer 'nobody-at-all'" in result.output


async def _snapshots(store: Any) -> list[bytes | None]:
    return [await store.get_snapshot(name) for name in ("cluster", "value")]
