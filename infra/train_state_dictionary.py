"""Train the zstd dictionary customer records are compressed with (state format 3).

    python infra/train_state_dictionary.py --out src/segstream/state/dicts/customer-1.zdict

Run once per dictionary: a dictionary is part of the stored format for good (records name
it by number; a new one gets the next number and the old one stays to read old records).
Trained on simulated customers' msgpack records (the worker's pure step over the
simulator's events), seeds 11-13, so that it is not trained on the populations the
benchmarks measure (seed 3), at several ages of the population (20, 90 and 200 days of
event time) and with purchases only, so that young, old and sparse records are all seen.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segstream.agents.step import Models, apply_events, positioned  # noqa: E402
from segstream.feeders.simulator import Simulator  # noqa: E402
from segstream.state.customer import CustomerState, raw  # noqa: E402
from segstream.state.keys import TOPIC_CODES  # noqa: E402
from segstream.state.store import Loaded  # noqa: E402
from segstream.streams import kinds  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def records(customers: int, days: int, seed: int, purchases_only: bool) -> list[bytes]:
    sim = Simulator(customers, T0, seed=seed)
    end = T0 + timedelta(days=days)
    loaded = {c.customer_id: Loaded(0, CustomerState()) for c in sim.population}
    models, batch, offsets = Models(), [], dict.fromkeys(TOPIC_CODES, 0)
    for ev in sim.events():
        if ev.ts > end:
            break
        kind = kinds.BY_SCHEMA[type(ev)].name
        if purchases_only and kind != "purchases":
            continue
        batch.append(positioned(ev, f"{TOPIC_CODES[kind]}{offsets[kind] % 8}", offsets[kind]))
        offsets[kind] += 1
        if len(batch) >= 20_000:
            apply_events(loaded, batch, 0, models)
            batch = []
    apply_events(loaded, batch, 0, models)
    return [raw(entry.state) for entry in loaded.values() if entry.state.last_us]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--size", type=int, default=4096, help="dictionary bytes")
    a = ap.parse_args()
    samples: list[bytes] = []
    for seed, days, only in ((11, 20, False), (12, 90, False), (13, 200, False), (11, 90, True)):
        got = records(a.customers, days, seed, only)
        print(f"seed {seed}, {days} days{', purchases only' if only else ''}: {len(got)} records", file=sys.stderr)
        samples += got
    d = zstandard.train_dictionary(a.size, samples, level=3, threads=1)
    a.out.write_bytes(d.as_bytes())
    print(f"{a.out}: {len(d.as_bytes())} bytes from {len(samples)} records", file=sys.stderr)


if __name__ == "__main__":
    main()
