"""Segmentation quality through the real pipeline (Kafka -> worker -> Redis), against batch.

    python benchmarks/quality.py rfm       # CDNOW master: streamed R, F, M vs pandas quintiles
    python benchmarks/quality.py clusters  # simulated personas: ARI vs truth and vs sklearn KMeans
    python benchmarks/quality.py churn-cdnow  # BG/NBD + Gamma-Gamma fits, holdout AUC vs two baselines
    python benchmarks/quality.py churn-sim    # simulated churners: AUC and delay to the first alert

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

from harness import measured_commit  # noqa: E402

from segstream.config import Settings, load_settings  # noqa: E402
from segstream.evaluation import (  # noqa: E402
    auc,
    auc_interval,
    cdnow_calibration,
    cdnow_rfm_reference,
    churn_delays,
    rfm_agreement,
)
from segstream.feeders.producer import make_producer, send_events, topic_router  # noqa: E402
from segstream.feeders.simulator import Simulator  # noqa: E402
from segstream.models.bgnbd import expected_purchases  # noqa: E402
from segstream.models.clusters import ClusterSnapshot  # noqa: E402
from segstream.models.value import ValueSnapshot  # noqa: E402
from segstream.scoring.behaviour import behaviours  # noqa: E402
from segstream.scoring.clock import scoring_clock  # noqa: E402
from segstream.scoring.models import Models  # noqa: E402
from segstream.state.barrier import Barrier, partition_names  # noqa: E402
from segstream.state.store import Store  # noqa: E402
from segstream.streams.schemas import ChurnRisk  # noqa: E402
from segstream.streams.security import client_kwargs  # noqa: E402
from segstream.streams.topics import create_topics  # noqa: E402

CDNOW_MASTER = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
CDNOW_SAMPLE = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"
US_PER_DAY = 86_400 * 10**6


def env_for(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")} | s.as_env()
    return env


def segstream(s: Settings, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "segstream", *args], env=env_for(s), check=True, timeout=1800)


async def read(s: Settings) -> tuple[dict[str, Any], dict[str, int], dict[str, bytes | None], int]:
    store = Store.from_settings(s)
    try:
        customers = await store.scan_customers()
        stats = await store.stats()
        snaps = {n: await store.get_snapshot(n) for n in ("cluster", "cluster:prev", "value")}
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
        wait_swept(s, deadline)
        segstream(s, "segments", "rescore")
        customers, _, snaps, clock = asyncio.run(read(s))
        return customers, snaps, clock
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()


def produce(s: Settings, events: list[Any]) -> None:
    p = make_producer(s)
    send_events(p, topic_router(s), events, progress=False)
    p.close()


def wait_swept(s: Settings, deadline: float) -> None:
    """Wait until a catch-up's last epoch has closed (its snapshots published: the re-score
    that follows then starts from the same models in every run) and the leader's sweep has
    re-scored every customer due by the stream clock, so that churn alerts carry the event
    times the sweep gives them, not the final re-score's."""
    names = partition_names(s.topic, s.partitions)

    async def waiting() -> bool:
        store = Store.from_settings(s)
        try:
            if s.event_epoch_s and not await Barrier(store.client, store.keys).settled(names):
                return True
            clock = scoring_clock(await store.clock(), int(time.time() * 1000), round(s.idle_partition_s * 1000))
            return bool(await store.due_count(clock))
        finally:
            await store.close()

    while asyncio.run(waiting()) and time.monotonic() < deadline:
        time.sleep(1)


def rfm(s: Settings) -> dict[str, Any]:
    customers, _, _ = run(s, lambda: segstream(s, "replay", str(CDNOW_MASTER), "--no-progress"), 69_659)
    out = rfm_agreement(cdnow_rfm_reference(CDNOW_MASTER), {c: st.rfm_score for c, st in customers.items()})
    return {"check": "rfm", "data": "CDNOW_master.txt", **out}


def clusters(s: Settings, customers_n: int, events_n: int) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    sim = Simulator(customers_n, datetime(2024, 1, 1, tzinfo=UTC), seed=5)
    events = list(islice(sim.events(), events_n))

    customers, snaps, now = run(s, lambda: produce(s, events), len(events))
    persona = {c.customer_id: c.persona for c in sim.population}
    ids = sorted(c for c, st in customers.items() if "cluster" in st.segments)
    streamed = [customers[c].segments["cluster"] for c in ids]
    truth = [persona[c] for c in ids]
    models = Models()
    x = behaviours([customers[c] for c in ids], now, models)
    z = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1)
    dec = msgspec.msgpack.Decoder(ClusterSnapshot)
    final = dec.decode(snaps["cluster"]) if snaps["cluster"] else None
    # the batch reference gets the count the stream used (chosen from the data with SEGSTREAM_CLUSTERS=auto)
    k = (final.k or len(final.ids)) if final else int(s.clusters)
    batch = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(z)
    out: dict[str, Any] = {
        "check": "clusters",
        "customers": len(ids),
        "events": len(events),
        "clusters": s.clusters,
        "k": k,
        "k_method": final.k_method if final else None,
        "k_score": final.k_score if final else None,
        "ari_vs_personas": round(adjusted_rand_score(truth, streamed), 4),
        "ari_vs_batch_kmeans": round(adjusted_rand_score(batch, streamed), 4),
        "ari_batch_kmeans_vs_personas": round(adjusted_rand_score(truth, batch), 4),
    }
    if final is not None:  # each customer in its nearest final centre (no margin): the centres alone
        out["ari_nearest_final_vs_personas"] = round(adjusted_rand_score(truth, final.assign(x)), 4)
    if snaps["cluster"] and snaps["cluster:prev"]:
        cur, prev = dec.decode(snaps["cluster"]), dec.decode(snaps["cluster:prev"])
        flips = (cur.assign(x) != prev.assign(x)).mean()  # same features, consecutive snapshots
        out |= {"flip_rate_between_snapshots": round(float(flips), 4), "snapshots": [prev.version, cur.version]}
        out["descriptions"] = dict(zip(map(str, cur.ids), cur.descriptions["en"], strict=True))
    return out


def churn_cdnow(s: Settings) -> dict[str, Any]:
    """CDNOW sample, 39-week calibration through the stream; holdout weeks 40-78."""
    from segstream.feeders.cdnow import read_cdnow

    ref = cdnow_calibration(CDNOW_SAMPLE)
    df = read_cdnow(CDNOW_SAMPLE)
    sent = int((df["date"] <= datetime(1997, 9, 30, tzinfo=UTC)).sum())
    feed = lambda: segstream(s, "replay", str(CDNOW_SAMPLE), "--until", "1997-09-30", "--no-progress")  # noqa: E731
    customers, snaps, clock = run(s, feed, sent)
    snap = msgspec.msgpack.decode(snaps["value"] or b"", type=ValueSnapshot)
    bg, gg = snap.bgnbd, snap.gammagamma
    assert bg is not None and gg is not None, snap.status
    y = ref["churned"].to_numpy()
    risk = np.array([customers[c].outlook.risk_bp for c in ref.index], dtype=float)
    recency = ref["recency_days"].to_numpy(dtype=float)
    expected = -expected_purchases(bg, 39, ref["x"], ref["t_x"], ref["T"])
    out: dict[str, Any] = {
        "check": "churn-cdnow",
        "data": "CDNOW_sample.txt, calibration 1997-01-01..1997-09-30, holdout weeks 40-78",
        "stream_clock": datetime.fromtimestamp(clock / 1e6, UTC).isoformat(),
        "fit": {"status": snap.status, "customers": snap.customers, "version": snap.version},
        "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood},
        "gammagamma": {"p": gg.p, "q": gg.q, "v": gg.v, "repeat_buyers": gg.n},
        "holdout_no_purchase_share": round(float(y.mean()), 4),
        "horizon_days": s.value_horizon_days,
        "lapse_model": s.churn_lapse_model,
        "one_time_dropout": s.churn_one_time_dropout,
    }
    if pn := snap.paretonbd:
        out["paretonbd"] = {
            "r": pn.r,
            "alpha": pn.alpha,
            "s": pn.s,
            "beta": pn.beta,
            "log_likelihood": pn.log_likelihood,
        }
    for name, score in (("churn_risk", risk), ("days_since_last_purchase", recency), ("bgnbd_expected", expected)):
        lo, hi = auc_interval(y, score)
        out[f"auc_{name}"] = {"auc": round(auc(y, score), 4), "ci95": [round(lo, 4), round(hi, 4)]}
    for name, base in (("days_since_last_purchase", recency), ("bgnbd_expected", expected)):
        lo, hi = auc_interval(y, risk, versus=base)
        out[f"diff_vs_{name}"] = {
            "auc_diff": round(auc(y, risk) - auc(y, base), 4),
            "ci95": [round(lo, 4), round(hi, 4)],
        }
    return out


def churn_sim(s: Settings, customers_n: int, events_n: int) -> dict[str, Any]:
    """Simulated customers whose churn times are known: AUC of the final risk, and the
    event-time delay from churn to the first high-risk event."""
    from kafka import KafkaConsumer

    start = datetime(2024, 1, 1, tzinfo=UTC)
    sim = Simulator(customers_n, start, seed=11)
    events = list(islice(sim.events(), events_n))

    customers, _, clock = run(s, lambda: produce(s, events), len(events))
    t0 = start.timestamp()
    end_days = (clock / 1e6 - t0) / 86_400
    consumer = KafkaConsumer(
        s.topic("churn_risk"), bootstrap_servers=s.kafka_bootstrap.split(","), auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=3000, **client_kwargs(s),
    )  # fmt: skip
    alerts = []
    for rec in consumer:
        ev = msgspec.json.decode(rec.value, type=ChurnRisk)
        alerts.append((ev.customer_id, (ev.ts.timestamp() - t0) / 86_400, ev.level))
    consumer.close()
    churn_at = {c.customer_id: (c.churn_at.timestamp() - t0) / 86_400 for c in sim.population if c.churn_at}
    truth = [c for c in sim.population if c.customer_id in customers]
    y = np.array([bool(c.churn_at and (c.churn_at.timestamp() - t0) / 86_400 <= end_days) for c in truth])
    risk = np.array([customers[c.customer_id].outlook.risk_bp for c in truth], dtype=float)
    ever_high = {cid for cid, _, level in alerts if level == "high"}
    stayed = [c.customer_id for c in truth if c.churn_at is None]
    lo, hi = auc_interval(y, risk)
    return {
        "check": "churn-sim",
        "customers": len(truth),
        "events": len(events),
        "event_days": round(end_days, 1),
        "churned_by_end": int(y.sum()),
        "auc_final_risk_vs_churned": {"auc": round(auc(y, risk), 4), "ci95": [round(lo, 4), round(hi, 4)]},
        "delay": {k: round(v, 2) for k, v in churn_delays(churn_at, alerts, end_days).items()},
        "never_churning_ever_alerted_share": round(sum(c in ever_high for c in stayed) / max(1, len(stayed)), 4),
        "alerts": {"high": sum(a[2] == "high" for a in alerts), "normal": sum(a[2] == "normal" for a in alerts)},
        "rescore_days": s.rescore_days,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=["rfm", "clusters", "churn-cdnow", "churn-sim"])
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
        rescore_days=7 if a.check == "churn-sim" else 30,
        # a replay runs months of event time in a minute: refit as often as a live worker
        # would over that event time, or the purchase models would be missing throughout
        value_fit_interval_s=5 if a.check == "churn-sim" else 60,
    )
    checks = {
        "rfm": lambda: rfm(s),
        "clusters": lambda: clusters(s, a.customers, a.events),
        "churn-cdnow": lambda: churn_cdnow(s),
        "churn-sim": lambda: churn_sim(s, a.customers, a.events),
    }
    result = checks[a.check]()
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["commit"] = measured_commit()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    with a.json.open("a") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
