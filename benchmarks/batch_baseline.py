"""Baseline (b) of issue 7: recompute every customer's segments in batch (pandas + scikit-learn).

    python benchmarks/batch_baseline.py --events 200000 --customers 20000 --mix mixed
    python benchmarks/batch_baseline.py --events 1000000 --customers 100000

The same simulated events as throughput.py (Simulator, seed 1, from 2024-01-01, the first
``--events`` of the mixed stream) are written untimed as JSON lines, one file per input
topic, exactly the bytes segstream reads from Kafka: that is "events available". Then a batch
job, in its own process (so its peak RSS is its own), is timed step by step until every
customer has fresh segments:

load         JSON lines -> pandas DataFrames (msgspec decoding, vectorised ISO time parsing)
rfm          per customer recency/frequency/monetary, 1-5 scores by ``pd.qcut`` on ranks
             (quintiles), named by segstream's own ``segment_of`` (the 11 usual segments)
usage        usage intensity (events/day over the last 28 days) and trend (last 7 vs 28 days)
satisfaction mean NPS/CSAT (scaled to 0-1) and complaint counts per customer
clusters     behaviour vector (order value, purchases per 30 days, days since last purchase,
             usage intensity and trend, satisfaction) -> StandardScaler -> KMeans
             (``--clusters``, default segstream's 5; ``--n-init``, random_state 42)
lifecycle    new / active / at risk / churned / reactivated from segstream's default day
             thresholds (30, 45, 90) over the activity of every kind, incl. the longest gap
assemble     one row per customer with all its segments (the table a batch job would publish)

"Time to fresh segments". For a batch job a customer's segment is as old as the last run
that included its latest event: up to the schedule interval plus the run time (a nightly job
that takes T seconds serves segments up to 24 h + T old; even run back to back, no fresher than
T, the whole run time, and T grows with the history). For segstream it is the per-event
latency (benchmarks/latency.py: p99 from append to the segment change being readable), which
does not grow with the history. Reported here: wall seconds per step and in total, the
events/s equivalent (events / total), and the job's peak RSS. No servers are needed.
--json appends one line to a file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

KINDS = ("purchases", "usage", "feedback", "profiles")


# ------------------------------------------------------------------ the batch job (child process)


def job(folder: Path, clusters: int, n_init: int) -> dict[str, object]:
    """Read the JSON lines in ``folder``; every customer's segments; seconds per step."""
    import msgspec
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from segstream.config import Settings
    from segstream.models.rfm import segment_of
    from segstream.streams.kinds import SCHEMAS as INPUT_SCHEMAS

    defaults = Settings()
    rss_imports = harness.self_rss_peak_mb()
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = round(now - t, 3)
        print(f"  {name:13} {now - t:8.2f} s", file=sys.stderr, flush=True)
        t = now

    # load: the columns each step needs, from the bytes segstream reads off Kafka
    cols = {"purchases": ("customer_id", "ts", "amount"), "usage": ("customer_id", "ts"),
            "feedback": ("customer_id", "ts", "kind", "score"), "profiles": ("customer_id", "ts")}  # fmt: skip
    frames: dict[str, pd.DataFrame] = {}
    for kind in KINDS:
        path = folder / f"{kind}.jsonl"
        dec = msgspec.json.Decoder(INPUT_SCHEMAS[kind])
        evs = [dec.decode(line) for line in path.read_bytes().splitlines()] if path.exists() else []
        df = pd.DataFrame({c: [getattr(e, c) for e in evs] for c in cols[kind]}, columns=list(cols[kind]))
        df["ts"] = pd.to_datetime(df["ts"], utc=True)
        frames[kind] = df
    events = sum(len(f) for f in frames.values())
    lap("load")

    activity = pd.concat([frames[k][["customer_id", "ts"]] for k in KINDS], ignore_index=True)
    now = activity["ts"].max()  # the data's own clock, like segstream's stream clock
    day = pd.Timedelta(days=1)
    customers = pd.Index(activity["customer_id"].unique(), name="customer_id")

    # rfm
    p = frames["purchases"]
    rfm = p.groupby("customer_id").agg(last=("ts", "max"), frequency=("ts", "size"), monetary=("amount", "sum"))
    rfm["recency_days"] = (now - rfm["last"]) / day
    five = [1, 2, 3, 4, 5]
    rfm["r"] = pd.qcut(rfm["recency_days"].rank(method="first", ascending=False), 5, labels=five).astype(int)
    rfm["f"] = pd.qcut(rfm["frequency"].rank(method="first"), 5, labels=five).astype(int)
    rfm["m"] = pd.qcut(rfm["monetary"].rank(method="first"), 5, labels=five).astype(int)
    names = np.array([[segment_of(r, fm) if r and fm else "" for fm in range(6)] for r in range(6)], dtype=object)
    rfm["rfm"] = names[rfm["r"].to_numpy(), ((rfm["f"] + rfm["m"] + 1) // 2).to_numpy()]
    lap("rfm")

    # usage
    u = frames["usage"]
    age = (now - u["ts"]) / day
    usage = pd.DataFrame({
        "n7": (age <= 7).groupby(u["customer_id"]).sum(),
        "n28": (age <= 28).groupby(u["customer_id"]).sum(),
    })  # fmt: skip
    usage["intensity"] = usage["n28"] / 28
    usage["trend"] = (usage["n7"] / 7 - usage["intensity"]) / (usage["intensity"] + 1 / 28)
    lap("usage")

    # satisfaction
    f = frames["feedback"]
    scaled = np.where(f["kind"] == "nps", f["score"] / 10, np.where(f["kind"] == "csat", (f["score"] - 1) / 4, np.nan))
    sat = pd.DataFrame({"satisfaction": pd.Series(scaled, index=f.index).groupby(f["customer_id"]).mean(),
                        "complaints": (f["kind"] == "complaint").groupby(f["customer_id"]).sum()})  # fmt: skip
    nps = f[f["kind"] == "nps"].groupby("customer_id")["score"].mean()
    sat["nps_class"] = pd.cut(nps, [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"])
    lap("satisfaction")

    # lifecycle (before clusters: it gives tenure)
    life = activity.groupby("customer_id")["ts"].agg(first="min", last="max")
    ordered = activity.sort_values(["customer_id", "ts"])
    gaps = ordered.groupby("customer_id")["ts"].diff() / day
    life["max_gap_days"] = gaps.groupby(ordered["customer_id"]).max().fillna(0)
    idle = (now - life["last"]) / day
    tenure = (now - life["first"]) / day
    life["lifecycle"] = np.select(
        [idle > defaults.lifecycle_churn_days, idle > defaults.lifecycle_at_risk_days,
         tenure <= defaults.lifecycle_new_days, life["max_gap_days"] > defaults.lifecycle_at_risk_days],
        ["churned", "at_risk", "new", "reactivated"], default="active",
    )  # fmt: skip
    lap("lifecycle")

    # clusters
    x = pd.DataFrame(index=customers)
    x["order_value"] = np.log1p(rfm["monetary"] / rfm["frequency"]).reindex(customers).fillna(0)
    x["per_30_days"] = np.log1p(rfm["frequency"].reindex(customers).fillna(0) * 30 / tenure.clip(lower=1))
    x["since_purchase"] = np.log1p(rfm["recency_days"].reindex(customers).fillna(tenure))
    x["usage"] = np.log1p(usage["intensity"].reindex(customers).fillna(0))
    x["usage_trend"] = usage["trend"].reindex(customers).fillna(0)
    x["satisfaction"] = sat["satisfaction"].reindex(customers).fillna(0.5)
    z = StandardScaler().fit_transform(x.to_numpy())
    km = KMeans(n_clusters=clusters, n_init=n_init, random_state=42).fit(z)
    cluster = pd.Series(km.labels_, index=customers).map(lambda c: f"k{c}")
    lap("clusters")

    out = pd.DataFrame(index=customers)
    out["rfm"] = rfm["rfm"].reindex(customers)
    out["cluster"] = cluster
    out["lifecycle"] = life["lifecycle"].reindex(customers)
    out["nps_class"] = sat["nps_class"].reindex(customers)
    out["usage_intensity"] = usage["intensity"].reindex(customers).fillna(0)
    lap("assemble")

    total = round(sum(steps.values()), 3)
    fresh = int(out["cluster"].notna().sum())
    return {
        "events": events,
        "customers_seen": len(customers),
        "customers_with_fresh_segments": fresh,
        "customers_with_rfm": int(out["rfm"].notna().sum()),
        "steps_s": steps,
        "total_s": total,
        "events_per_s_equivalent": round(events / total),
        "peak_rss_mb": round(harness.self_rss_peak_mb(), 1),
        "rss_after_imports_mb": round(rss_imports, 1),
        "rfm_segments": out["rfm"].value_counts().to_dict(),
        "lifecycle": out["lifecycle"].value_counts().to_dict(),
    }


# ------------------------------------------------------------------ the driver


def write_events(folder: Path, n: int, customers: int, mix: str) -> dict[str, int]:
    """The first ``n`` simulated events (as throughput.py produces them), one JSONL per topic."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from segstream.feeders.simulator import Simulator
    from segstream.streams.codec import encode
    from segstream.streams.schemas import Feedback, Profile, Purchase, Usage

    kind_of = {Purchase: "purchases", Usage: "usage", Feedback: "feedback", Profile: "profiles"}
    sim = Simulator(customers, datetime(2024, 1, 1, tzinfo=UTC), seed=1)
    stream = sim.purchases() if mix == "purchases" else sim.events()
    files = {k: (folder / f"{k}.jsonl").open("wb") for k in KINDS}
    counts = dict.fromkeys(KINDS, 0)
    cols = [TextColumn("events"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    try:
        with Progress(*cols, disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task("events", total=n)
            for i, ev in enumerate(islice(stream, n), 1):
                kind = kind_of[type(ev)]
                files[kind].write(encode(ev) + b"\n")
                counts[kind] += 1
                if i % 10_000 == 0:
                    bar.update(task, completed=i)
    finally:
        for fh in files.values():
            fh.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--mix", choices=["mixed", "purchases"], default="mixed")
    ap.add_argument("--clusters", type=int, default=5, help="k of KMeans (segstream's default SEGSTREAM_CLUSTERS)")
    ap.add_argument("--n-init", type=int, default=1, choices=[1, 2, 3], help="KMeans restarts")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--job", type=Path, help=argparse.SUPPRESS)  # internal: run the timed job on a folder
    a = ap.parse_args()
    if a.job:
        print(json.dumps(job(a.job, a.clusters, a.n_init)))
        return
    harness.exit_on_sigterm()
    folder = harness.CACHE / f"batch-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    proc = None
    try:
        t0 = time.perf_counter()
        counts = write_events(folder, a.events, a.customers, a.mix)
        print(f"events written in {time.perf_counter() - t0:.1f} s (untimed): {counts}", file=sys.stderr)
        cmd = [sys.executable, __file__, "--job", str(folder), "--clusters", str(a.clusters), "--n-init", str(a.n_init)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode:
            raise SystemExit(f"batch job failed ({proc.returncode})")
    finally:
        harness.stop(proc)  # type: ignore[arg-type]
        shutil.rmtree(folder, ignore_errors=True)
    res = json.loads(out.splitlines()[-1])
    rows = [[step, f"{sec:.2f}"] for step, sec in res["steps_s"].items()]
    rows.append(["total (events available -> every customer has fresh segments)", f"{res['total_s']:.2f}"])
    print(harness.table(rows, ["batch step (pandas + scikit-learn)", "seconds"]))
    print(f"\n{res['events']:,} events, {res['customers_seen']:,} customers "
          f"({res['customers_with_fresh_segments']:,} with fresh segments, {res['customers_with_rfm']:,} with RFM); "
          f"{res['events_per_s_equivalent']:,} events/s equivalent; peak RSS {res['peak_rss_mb']:.0f} MB "
          f"({res['rss_after_imports_mb']:.0f} MB after imports)")  # fmt: skip
    result = {
        "label": a.label or f"batch {a.mix} {a.events} events {a.customers} customers",
        "customers": a.customers, "mix": a.mix, "clusters": a.clusters, "n_init": a.n_init, **res,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    if a.json:
        with a.json.open("a") as fh:
            fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
