"""The pure scoring core alone: events/s of decode-free apply + score + state (de)serialisation,
no Kafka, no Redis, against a baseline of only unpacking and packing the same states.

    python benchmarks/core.py --customers 20000 --events 200000 --batch 2000 [--profile out.txt]

Steps: the simulator's events for N customers (untimed); the first half warms the states up
and the published models are built from them as the leader would (RFM from histograms,
clusters learned on every customer, BG/NBD + Gamma-Gamma fitted); the second half is timed
in batches: unpack the batch's customers from bytes (as loaded from Redis), ``apply_events``,
pack them again (as saved). The baseline times only the unpack and pack of the same batches.
This is the ceiling of one worker's middle, with I/O excluded: it says how much of the
worker's time the per-customer Python takes (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import statistics
import sys
import time
import zlib
from collections import Counter
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np

import segstream
from segstream.agents.step import apply_events, positioned
from segstream.feeders.simulator import Simulator
from segstream.models.clusters import FEATURES, ClusterLearner
from segstream.models.quantiles import bucket
from segstream.models.rfm import RFM_METRICS, RFMSnapshot, metric_values
from segstream.models.value import fit_value
from segstream.scoring.behaviour import behaviours
from segstream.scoring.models import Models
from segstream.state.customer import pack, unpack
from segstream.state.keys import source_field
from segstream.state.store import Loaded
from segstream.streams import kinds

PARTITIONS = 8


def source_of(event: object, offset: int) -> tuple[str, int]:
    kind = kinds.BY_SCHEMA[type(event)].name
    return source_field(kind, zlib.crc32(event.customer_id.encode()) % PARTITIONS), offset  # type: ignore[attr-defined]


def phases(batch, before: dict[str, bytes | None], models, clock, compress: bool) -> Counter[str]:
    """The seconds of each phase of one batch, timed apart on a second copy of its states:
    unpack, apply the events without scoring (``score=False``), pack."""
    took: Counter[str] = Counter()
    t0 = time.perf_counter()
    loaded = {c: Loaded(*unpack(b)) for c, b in before.items()}
    t1 = time.perf_counter()
    out = apply_events(loaded, batch, clock["global"], models, clocks=clock, score=False)
    t2 = time.perf_counter()
    for item in out.items:
        pack(item.version + 1, item.state, compress)
    t3 = time.perf_counter()
    took.update(unpack=t1 - t0, apply=t2 - t1, pack=t3 - t2)
    return took


def run_batches(
    batches, store, models, clock, timed: bool, compress: bool = True, split: Counter[str] | None = None
) -> tuple[float, float, list[float]]:
    """Process the batches against the in-memory store; (core seconds, baseline seconds,
    per-batch core seconds). ``compress``: states packed in format 3 (False: format 2).
    ``split`` (timed batches only) collects the seconds of each phase (:func:`phases`)."""
    core = base = 0.0
    per_batch: list[float] = []
    for batch in batches:
        cids = list(dict.fromkeys(p.event.customer_id for p in batch))
        if split is not None and timed:
            split.update(phases(batch, {c: store.get(c) for c in cids}, models, dict(clock), compress))
        t0 = time.perf_counter()
        loaded = {c: Loaded(*unpack(store.get(c))) for c in cids}
        out = apply_events(loaded, batch, clock["global"], models, clocks=clock)
        for item in out.items:
            store[item.customer_id] = pack(item.version + 1, item.state, compress)
        t1 = time.perf_counter()
        clock.update(out.clock)
        # baseline: the same customers' bytes unpacked and packed again, nothing applied
        for c in cids:
            v, st = unpack(store[c])
            pack(v, st, compress)
        t2 = time.perf_counter()
        if timed:
            core += t1 - t0
            base += t2 - t1
            per_batch.append(t1 - t0)
    return core, base, per_batch


def build_models(store: dict[str, bytes], now: int) -> Models:
    """What the leader would publish from the warmed-up states."""
    models = Models()
    states = [unpack(b)[1] for b in store.values()]
    hists: dict[str, Counter[int]] = {m: Counter() for m, _ in RFM_METRICS}
    for st in states:
        if st.purchases:
            for metric, exact in RFM_METRICS:
                hists[metric][bucket(metric_values(st.purchases)[metric], exact)] += 1
    models.rfm_snapshot = RFMSnapshot.from_histograms(1, {m: dict(h) for m, h in hists.items()})
    learner = ClusterLearner(n_clusters=5, seed=42)
    for row in behaviours(states, now, models).tolist():
        learner.learn_one(dict(zip(FEATURES, row, strict=True)))
    models.cluster_snapshot, _ = learner.snapshot(None)
    buyers = [st.purchases for st in states if st.purchases]
    hist = np.array([p.repeat_history(now, models.value.unit_days) for p in buyers])
    models.value_snapshot = fit_value(
        models.value, hist[:, 0], hist[:, 1], hist[:, 2], hist[:, 3],
        as_of_us=now, version=1, revenue_minor=sum(p.spend_minor for p in buyers),
    )  # fmt: skip
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", type=Path, help="write the cProfile of the timed half here")
    ap.add_argument("--json", type=Path, help="append the result as one JSON line")
    ap.add_argument("--format2", action="store_true", help="pack states uncompressed (state format 2)")
    ap.add_argument("--label", default="", help="names the code measured (default: the package's path)")
    ap.add_argument(
        "--worker-gc", action="store_true",
        help="the worker's collector settings for the timed half: start-up frozen, its thresholds",
    )  # fmt: skip
    ap.add_argument(
        "--phases", action="store_true",
        help="also time unpack, applying (unscored) and pack apart, on a copy of each batch's states",
    )  # fmt: skip
    a = ap.parse_args()
    sim = Simulator(a.customers, datetime(2024, 1, 1, tzinfo=UTC), seed=a.seed)
    offsets: Counter[str] = Counter()
    events = []
    for ev in islice(sim.events(), a.events):
        src, _ = source_of(ev, 0)
        events.append(positioned(ev, src, offsets[src]))
        offsets[src] += 1
    half = len(events) // 2
    batches = [events[i : i + a.batch] for i in range(0, len(events), a.batch)]
    warm, timed = batches[: half // a.batch], batches[half // a.batch :]
    store: dict[str, bytes] = {}
    clock: dict[str, int] = {"global": 0}
    run_batches(warm, store, Models(), clock, timed=False, compress=not a.format2)
    models = build_models(store, clock["global"])
    if a.worker_gc:  # as agents/ingest.py does once the worker has started
        from segstream.agents.ingest import GC_THRESHOLDS

        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
    prof = cProfile.Profile() if a.profile else None
    if prof:
        prof.enable()
    split: Counter[str] | None = Counter() if a.phases else None
    core, base, per_batch = run_batches(timed, store, models, clock, timed=True, compress=not a.format2, split=split)
    if prof:
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
        a.profile.write_text(buf.getvalue())
    n = sum(len(b) for b in timed)
    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": a.label or str(Path(segstream.__file__).parent), "state_format": 2 if a.format2 else 3,
        "customers": a.customers, "worker_gc": a.worker_gc, "events_timed": n, "batch": a.batch, "profiled": bool(prof),
        "core_events_per_s": round(n / core), "baseline_unpack_pack_events_per_s": round(n / base),
        "batch_ms_p50": round(statistics.median(per_batch) * 1000, 2),
        "batch_ms_p99": round(float(np.percentile(per_batch, 99)) * 1000, 2),
        "customers_stored": len(store),
        "mean_record_bytes": round(sum(map(len, store.values())) / len(store), 1),
    }  # fmt: skip
    if split is not None:  # µs per event; scoring is what the full step takes beyond the three
        us = {k: round(v / n * 1e6, 2) for k, v in split.items()}
        result["phases_us_per_event"] = us | {"score": round(core / n * 1e6 - sum(us.values()), 2)}
    print(json.dumps(result, indent=2))
    if a.json:
        with a.json.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.exit(main())
