"""Batch references the streaming results are measured against (pandas), shared by the
quality scripts in benchmarks/ and the integration tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segstream.feeders.cdnow import read_cdnow

QUINTILE_PROBS = [0.2, 0.4, 0.6, 0.8]


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by the population's quintile edges, bins right-closed like ``pd.qcut``.

    Equal to ``pd.qcut(values, 5, labels=[1, 2, 3, 4, 5])`` whenever the four edges are
    distinct; when edges tie (many customers with one purchase), qcut refuses, and this
    counts each tied edge, which is what the streaming scorer does.
    """
    edges = np.quantile(values.to_numpy(dtype=float), QUINTILE_PROBS)
    above = (values.to_numpy(dtype=float)[:, None] > edges[None, :]).sum(axis=1)
    scores = 1 + above if higher_is_better else 5 - above
    return pd.Series(scores, index=values.index)


def rfm_reference(purchases: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """R, F, M quintile scores per customer from raw purchases (customer_id, date, amount)."""
    cents = (purchases["amount"] * 100).round().astype("int64")
    g = purchases.assign(cents=cents).groupby("customer_id")
    summary = pd.DataFrame({"last": g["date"].max(), "count": g.size(), "spend": g["cents"].sum()})
    summary["recency_days"] = (now.normalize() - summary["last"].dt.normalize()).dt.days
    summary["R"] = quintile_scores(summary["recency_days"], higher_is_better=False)
    summary["F"] = quintile_scores(summary["count"])
    summary["M"] = quintile_scores(summary["spend"])
    return summary


def cdnow_rfm_reference(path: str | Path) -> pd.DataFrame:
    df = read_cdnow(path)
    return rfm_reference(df, df["date"].max())


def rfm_agreement(reference: pd.DataFrame, scores: dict[str, int]) -> dict[str, float]:
    """Share of customers whose streamed R, F, M (``R*100+F*10+M``) equal the reference."""
    got = pd.Series(scores).reindex(reference.index).fillna(0).astype(int)
    r, f, m = got // 100, got // 10 % 10, got % 10
    return {
        "customers": float(len(reference)),
        "R": float((r == reference["R"]).mean()),
        "F": float((f == reference["F"]).mean()),
        "M": float((m == reference["M"]).mean()),
        "RFM": float(((r == reference["R"]) & (f == reference["F"]) & (m == reference["M"])).mean()),
    }
