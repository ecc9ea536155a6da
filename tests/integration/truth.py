"""Ground truth by batch computation (pandas) over the same events the stream received."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segstream.models.decay import tau_us
from segstream.models.satisfaction import normalised
from segstream.models.usage import UsageModel
from segstream.state.customer import CustomerState
from segstream.streams.codec import to_us
from segstream.streams.schemas import Event, Feedback, Profile, Purchase, Usage


@dataclass(frozen=True)
class Truth:
    purchases: pd.DataFrame
    usage: pd.DataFrame
    feedback: pd.DataFrame
    profiles: pd.DataFrame
    counts: dict[str, int]


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def _decayed(df: pd.DataFrame, weight: str, tau: float) -> pd.Series:
    ref = df.groupby("cid")["t"].transform("max")
    return (df[weight] * np.exp(-(ref - df["t"]) / tau)).groupby(df["cid"]).sum()


def compute_truth(events: Iterable[Event]) -> Truth:
    p_rows, u_rows, f_rows, r_rows = [], [], [], []
    for e in events:
        t = to_us(e.ts)
        if isinstance(e, Purchase):
            p_rows.append({"cid": e.customer_id, "t": t, "cents": round(e.amount * 100)})
        elif isinstance(e, Usage):
            u_rows.append({"cid": e.customer_id, "t": t, "w": 1.0})
        elif isinstance(e, Feedback):
            x = normalised(e.kind, e.score) if e.score is not None else None
            f_rows.append({"cid": e.customer_id, "t": t, "kind": e.kind, "score": e.score, "x": x})
        elif isinstance(e, Profile):
            r_rows.append({"cid": e.customer_id, "t": t, "industry": e.industry, "city": e.city})
    p = (
        _frame(p_rows, ["cid", "t", "cents"])
        .groupby("cid")
        .agg(count=("cents", "size"), spend=("cents", "sum"), first=("t", "min"), last=("t", "max"))
    )
    u_df = _frame(u_rows, ["cid", "t", "w"])
    m = UsageModel()
    u = u_df.groupby("cid").agg(count=("t", "size"), last=("t", "max"))
    u["short"] = _decayed(u_df, "w", tau_us(m.short_half_life_days))
    u["long"] = _decayed(u_df, "w", tau_us(m.long_half_life_days))
    f_df = _frame(f_rows, ["cid", "t", "kind", "score", "x"])
    f = f_df.groupby("cid").agg(complaints=("kind", lambda k: int((k == "complaint").sum())))
    nps = f_df[f_df["kind"] == "nps"].sort_values("t", kind="stable").groupby("cid")["score"].last()
    f["nps"] = nps.round().astype("Int64")
    scored = f_df[f_df["x"].notna()].copy()
    scored["one"] = 1.0
    scored["x"] = scored["x"].astype(float)
    f["n_scored"] = scored.groupby("cid").size()
    r_df = _frame(r_rows, ["cid", "t", "industry", "city"]).sort_values("t", kind="stable")
    r = r_df.groupby("cid")[["industry", "city"]].last()
    counts = {"purchases": len(p_rows), "usage": len(u_rows), "feedback": len(f_rows), "profiles": len(r_rows)}
    return Truth(p, u, f, r, counts)


def mismatches(truth: Truth, customers: dict[str, CustomerState]) -> list[str]:
    """Every difference between the stream's state and the batch truth (empty = exact)."""
    out: list[str] = []
    for cid, row in truth.purchases.iterrows():
        s = customers.get(cid)
        got = (
            (s.purchases.count, s.purchases.spend_minor, s.purchases.first_us, s.purchases.last_us)
            if s and s.purchases
            else None
        )
        want = (int(row["count"]), int(row["spend"]), int(row["first"]), int(row["last"]))
        if got != want:
            out.append(f"purchases {cid}: {got} != {want}")
    for cid, row in truth.usage.iterrows():
        s = customers.get(cid)
        u = s.usage if s else None
        if u is None or (u.count, u.last_us) != (int(row["count"]), int(row["last"])):
            out.append(f"usage {cid}: {u} != {row.to_dict()}")
        elif not (
            math.isclose(u.short, row["short"], rel_tol=1e-9) and math.isclose(u.long, row["long"], rel_tol=1e-9)
        ):
            out.append(f"usage rates {cid}: {(u.short, u.long)} != {(row['short'], row['long'])}")
    for cid, row in truth.feedback.iterrows():
        s = customers.get(cid)
        fb = s.feedback if s else None
        want_nps = -1 if pd.isna(row["nps"]) else int(row["nps"])
        if fb is None or (fb.complaints, fb.nps) != (int(row["complaints"]), want_nps):
            out.append(f"feedback {cid}: {fb} != {row.to_dict()}")
    for cid, row in truth.profiles.iterrows():
        s = customers.get(cid)
        pr = s.profile if s else None
        if pr is None or (pr.industry, pr.city) != (row["industry"], row["city"]):
            out.append(f"profile {cid}: {pr} != {row.to_dict()}")
    expected = (
        set(truth.purchases.index) | set(truth.usage.index) | set(truth.feedback.index) | set(truth.profiles.index)
    )
    if set(customers) != expected:
        out.append(f"customers: {len(set(customers) ^ expected)} differ")
    return out
