"""Batch references the streaming results are measured against (pandas), shared by the
quality scripts in benchmarks/ and the integration tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import rankdata

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


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = positive), ties
    counted half (Mann-Whitney U).

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), auc([0, 1], [0.5, 0.5])
    (0.75, 0.5)
    """
    y = np.asarray(labels, dtype=bool)
    ranks = rankdata(np.asarray(scores, dtype=float))
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        raise ValueError("AUC needs both positive and negative labels")
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def auc_interval(
    labels: ArrayLike, scores: ArrayLike, versus: ArrayLike | None = None, draws: int = 500, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of the AUC, or of the AUC difference to ``versus`` (paired)."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    v = None if versus is None else np.asarray(versus, dtype=float)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        out.append(auc(y[i], s[i]) - (auc(y[i], v[i]) if v is not None else 0.0))
    lo, hi = np.percentile(out, [2.5, 97.5])
    return float(lo), float(hi)


def cdnow_calibration(path: str | Path, end: str = "1997-09-30") -> pd.DataFrame:
    """Per customer of the calibration period (purchases on or before ``end``, one day's
    purchases merged): ``x, t_x, T`` in weeks, ``m_x`` (mean repeat transaction, dollars),
    ``recency_days``, and ``churned``: no purchase after ``end`` (the holdout)."""
    df = read_cdnow(path)
    stop = pd.Timestamp(end, tz="UTC")
    cal = df[df["date"] <= stop].groupby(["customer_id", "date"])["amount"].sum().reset_index()
    g = cal.groupby("customer_id")
    first, last, days = g["date"].min(), g["date"].max(), g["date"].nunique()
    first_value = cal.sort_values("date").groupby("customer_id")["amount"].first()
    x = days - 1
    out = pd.DataFrame(
        {
            "x": x,
            "t_x": (last - first).dt.days / 7,
            "T": (stop - first).dt.days / 7,
            "m_x": ((g["amount"].sum() - first_value) / x.where(x > 0)).fillna(0.0),
            "recency_days": (stop - last).dt.days,
        }
    )
    returned = set(df.loc[df["date"] > stop, "customer_id"])
    out["churned"] = ~out.index.isin(returned)
    return out


def churn_delays(churn_at: dict[str, float], alerts: list[tuple[str, float, str]], end: float) -> dict[str, float]:
    """How fast churn-risk events follow true churn, over customers who churned before ``end``.

    ``alerts`` are ``(customer, time, level)`` churn-risk events (times in days, any order).
    A churned customer already in high risk at its churn time counts as flagged before
    churn (delay 0); otherwise the delay is to its first ``high`` event after churning;
    none by ``end`` is a miss.

    >>> r = churn_delays({"a": 10.0, "b": 10.0, "c": 10.0}, [("a", 14, "high"), ("b", 5, "high")], end=30)
    >>> r["before_churn"], r["missed"], r["median_delay_days"]
    (1.0, 1.0, 2.0)
    """
    timeline: dict[str, list[tuple[float, str]]] = {}
    for cid, t, level in sorted(alerts, key=lambda a: a[1]):
        timeline.setdefault(cid, []).append((t, level))
    delays, before, missed = [], 0, 0
    for cid, churned in churn_at.items():
        if churned > end:
            continue
        events = timeline.get(cid, [])
        state = [lvl for t, lvl in events if t <= churned]
        if state and state[-1] == "high":
            before += 1
            delays.append(0.0)
            continue
        after = [t for t, lvl in events if t > churned and lvl == "high"]
        if after:
            delays.append(after[0] - churned)
        else:
            missed += 1
    return {
        "churned": float(len(delays) + missed),
        "before_churn": float(before),
        "detected_after": float(len(delays) - before),
        "missed": float(missed),
        "median_delay_days": float(np.median(delays)) if delays else float("nan"),
        "p90_delay_days": float(np.percentile(delays, 90)) if delays else float("nan"),
    }


def fewest_moves(reference: np.ndarray, disagreements: float, iterations: int = 40) -> int:
    """The fewest segment moves of any assignment that disagrees with ``reference`` in at
    most ``disagreements`` customer-steps: a lower bound that holds even for an assignment
    that knows the future.

    ``reference`` has one row per customer and one column per step: the code (0, 1, ...) of
    the segment the batch reference names then, -1 before the customer has one. An
    assignment names a segment for each customer at each step from its first; a move is a
    change from one step to the next (the first naming is not one).

    The bound is the Lagrangian dual of that problem: for a price ``p`` of one
    disagreement, each customer's cheapest path (moves + ``p`` x disagreements, a dynamic
    programme over its steps) summed, less ``p`` x the allowed disagreements; every ``p``
    gives a bound, and the best is searched on ``[0, 2]`` (past 2 no path leaves the
    reference: one disagreement saves at most two moves). Moves are whole, so the bound is
    rounded up.

    >>> ref = np.array([[0, 1, 0, 1, 0], [2, 2, 2, 2, 2], [-1, -1, 1, 1, 1]])
    >>> fewest_moves(ref, 0)  # agree everywhere: make the reference's four moves
    4
    >>> fewest_moves(ref, 1)  # e.g. 0 0 0 1 0
    2
    >>> fewest_moves(ref, 2)  # 0 0 0 0 0
    0
    """
    ref = np.asarray(reference, dtype=np.int64)
    ref = ref[(ref[:, 1:] != ref[:, :-1]).any(axis=1)]  # a path that never moves costs nothing at any price
    if not len(ref):
        return 0
    ref, alike = np.unique(ref, axis=0, return_counts=True)  # customers with the same path cost the same
    codes = np.arange(int(ref.max()) + 1)

    def bound(price: float) -> float:
        cost = np.zeros((len(ref), len(codes)))
        for col in ref.T:
            step = np.minimum(cost, cost.min(axis=1, keepdims=True) + 1.0) + price * (codes[None, :] != col[:, None])
            cost = np.where((col >= 0)[:, None], step, cost)
        return float(cost.min(axis=1) @ alike) - price * disagreements

    lo, hi = 0.0, 2.0
    golden = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    fa, fb = bound(a), bound(b)
    best = max(bound(lo), bound(hi), fa, fb)
    for _ in range(iterations):  # the bound is concave in the price
        if fa >= fb:
            hi, b, fb = b, a, fa
            a = hi - golden * (hi - lo)
            fa = bound(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = bound(b)
        best = max(best, fa, fb)
    return max(0, int(np.ceil(best - 1e-6)))
