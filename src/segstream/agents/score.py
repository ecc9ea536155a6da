"""Scoring every segment dimension of one customer as of the stream clock (pure).

Dimensions: ``rfm`` (11 named segments by quintiles or fixed thresholds, or the 8-class
scheme of Chinese CRM practice), ``lifecycle`` and each rule dimension of the rules file.
Every change becomes a :class:`SegmentChange` with its reason and the deciding features,
and the customer gets the event time at which it must be re-scored even if silent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segstream.models.clusters import FEATURES
from segstream.models.decay import US_PER_DAY
from segstream.models.rfm import (
    RFMScore,
)
from segstream.scoring import catalogue
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.streams.codec import from_us
from segstream.streams.schemas import ChurnRisk, SegmentChange


@dataclass(frozen=True, slots=True)
class Trigger:
    """What caused a re-score: a source event position, or the due-time sweep."""

    id: str  # e.g. "p3-1234" or "sweep-1700000000000000"
    ts_us: int


def rule_names(st: CustomerState, now: int, models: Models) -> dict[str, Any]:
    """The names rule expressions can use, for one customer as of ``now``."""
    names: dict[str, Any] = dict(st.profile.attrs()) if st.profile else {}
    names["tenure_days"] = models.profile.tenure_days(st.profile, now, st.first_us)
    if p := st.purchases:
        names.update(purchases=p.count, spend=p.spend_minor / 100, recency_days=max(0, now - p.last_us) / US_PER_DAY)
    else:
        names.update(purchases=0, spend=0.0)
    if st.usage:
        u = models.usage.predict_one(st.usage, now)
        names.update(usage_rate=u.rate_short, usage_trend=u.trend, distinct_features=u.distinct_features)
    if st.feedback:
        f = models.satisfaction.predict_one(st.feedback, now)
        names.update(satisfaction=f.level, nps_class=f.nps_class, open_complaints=f.open_complaints)
    names.update(rfm=st.segments.get("rfm"), lifecycle=st.segments.get("lifecycle"))
    return names


def behaviour_vector(st: CustomerState, now: int, models: Models) -> list[float]:
    """The customer's behaviour in :data:`segstream.models.clusters.FEATURES` order.

    Rates, not totals, so that a customer's cluster says how it behaves rather than how
    long it has been a customer: spend is the mean order value, frequency the purchases
    per 30 days of tenure, usage the long-horizon rate; all log-scaled.
    """
    p = st.purchases
    tenure_days = max(1.0, (now - st.first_us) / US_PER_DAY)
    aov, per_month = (p.spend_minor / 100 / p.count, p.count * 30 / tenure_days) if p else (0.0, 0.0)
    since = max(0, now - (p.last_us if p else st.first_us)) / US_PER_DAY
    rate, trend = 0.0, 0.0
    if st.usage:
        u = models.usage.predict_one(st.usage, now)
        rate = u.rate_long
        trend = max(-3.0, min(3.0, math.log(u.trend))) if u.trend else -3.0
    level = models.satisfaction.predict_one(st.feedback, now).level if st.feedback else None
    return [
        math.log1p(aov), math.log1p(per_month), math.log1p(since), math.log1p(rate), trend,
        0.5 if level is None else level,
    ]  # fmt: skip


def _rfm_reason(score: RFMScore, days: float, count: int, spend: float, language: str, currency: str) -> str:
    return catalogue.reason(
        "rfm", language, r=score.r, f=score.f, m=score.m, days=days, count=count, spend=spend, currency=currency
    )


@dataclass(slots=True)
class Scored:
    changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    outputs: list[SegmentChange] = field(default_factory=list)
    due_us: int | None = None
    churn: list[ChurnRisk] = field(default_factory=list)


def record_change(
    st: CustomerState,
    scored: Scored,
    cid: str,
    trigger: Trigger,
    dim: str,
    new: str | None,
    name: str,
    reason: str,
    features: dict[str, float],
) -> None:
    """Move the customer to segment ``new`` of ``dim`` (``None``: out of the dimension) and
    record the change and its event; nothing when it is already there."""
    old = st.segments.get(dim)
    if new == old:
        return
    if new is None:
        st.segments.pop(dim, None)
    else:
        st.segments[dim] = new
    scored.changes.append((dim, old, new))
    scored.outputs.append(
        SegmentChange(
            event_id=f"{trigger.id}-{dim}", customer_id=cid, dimension=dim, from_segment=old,
            to_segment=new or "", to_name=name, ts=from_us(trigger.ts_us), reason=reason, features=features,
        )
    )  # fmt: skip


def score_customer(
    cid: str,
    st: CustomerState,
    now: int,
    trigger: Trigger,
    models: Models,
    language: str = "en",
    currency: str = "USD",
    changed: frozenset[str] | None = None,
) -> Scored:
    """Re-score every dimension (mutating ``st.segments``); return the changes and next due.

    ``changed`` names the parts of the state that changed (see
    :data:`segstream.models.rules.NAME_PARTS`); rule dimensions that read none of them are
    not re-evaluated. ``None`` (the sweep) re-evaluates everything.
    """
    out = Scored()

    def change(dim: str, new: str | None, name: str, reason: str, features: dict[str, float]) -> None:
        record_change(st, out, cid, trigger, dim, new, name, reason, features)

    scorer = models.rfm_scorer()
    if (p := st.purchases) and scorer:
        s = scorer.score_one(p, now)
        st.rfm_score = s.r * 100 + s.f * 10 + s.m
        if s.segment != st.segments.get("rfm"):  # reasons and features only for a change
            days = max(0, now - p.last_us) / US_PER_DAY
            feats = {"recency_days": round(days, 3), "frequency": p.count, "monetary": p.spend_minor / 100}
            feats |= {"r": s.r, "f": s.f, "m": s.m}
            change(
                "rfm",
                s.segment,
                catalogue.name("rfm", s.segment, language),
                _rfm_reason(s, days, p.count, p.spend_minor / 100, language, currency),
                feats,
            )

    active = max(st.purchases.last_us if st.purchases else 0, st.usage.last_us if st.usage else 0)
    due = now + int(models.rescore_days * US_PER_DAY)
    if active:
        stage = models.lifecycle.predict_one(st.first_us, active, now, st.segments.get("lifecycle"), st.reactivated_us)
        st.reactivated_us = stage.reactivated_us
        if stage.stage != st.segments.get("lifecycle"):
            silent = max(0, now - active) / US_PER_DAY
            feats = {
                "days_since_activity": round(silent, 3),
                "tenure_days": round(max(0, now - st.first_us) / US_PER_DAY, 3),
            }
            change(
                "lifecycle",
                stage.stage,
                catalogue.name("lifecycle", stage.stage, language),
                catalogue.reason(
                    "lifecycle", language, stage=catalogue.name("lifecycle", stage.stage, language), days=silent
                ),
                feats,
            )
        if stage.due_us is not None:
            due = min(due, stage.due_us)
    out.due_us = due

    if models.rules:
        if changed is not None and out.changes:
            changed = changed | {"segments"}
        affected = models.rules.affected(changed)
        env = rule_names(st, now, models) if affected else {}
        for dim, hit in (models.rules.evaluate(env, changed) if affected else {}).items():
            seg, rule = hit if hit else (None, None)
            label = models.rules.label(dim, seg, language) if seg else ""
            reason = (
                catalogue.reason("rule", language, line=rule.line, expression=rule.expression)
                if rule
                else catalogue.reason("rule_none", language)
            )
            feats = {k: float(v) for k, v in env.items() if rule and k in rule.names and isinstance(v, int | float)}
            change(dim, seg, label, reason, feats)
    return out


def assign_clusters(
    batch: Sequence[tuple[str, CustomerState, int, Trigger, Scored]], models: Models, language: str = "en"
) -> None:
    """Assign the nearest cluster of the published snapshot to a batch of customers at once
    (numpy, no River call per customer); record changes in each customer's :class:`Scored`."""
    snap = models.cluster_snapshot
    if snap is None or not batch:
        return
    x = np.array([behaviour_vector(st, now, models) for _, st, now, _, _ in batch])
    ids = snap.assign(x)
    for (cid, st, _, trigger, scored), cluster_id, row in zip(batch, ids, x, strict=True):
        new = f"c{int(cluster_id)}"
        if new == st.segments.get("cluster"):
            continue
        name = snap.description(int(cluster_id), language)
        reason = catalogue.reason("cluster", language, code=new, name=name, version=snap.version)
        feats = dict(zip(FEATURES, (round(float(v), 4) for v in row), strict=True))
        record_change(st, scored, cid, trigger, "cluster", new, name, reason, feats)
