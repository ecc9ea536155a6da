"""Latency of the profile API, GET /customers/{id}, under load from a second process.

    python benchmarks/api_latency.py --customers 2000 --requests 20000 --concurrency 4

Needs Kafka and Redis (`make up`). Starts a real `segstream worker` on its own topics and
key prefix, feeds it simulated customers, then this process (a second process on
loopback) sends a bounded number of requests with aiohttp at a fixed concurrency and
records each latency. Baseline, measured in the same run with the same client pattern:
the Redis lookup the endpoint has to make anyway (the customer's key and the stream clock
in one round trip, redis-py asyncio). Results print as JSON and append to
benchmarks/results/api_latency.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segstream.config import Settings, load_settings  # noqa: E402
from segstream.state.store import Store  # noqa: E402
from segstream.streams.topics import create_topics  # noqa: E402


def env_for(s: Settings) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")} | s.as_env()


async def load(n: int, concurrency: int, one: Callable[[int], Awaitable[None]], label: str) -> list[float]:
    """``n`` calls of ``one`` at ``concurrency``; each call's latency in ms."""
    latencies: list[float] = []
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=n)

        async def lane(lane_id: int) -> None:
            for i in range(lane_id, n, concurrency):
                t = time.perf_counter()
                await one(i)
                latencies.append((time.perf_counter() - t) * 1000)
                progress.advance(task)

        await asyncio.gather(*(lane(k) for k in range(concurrency)))
    return latencies


def summary(ms: list[float], wall_s: float) -> dict[str, float]:
    a = np.array(ms)
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p90_ms": round(float(np.percentile(a, 90)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "max_ms": round(float(a.max()), 3),
        "per_s": round(len(ms) / wall_s, 1),
    }


async def measure(s: Settings, ids: list[str], n: int, concurrency: int, token: str) -> dict[str, Any]:
    import aiohttp

    rng = random.Random(7)
    picks = [rng.choice(ids) for _ in range(n)]
    store = Store.from_settings(s)
    out: dict[str, Any] = {}
    try:

        async def redis_one(i: int) -> None:
            await store.get_with_clock(picks[i])

        await load(min(n, 2000), concurrency, redis_one, "warm-up redis")
        t = time.perf_counter()
        out["baseline_redis_lookup"] = summary(await load(n, concurrency, redis_one, "redis"), time.perf_counter() - t)
    finally:
        await store.close()
    headers = {"Authorization": f"Bearer {token}"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{s.web_port}", connector=conn, headers=headers) as http:

        async def http_one(i: int) -> None:
            async with http.get(f"/customers/{picks[i]}") as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"GET /customers/{picks[i]} answered {resp.status}")

        await load(min(n, 2000), concurrency, http_one, "warm-up http")
        t = time.perf_counter()
        out["get_customer"] = summary(
            await load(n, concurrency, http_one, "GET /customers/{id}"), time.perf_counter() - t
        )
    return out


def wrk_latency(
    root: str, path: str, ids: list[str], token: str, connections: int, seconds: int
) -> dict[str, float] | None:
    """The same load from wrk (C, Debian package `wrk`), when installed, on one thread with
    ``connections`` connections: ``path`` followed by a random customer id when it ends
    with a slash; its latency percentiles and requests/s."""
    binary = shutil.which("wrk")
    if not binary:
        return None
    lua = ROOT / ".cache" / "api_latency.lua"
    target = f'"{path}" .. ids[math.random(#ids)]' if path.endswith("/") else f'"{path}"'
    lua.write_text(
        "ids = {" + ",".join(json.dumps(i) for i in ids[:5000]) + "}\n"
        "math.randomseed(7)\n"
        "request = function()\n"
        f'  return wrk.format("GET", {target}, {{["Authorization"] = "Bearer {token}"}})\n'
        "end\n"
    )
    out = subprocess.run(
        [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), root],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise SystemExit(f"wrk got errors from {path}:\n{out}")

    def ms(label: str) -> float:
        value = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert value, out
        return round(float(value[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[value[2]], 3)

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"p50_ms": ms("50%"), "p90_ms": ms("90%"), "p99_ms": ms("99%"), "per_s": float(rate[1]) if rate else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "api_latency.jsonl")
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    token = uuid.uuid4().hex
    s = load_settings(
        topic_suffix=f"-a{tag}",
        app_id=f"api-{tag}",
        redis_prefix=f"a{tag}",
        web_port=6077,
        api_token=token,
        event_epoch_s=0,
    )
    create_topics(s)
    log = (ROOT / ".cache" / f"api-latency-{tag}.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "segstream", "worker"], env=env_for(s), stdout=log, stderr=log)
    try:
        events = a.customers * 20
        subprocess.run(
            [sys.executable, "-m", "segstream", "simulate", "--customers", str(a.customers), "--rate", "0",
             "--events", str(events), "--no-progress"],
            env=env_for(s), check=True, timeout=1800,
        )  # fmt: skip

        async def ready() -> list[str]:
            store = Store.from_settings(s)
            try:
                while sum(v for k, v in (await store.stats()).items() if k.startswith("events:")) < events:
                    if worker.poll() is not None:
                        raise SystemExit(f"worker exited (log {log.name})")
                    await asyncio.sleep(1)
                return list(await store.scan_customers())
            finally:
                await store.close()

        ids = asyncio.run(ready())
        result: dict[str, Any] = {"check": "api_latency", "customers": len(ids), "concurrency": a.concurrency}
        result |= asyncio.run(measure(s, ids, a.requests, a.concurrency, token))
        root = f"http://127.0.0.1:{s.web_port}"
        # wrk: GET /health (a view doing one Redis PING: the server's floor) vs the profile
        result["wrk_health_baseline"] = wrk_latency(root, "/health", ids, token, a.concurrency, 10)
        result["wrk_get_customer"] = wrk_latency(root, "/customers/", ids, token, a.concurrency, 10)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(result, indent=2))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    with a.json.open("a") as fh:
        fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
