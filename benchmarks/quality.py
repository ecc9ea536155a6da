"""Segmentation quality through the real pipeline (Kafka -> worker -> Redis), against batch.

    python benchmarks/quality.py rfm       # CDNOW master: streamed R, F, M vs pandas quintiles
    python benchmarks/quality.py clusters  # simulated personas: ARI vs truth and vs sklearn KMeans

Needs Kafka and Redis (`make up`). Each run uses its own topics and key prefix, starts a
real `segstream worker`, feeds it, asks for a full re-score (`segstream segments rescore`)
and compares. Results print as JSON and append to benchmarks/results/quality.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segstream.agents.score import Models, behaviour_vector  # noqa: E402
from segstream.config import Settings, load_settings  # noqa: E402
from segstream.evaluation import cdnow_rfm_reference, rfm_agreement  # noqa: E402
from segstream.feeders.producer import make_producer, send_events, topic_router  # noqa: E402
from segstream.feeders.simulator import Simulator  # noqa: E402
from segstream.models.clusters import ClusterSnapshot  # noqa: E402
from segstream.state.store import Store  # noqa: E402
from segstream.streams.topics import create_topics  # noqa: E402

CDNOW_MASTER = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"


def env_for(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")} | s.as_env()
    return env


def segstream(s: Settings, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "segstream", *args], env=env_for(s), check=True, timeout=1800)


async def read(s: Settings) -> tuple[dict[str, Any], dict[str, int], dict[str, bytes | None], int]:
    store = Store.from_url(s.redis_url, s.redis_prefix)
    try:
        customers = await store.scan_customers()
        stats = await store.stats()
        snaps = {n: await store.get_snapshot(n) for n in ("cluster", "cluster:prev")}
        clock = (await store.clock()).get("global", 0)
        return customers, stats, snaps, clock
    finally:
        await store.close()


def run(s: Settings, feed: Any, expected: int) -> tuple[dict[str, Any], dict[str, bytes | None], int]:
    create_topics(s)
    log = open(ROOT / ".cache" / f"quality-{s.app_id}.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "-m", "segstream", "worker"], env=env_for(s), stdout=log, stderr=log)
    try:
        feed()
        deadline = time.monotonic() + 1800
        while True:
            _, stats, _, _ = asyncio.run(read(s))
            if sum(v for k, v in stats.items() if k.startswith("events:")) >= expected:
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"worker did not apply {expected} events (log {log.name})")
            time.sleep(1)
        time.sleep(2 * s.snapshot_interval_s)
        segstream(s, "segments", "rescore")
        customers, _, snaps, clock = asyncio.run(read(s))
        return customers, snaps, clock
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()


def rfm(s: Settings) -> dict[str, Any]:
    customers, _, _ = run(s, lambda: segstream(s, "replay", str(CDNOW_MASTER), "--no-progress"), 69_659)
    out = rfm_agreement(cdnow_rfm_reference(CDNOW_MASTER), {c: st.rfm_score for c, st in customers.items()})
    return {"check": "rfm", "data": "CDNOW_master.txt", **out}


def clusters(s: Settings, customers_n: int, events_n: int) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    sim = Simulator(customers_n, datetime(2024, 1, 1, tzinfo=UTC), seed=5)
    events = list(islice(sim.events(), events_n))

    def feed() -> None:
        p = make_producer(s)
        send_events(p, topic_router(s), events, progress=False)
        p.close()

    customers, snaps, now = run(s, feed, len(events))
    persona = {c.customer_id: c.persona for c in sim.population}
    ids = sorted(c for c, st in customers.items() if "cluster" in st.segments)
    streamed = [customers[c].segments["cluster"] for c in ids]
    truth = [persona[c] for c in ids]
    models = Models()
    x = np.array([behaviour_vector(customers[c], now, models) for c in ids])
    z = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1)
    batch = KMeans(n_clusters=s.clusters, n_init=10, random_state=0).fit_predict(z)
    out: dict[str, Any] = {
        "check": "clusters",
        "customers": len(ids),
        "events": len(events),
        "clusters": s.clusters,
        "ari_vs_personas": round(adjusted_rand_score(truth, streamed), 4),
        "ari_vs_batch_kmeans": round(adjusted_rand_score(batch, streamed), 4),
        "ari_batch_kmeans_vs_personas": round(adjusted_rand_score(truth, batch), 4),
    }
    dec = msgspec.msgpack.Decoder(ClusterSnapshot)
    if snaps["cluster"] and snaps["cluster:prev"]:
        cur, prev = dec.decode(snaps["cluster"]), dec.decode(snaps["cluster:prev"])
        flips = (cur.assign(x) != prev.assign(x)).mean()  # same features, consecutive snapshots
        out |= {"flip_rate_between_snapshots": round(float(flips), 4), "snapshots": [prev.version, cur.version]}
        out["descriptions"] = dict(zip(map(str, cur.ids), cur.descriptions["en"], strict=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=["rfm", "clusters"])
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--events", type=int, default=150_000)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "quality.jsonl")
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    s = load_settings(
        topic_suffix=f"-q{tag}",
        app_id=f"quality-{tag}",
        redis_prefix=f"q{tag}",
        web_enabled=False,
        batch_size=2000,
        rescore_days=30,
    )
    result = rfm(s) if a.check == "rfm" else clusters(s, a.customers, a.events)
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    with a.json.open("a") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
