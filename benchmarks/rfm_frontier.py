"""How few RFM moves any stream could make while it agrees with the batch reference: the
frontier behind issue 19's two RFM targets, with the stream's own runs beside it.

    python benchmarks/rfm_frontier.py --customers 300 --days 90 --seed 7 --batch 200

The batch reference (pandas quintiles of the purchases before each moment, the names of
docs/SEGMENTS.md; ``benchmarks/stability.py``'s) is computed every ``--hours`` event-hours.
For each agreement level, :func:`segstream.evaluation.fewest_moves` gives a lower bound on
the moves of *any* assignment of segments that agrees with it on that share of the
buyer-steps: even one that knows every future purchase and re-names customers at no cost.
A stream that agrees on that share at every step agrees on it on average, so the bound
holds for it too; moves are counted at the steps (a stream that moves and moves back
within a step makes more, not fewer).

Beside the frontier, the same population replayed through the pure core
(``stability.py``'s replay) without the stabilisers and with them (the defaults): the
moves each made (at every event, and as seen at the steps) and how much of the time it
agreed with the reference (the mean and the lowest share over the steps). The issue asks
for volatility at least 5x lower than without the stabilisers with agreement still at
least 98%; the frontier says whether any stream could have both on these events.

Writes a row to ``benchmarks/results/rfm_frontier.jsonl`` and the plot
``docs/img/rfm_frontier.svg``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from harness import ROOT, measured_commit
from rich.progress import track
from stability import WITHOUT, Population, Stabilisers, population_args, population_of, reference_timeline

from segstream.evaluation import fewest_moves
from segstream.streams.codec import to_us

LEVELS = (1.0, 0.99, 0.98, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
DWELL_HOURS = (2, 6, 12, 24, 48, 72, 120, 168)
SVG = ROOT / "docs" / "img" / "rfm_frontier.svg"


def reference_matrix(
    pop: Population, purchases: pd.DataFrame, hours: float
) -> tuple[list[str], list[int], dict[str, int], np.ndarray]:
    """Customers, step times (µs), segment codes and the reference's segment code of each
    customer at each step (-1: not a buyer yet)."""
    timeline = list(reference_timeline(purchases, *pop.span(purchases), hours))
    customers = sorted({c for _, segs in timeline for c in segs})
    row = {c: i for i, c in enumerate(customers)}
    codes: dict[str, int] = {}
    ref = np.full((len(customers), len(timeline)), -1, dtype=np.int64)
    for k, (_, segs) in enumerate(timeline):
        for c, seg in segs.items():
            ref[row[c], k] = codes.setdefault(seg, len(codes))
    return customers, [to_us(at) for at, _ in timeline], codes, ref


def stream_matrix(
    changes: list[Any], customers: list[str], steps: list[int], codes: dict[str, int]
) -> tuple[np.ndarray, int]:
    """The stream's RFM segment code of each customer at each step (its latest change
    before the step; -2 for a segment the reference never names) and its moves."""
    row = {c: i for i, c in enumerate(customers)}
    held = np.full((len(customers), len(steps)), -1, dtype=np.int64)
    moves = 0
    for ch in sorted((c for c in changes if c.dimension == "rfm"), key=lambda c: to_us(c.ts)):
        moves += ch.from_segment is not None
        if ch.customer_id in row:
            k = int(np.searchsorted(steps, to_us(ch.ts), "right"))  # steps after the change see it
            held[row[ch.customer_id], k:] = codes.get(ch.to_segment, -2)
    return held, moves


def agreement(held: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """The share of the buyer-steps on which the stream names the reference's segment (the
    share the bound's budget counts), and the share at the last step."""
    buyers = ref >= 0
    agree = (held == ref) & buyers
    return float(agree.sum() / buyers.sum()), float(agree[:, -1].sum() / buyers[:, -1].sum())


def step_moves(matrix: np.ndarray) -> int:
    """Moves seen at the steps (a change between two named segments)."""
    return int(((matrix[:, 1:] != matrix[:, :-1]) & (matrix[:, :-1] >= 0)).sum())


def dwelled(ref: np.ndarray, steps: int) -> np.ndarray:
    """The reference with a minimum dwell: a customer takes the reference's new segment once
    it has named it for ``steps`` steps in a row (an online rule: what a batch CRM re-run
    every step could do; the first naming is taken at once)."""
    held = np.full_like(ref, -1)
    cur, prev = np.full(len(ref), -1), np.full(len(ref), -1)
    run = np.zeros(len(ref), dtype=np.int64)
    for k, r in enumerate(ref.T):
        run = np.where(r == prev, run + 1, 1)
        prev = r
        cur = np.where((cur < 0) | (run >= steps), r, cur)
        held[:, k] = cur
    return held


def svg(
    frontier: list[tuple[float, int]],
    dwell: list[tuple[float, int]],
    streams: dict[str, tuple[float, int]],
    target: float,
) -> str:
    """Moves against agreement: the frontier, the dwell rule, the streams and the issue's target."""
    w, h, pad = 620, 380, 72
    xs = [a for a, _ in frontier + dwell] + [a for a, _ in streams.values()]
    top = max([m for _, m in frontier + dwell] + [m for _, m in streams.values()]) * 1.1
    tick = 10 ** np.floor(np.log10(top / 4))
    tick *= next(f for f in (1, 2, 5, 10) if top / (tick * f) <= 6)
    x0 = min(xs) - 0.02

    def px(a: float, m: float) -> tuple[float, float]:
        return pad + (a - x0) / (1.0 - x0) * (w - 1.5 * pad), h - pad - m / top * (h - 1.5 * pad)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           'font-size="12"><rect width="100%" height="100%" fill="white"/>']  # fmt: skip
    ax, ay = px(x0, 0)
    out.append(f'<line x1="{ax}" y1="{ay}" x2="{w - pad / 2}" y2="{ay}" stroke="black"/>')
    out.append(f'<line x1="{ax}" y1="{ay}" x2="{ax}" y2="{pad / 2}" stroke="black"/>')
    for a in np.arange(np.ceil(x0 * 20) / 20, 1.0001, 0.05):
        x, _ = px(float(a), 0)
        out.append(f'<text x="{x}" y="{ay + 16}" text-anchor="middle">{a:.0%}</text>')
    for m in np.arange(tick, top, tick):
        _, y = px(x0, float(m))
        out.append(f'<text x="{ax - 6}" y="{y + 4}" text-anchor="end">{m:,.0f}</text>')
    out.append(f'<text x="{w / 2}" y="{h - 16}" text-anchor="middle">agreement with the batch reference '
               "(share of buyer-steps)</text>")  # fmt: skip
    out.append(f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" text-anchor="middle">RFM moves</text>')
    pts = " ".join("{:.1f},{:.1f}".format(*px(a, m)) for a, m in sorted(frontier))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    pts = " ".join("{:.1f},{:.1f}".format(*px(a, m)) for a, m in sorted(dwell))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#7f8c8d" stroke-width="1.5" stroke-dasharray="2 2"/>')
    legend = [  # upper left, where no curve goes
        ('<line x1="0" y1="-4" x2="18" y2="-4" stroke="#c0392b" stroke-width="2"/>',
         "the fewest moves any stream could make (with hindsight)"),
        ('<line x1="0" y1="-4" x2="18" y2="-4" stroke="#7f8c8d" stroke-width="1.5" stroke-dasharray="2 2"/>',
         "the batch re-run every step, a change kept after a dwell"),
        ('<circle cx="9" cy="-4" r="4" fill="#2980b9"/>', "the stream, without and with its stabilisers"),
    ]  # fmt: skip
    for i, (mark, text) in enumerate(legend):
        out.append(f'<g transform="translate({ax + 12},{pad / 2 + 14 + 16 * i})">{mark}'
                   f'<text x="24" y="0">{text}</text></g>')  # fmt: skip
    _, ty = px(x0, target)
    out.append(f'<line x1="{ax}" y1="{ty}" x2="{w - pad / 2}" y2="{ty}" stroke="#2c3e50" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{ax + 4}" y="{ty - 4}" fill="#2c3e50">5x fewer than without stabilisers</text>')
    x98, _ = px(0.98, 0)
    out.append(f'<line x1="{x98}" y1="{ay}" x2="{x98}" y2="{pad / 2}" stroke="#2c3e50" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{x98 - 4}" y="{pad / 2 + 10}" fill="#2c3e50" text-anchor="end">98%</text>')
    for name, (a, m) in streams.items():
        x, y = px(a, m)
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#2980b9"/>')
        out.append(f'<text x="{x - 6:.1f}" y="{y + 4:.1f}" fill="#2980b9" text-anchor="end">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    population_args(ap, customers=300, days=90)
    ap.add_argument("--hours", type=float, default=1.0, help="event-hours between two reference steps")
    ap.add_argument("--svg", type=Path, default=SVG, help="where the plot goes ('-': none)")
    ap.add_argument("--out", default="benchmarks/results/rfm_frontier.jsonl")
    ap.add_argument("--replot", action="store_true", help="only draw --svg again from the population's newest row")
    a = ap.parse_args()
    if a.replot and str(a.svg) == "-":
        ap.error("--replot: needs --svg")
    pop = population_of(a, ap)
    if a.replot:
        same = pop.about()
        rows = [json.loads(line) for line in Path(a.out).read_text().splitlines() if line.strip()]
        rows = [r for r in rows if all(r.get(k) == v for k, v in same.items())]
        if not rows:
            ap.error(f"--replot: no row of this population in {a.out}")
        a.svg.write_text(plot(rows[-1]))
        print(f"plot: {a.svg}")
        return
    if a.hours <= 0:
        ap.error("--hours: more than 0")
    started = time.perf_counter()
    purchases = pop.purchases()
    customers, steps, codes, ref = reference_matrix(pop, purchases, a.hours)
    buyer_steps = int((ref >= 0).sum())
    streams: dict[str, dict[str, float]] = {}
    for stable in (False, True):
        stab = Stabilisers() if stable else WITHOUT
        r, _, _ = pop.replay(stab.models(), purchases, stab.cluster_max_step)
        held, moves = stream_matrix(r.changes, customers, steps, codes)
        share, last = agreement(held, ref)
        streams["with the stabilisers" if stable else "without stabilisers"] = {
            "moves": moves, "moves_at_steps": step_moves(held), "agreement": round(share, 4),
            "agreement_at_end": round(last, 4),
        }  # fmt: skip
    levels = sorted({*LEVELS, *(s["agreement"] for s in streams.values())}, reverse=True)
    frontier = {
        f"{level:.4f}": fewest_moves(ref, (1.0 - level) * buyer_steps)
        for level in track(levels, description="frontier", transient=True)
    }
    dwell = {}
    for hours in DWELL_HOURS:
        if (k := max(1, round(hours / a.hours))) > 1 and f"{k * a.hours:g}" not in dwell:
            held = dwelled(ref, k)
            dwell[f"{k * a.hours:g}"] = {"moves": step_moves(held), "agreement": round(agreement(held, ref)[0], 4)}
    baseline = streams["without stabilisers"]["moves"]
    at98 = frontier[f"{0.98:.4f}"]
    row = {
        "reference_every_hours": a.hours,
        "steps": len(steps),
        "buyers": len(customers),
        "reference_moves": step_moves(ref),
        "fewest_moves": frontier,
        "streams": streams,
        "dwell_hours": dwell,
        "fewest_moves_at_98": at98,
        "most_reduction_at_98": round(baseline / at98, 2) if at98 else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    row |= pop.about() | {"batch": a.batch, "commit": measured_commit()}
    with Path(a.out).open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))
    if str(a.svg) != "-":
        a.svg.write_text(plot(row))
        print(f"plot: {a.svg}")


def plot(row: dict[str, Any]) -> str:
    """The plot of one result row."""
    frontier = [(float(k), v) for k, v in row["fewest_moves"].items()]
    dwells = [(d["agreement"], int(d["moves"])) for d in row["dwell_hours"].values()]
    named = {k.split()[0]: (s["agreement"], int(s["moves"])) for k, s in row["streams"].items()}
    return svg(frontier, dwells, named, row["streams"]["without stabilisers"]["moves"] / 5)


if __name__ == "__main__":
    main()
