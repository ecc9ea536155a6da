"""Redis bytes per customer: full state vs the purchases-only state, same customers, same run.

    python benchmarks/memory.py --customers 100000 --days 45
    python benchmarks/memory.py --customers 100000 --days 45 --copies 10   # 1M customers

Simulated customers' events (profiles, purchases, usage, feedback over ``--days`` of event
time) go through the worker's pure model step; the states are written by the worker's own
save script (Store.save) under a fresh key prefix. Then Redis ``MEMORY USAGE`` is read for
every customer key (sampling all of them, pipelined) and ``INFO memory`` used_memory is
compared before/after. The baseline is the same customers with only their purchases
applied (what the state held before usage, feedback and profiles were added). Each is
written twice: in state format 2 (the msgpack record, as before 2026-12-03: the baseline
of the compression) and in format 3 (the same msgpack compressed with the shipped zstd
dictionary, what the worker writes now).
Every customer gets a due time, as in the worker, so ``used_memory`` per customer includes
its entry in the due index. The complete state in format 3 is written in both due layouts: with the
due index as one zset per shard (due slots 1: the layout before 2026-12-03, the
baseline) and split into the settings' due slots per shard (what the worker writes now).
``--copies K`` writes each simulated state K times under new
ids (same size distribution, K times the customers) to reach 1M customers without
simulating 25M events.
Needs Redis (`make up`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segstream.agents.step import Models, apply_events, positioned  # noqa: E402
from segstream.config import load_settings  # noqa: E402
from segstream.feeders.simulator import Simulator  # noqa: E402
from segstream.state.customer import CustomerState  # noqa: E402
from segstream.state.keys import TOPIC_CODES, Keys  # noqa: E402
from segstream.state.store import Loaded, SaveItem, Store  # noqa: E402
from segstream.streams.schemas import Feedback, Profile, Purchase, Usage  # noqa: E402

DUE_AFTER_US = 30 * 86_400_000_000  # every customer has a due time, 30 days after its last event
KIND = {Purchase: "purchases", Usage: "usage", Feedback: "feedback", Profile: "profiles"}


def build(customers: int, days: int, purchases_only: bool) -> tuple[dict[str, Loaded], int]:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    end = t0 + timedelta(days=days)
    sim = Simulator(customers, t0, seed=3)
    loaded = {c.customer_id: Loaded(0, CustomerState()) for c in sim.population}
    models, batch, offsets, n = Models(), [], dict.fromkeys(KIND.values(), 0), 0
    for ev in sim.events():
        if ev.ts > end:
            break
        kind = KIND[type(ev)]
        if purchases_only and kind != "purchases":
            continue
        batch.append(positioned(ev, f"{TOPIC_CODES[kind]}0", offsets[kind]))
        offsets[kind] += 1
        if len(batch) >= 20_000:
            apply_events(loaded, batch, 0, models)
            n += len(batch)
            batch = []
    apply_events(loaded, batch, 0, models)
    return loaded, n + len(batch)


async def save(
    url: str,
    prefix: str,
    shards: int,
    loaded: dict[str, Loaded],
    copies: int = 1,
    compress: bool = True,
    due_slots: int = 1,
) -> None:
    """Write every state ``copies`` times (ids ``{id}``, ``{id}~1``, ...), each with a due
    time, as the worker does: the due index is part of what a customer costs. ``compress``:
    state format 3 (the default), or format 2 (the msgpack, as before 2026-12-03);
    ``due_slots`` per shard (1: one due zset per shard, as before 2026-12-03)."""
    store = Store.from_url(url, prefix, shards, compress=compress, due_slots=due_slots)
    for k in range(copies):
        suffix = f"~{k}" if k else ""
        items = [SaveItem(cid + suffix, 0, e.state, due_us=e.state.last_us + DUE_AFTER_US)
                 for cid, e in loaded.items() if e.state.last_us]  # fmt: skip
        for i in range(0, len(items), 2000):
            await store.save(items[i : i + 2000], {}, "bench")
    await store.close()


def measure(r: redis.Redis, prefix: str, shards: int) -> list[int]:
    keys = list(r.scan_iter(match=Keys(prefix, shards).customer_pattern, count=10_000))
    sizes: list[int] = []
    for i in range(0, len(keys), 5000):
        pipe = r.pipeline(transaction=False)
        for k in keys[i : i + 5000]:
            pipe.memory_usage(k, samples=0)
        sizes.extend(pipe.execute())
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument(
        "--copies",
        type=int,
        default=1,
        help="write each simulated state this many times under new ids (1M customers: 100000 x 10)",
    )
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    settings = load_settings()
    r = redis.Redis.from_url(settings.redis_url)
    out: dict[str, object] = {
        "customers": a.customers * a.copies,
        "simulated": a.customers,
        "copies": a.copies,
        "days": a.days,
        "redis": r.info("server")["redis_version"],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    slots = settings.redis_due_slots
    out["due_slots"] = slots
    runs = (  # label, purchases only, compressed records, due slots per shard
        ("baseline_purchases_only_format2", True, False, 1),
        ("baseline_purchases_only", True, True, slots),
        ("full_state_format2", False, False, 1),
        ("full_state_one_due_zset", False, True, 1),
        ("full_state", False, True, slots),
    )
    built: dict[bool, tuple[dict[str, Loaded], int]] = {}
    for label, only, compress, due_slots in runs:
        t0 = time.perf_counter()
        if only not in built:
            built = {only: build(a.customers, a.days, only)}  # one population in memory at a time
        loaded, n = built[only]
        prefix = f"m{uuid.uuid4().hex[:8]}"
        before = r.info("memory")["used_memory"]
        asyncio.run(save(settings.redis_url, prefix, settings.redis_shards, loaded, a.copies, compress, due_slots))
        after = r.info("memory")["used_memory"]
        sizes = measure(r, prefix, settings.redis_shards)
        q = statistics.quantiles(sizes, n=100)
        parts = {
            "usage": sum(1 for e in loaded.values() if e.state.usage),
            "feedback": sum(1 for e in loaded.values() if e.state.feedback),
            "profile": sum(1 for e in loaded.values() if e.state.profile),
            "purchases": sum(1 for e in loaded.values() if e.state.purchases),
        }
        out[label] = {
            "events": n,
            "keys": len(sizes),
            "memory_usage_mean": round(statistics.fmean(sizes), 1),
            "memory_usage_p50": q[49],
            "memory_usage_p99": q[98],
            "memory_usage_max": max(sizes),
            # everything a customer costs: its key, its due-index entry, the shard aggregates
            "used_memory_delta_per_key": round((after - before) / max(1, len(sizes)), 1),
            "customers_with": parts,
            "due_slots": due_slots,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        keys = list(r.scan_iter(match=f"{prefix}:*", count=10_000))
        for i in range(0, len(keys), 5000):
            r.unlink(*keys[i : i + 5000])
    print(json.dumps(out, indent=2, ensure_ascii=False))
    if a.json:
        with a.json.open("a") as fh:
            fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
