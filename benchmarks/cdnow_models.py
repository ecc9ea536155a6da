"""Which purchase model's P(no purchase) ranks CDNOW's churners best, offline and on fresh customers.

    python benchmarks/cdnow_models.py            # the 2,357-customer sample and the other 21,213 of the master file

No Kafka or Redis: the calibration summaries ``(x, t_x, T)`` of each set (purchases to
1997-09-30, one day's purchases merged) are fitted with the project's own BG/NBD and
Pareto/NBD (``segstream.models.bgnbd``, ``segstream.models.paretonbd``) and each score is
ranked against "no purchase in weeks 40-78" (AUC, 95% bootstrap interval, and the paired
difference to BG/NBD expected purchases, the stronger baseline). The sample is the set the
service's numbers are reported on (docs/QUALITY.md); the rest of the master file was not
looked at while choosing, so it says whether a gain on the sample holds on new customers.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from segstream.evaluation import auc, auc_interval, cdnow_calibration
from segstream.models import bgnbd, paretonbd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cdnow"


def scores(cal: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    x, t_x, T = (cal[c].to_numpy(float) for c in ("x", "t_x", "T"))
    h = 90 / 7  # the service's horizon, 90 days, in weeks
    bg = bgnbd.BGNBDFitter(restarts=4).fit(x, t_x, T)
    pn = paretonbd.ParetoNBDFitter(restarts=4).fit(x, t_x, T)
    alive = bgnbd.p_alive(bg, x, t_x, T)
    bg_none = (1 - alive) + alive * ((bg.alpha + T) / (bg.alpha + T + h)) ** (bg.r + x)
    out = {
        "baseline: BG/NBD expected purchases, 39 weeks": -bgnbd.expected_purchases(bg, 39.0, x, t_x, T),
        "baseline: days since the last purchase": cal["recency_days"].to_numpy(float),
        "BG/NBD P(no purchase in 90 days): the default lapse": bg_none,
        "Pareto/NBD P(no purchase in 90 days): SEGSTREAM_CHURN_LAPSE_MODEL=paretonbd": paretonbd.p_no_purchase(
            pn, h, x, t_x, T
        ),
        "Pareto/NBD expected purchases, 39 weeks": -paretonbd.expected_purchases(pn, 39.0, x, t_x, T),
    }
    fits = {"bgnbd": msgspec.to_builtins(bg), "paretonbd": msgspec.to_builtins(pn)}
    return out, fits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=500, help="bootstrap resamples")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "cdnow_models.jsonl")
    a = ap.parse_args()
    sample = cdnow_calibration(DATA / "CDNOW_sample.txt")
    master = cdnow_calibration(DATA / "CDNOW_master.txt")
    rest = master[~master.index.isin(sample.index)]
    console = Console()
    for name, cal in (("CDNOW sample", sample), ("CDNOW master without the sample", rest)):
        started = time.perf_counter()
        y = cal["churned"].to_numpy(bool)
        by_score, fits = scores(cal)
        base = next(iter(by_score.values()))
        table = Table(title=f"{name}: {len(cal):,} customers, {y.mean():.1%} without a purchase in weeks 40-78")
        for col in ("score", "AUC", "95% interval", "− expected purchases", "95% interval"):
            table.add_column(col, justify="left" if col == "score" else "right")
        rows = []
        for label, s in by_score.items():
            lo, hi = auc_interval(y, s, draws=a.draws)
            dlo, dhi = auc_interval(y, s, versus=base, draws=a.draws)
            diff = auc(y, s) - auc(y, base)
            rows.append({"score": label, "auc": round(auc(y, s), 4), "ci95": [round(lo, 4), round(hi, 4)],
                         "diff": round(diff, 4), "diff_ci95": [round(dlo, 4), round(dhi, 4)]})  # fmt: skip
            table.add_row(label, f"{auc(y, s):.4f}", f"{lo:.4f}–{hi:.4f}", f"{diff:+.4f}", f"{dlo:+.4f}–{dhi:+.4f}")
        console.print(table)
        result = {"set": name, "customers": len(cal), "churned_share": round(float(y.mean()), 4), "fits": fits,
                  "scores": rows, "seconds": round(time.perf_counter() - started, 1),
                  "at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
        with a.json.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
