"""Scoring every segment dimension of one customer as of the stream clock (pure).

Dimensions: ``rfm`` (11 named segments by quintiles or fixed thresholds, or the 8-class
scheme of Chinese CRM practice), ``lifecycle`` and each rule dimension of the rules file.
Every change becomes a :class:`SegmentChange` with its reason and the deciding features,
and the customer gets the event time at which it must be re-scored even if silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segstream.models.clusters import FEATURES
from segstream.models.decay import US_PER_DAY
from segstream.models.rfm import FixedRFMScorer, MeanRFMScorer, QuintileRFMScorer
from segstream.models.rules import Attrs
from segstream.scoring import catalogue
from segstream.scoring.activity import activity
from segstream.scoring.behaviour import INSUFFICIENT, behaviour_matrix, cluster_name, enough_data, parts_of
from segstream.scoring.columns import Columns
from segstream.scoring.lifecycle import NO_DUE, score_lifecycle
from segstream.scoring.models import Models, cluster_number
from segstream.scoring.rfm import keep_within_margins, recency_band, score_range, score_rfm, segment_codes
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
    names["attrs"] = Attrs(st.profile.custom if st.profile else ())
    names["tenure_days"] = models.profile.tenure_days(st.profile, now, st.first_us)
    if p := st.purchases:
        names.update(purchases=p.count, spend=p.spend_minor / 100, recency_days=max(0, now - p.last_us) / US_PER_DAY)
        names.update(models.mix.predict_one(st.mix, p.count, p.spend_minor)._asdict())
    else:
        names.update(purchases=0, spend=0.0, categories=0)
    if st.usage:
        u = models.usage.predict_one(st.usage, now, st.first_us)
        names.update(usage_rate=u.rate_short, usage_trend=u.trend, distinct_features=u.distinct_features)
        names.update(usage_units_rate=u.units_per_day, usage_minutes_rate=u.minutes_per_day)
        names.update(services_30d=u.services_30d)
    if st.feedback:
        f = models.satisfaction.predict_one(st.feedback, now)
        names.update(satisfaction=f.level, nps_class=f.nps_class, open_complaints=f.open_complaints)
        names.update(complaint_severity=f.complaint_severity)
    names.update(rfm=st.segments.get("rfm"), lifecycle=st.segments.get("lifecycle"))
    return names


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


#: One customer to score: id, state, event time to score at, trigger, the state parts that
#: changed (``None``: all, the sweep).
ToScore = tuple[str, CustomerState, int, Trigger, frozenset[str] | None]


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
    """Re-score every dimension of one customer (see :func:`score_batch`)."""
    return score_batch([(cid, st, now, trigger, changed)], models, language, currency)[0]


def score_batch(
    batch: Sequence[ToScore],
    models: Models,
    language: str = "en",
    currency: str = "USD",
    cols: Columns | None = None,
) -> list[Scored]:
    """Re-score RFM, lifecycle and the rule dimensions of a batch (mutating each
    ``st.segments``); return each customer's changes and next due time.

    RFM and lifecycle are computed for the whole batch at once (:mod:`segstream.scoring`);
    per customer, only a changed segment builds its reason and event. ``changed`` names the
    parts of a state that changed (see :data:`segstream.models.rules.NAME_PARTS`); rule
    dimensions that read none of them are not re-evaluated. ``None`` (the sweep)
    re-evaluates everything.
    """
    if not batch:
        return []
    cols = cols if cols is not None else Columns.of([b[1] for b in batch], [b[2] for b in batch])
    scorer = models.rfm_scorer()
    rfm = score_rfm(cols, scorer) if scorer is not None and cols.has_p.any() else None
    band = None  # R the segment is named with (docs/SEGMENTS.md, recency bands)
    if rfm is not None and scorer is not None:
        rfm, band = _name_rfm(cols, scorer, rfm, [b[1].segments.get("rfm") for b in batch], models)
    active = cols.active
    previous = np.array([b[1].segments.get("lifecycle") for b in batch], dtype=object)
    stage, stage_due, reactivated = score_lifecycle(cols, active, previous, models.lifecycle)
    rescore_us = int(models.rescore_days * US_PER_DAY)
    results: list[Scored] = []
    for i, (cid, st, now, trigger, changed) in enumerate(batch):
        out = Scored()
        results.append(out)
        if rfm is not None and (p := st.purchases):
            r, f, m, seg = int(rfm[0][i]), int(rfm[1][i]), int(rfm[2][i]), rfm[3][i]
            st.rfm_score = r * 100 + f * 10 + m
            if seg != st.segments.get("rfm"):  # reasons and features only for a change
                days = max(0, now - p.last_us) / US_PER_DAY
                spend = p.spend_minor / 100
                feats = {
                    "recency_days": round(days, 3),
                    "frequency": p.count,
                    "monetary": spend,
                    "r": r,
                    "f": f,
                    "m": m,
                }
                reason = catalogue.reason(
                    "rfm", language, r=r, f=f, m=m, days=days, count=p.count, spend=spend, currency=currency
                )
                if band is not None and int(band[i]) != r:
                    reason = catalogue.reason("rfm_band", language, head=reason, band=int(band[i]))
                    feats["r_named"] = int(band[i])
                record_change(st, out, cid, trigger, "rfm", seg, catalogue.name("rfm", seg, language), reason, feats)
        due = now + rescore_us
        if band is not None and (p := st.purchases):  # the next recency band's start
            due = min(due, _next_band(now, p.last_us, models))
        if last := int(active[i]):
            st.reactivated_us = int(reactivated[i])
            code = stage[i]
            if code != st.segments.get("lifecycle"):
                silent = max(0, now - last) / US_PER_DAY
                feats = {
                    "days_since_activity": round(silent, 3),
                    "tenure_days": round(max(0, now - st.first_us) / US_PER_DAY, 3),
                }
                name = catalogue.name("lifecycle", code, language)
                reason = catalogue.reason("lifecycle", language, stage=name, days=silent)
                record_change(st, out, cid, trigger, "lifecycle", code, name, reason, feats)
            if stage_due[i] != NO_DUE:
                due = min(due, int(stage_due[i]))
        out.due_us = due
        if models.rules:
            _score_rules(cid, st, now, trigger, models, language, changed, out)
    return results


def _name_rfm(
    cols: Columns,
    scorer: FixedRFMScorer | QuintileRFMScorer | MeanRFMScorer,
    rfm: tuple[Any, Any, Any, Any],
    stored: list[str | None],
    models: Models,
) -> tuple[tuple[Any, Any, Any, Any], Any]:
    """The segment each customer's scores name (docs/SEGMENTS.md): R held to its recency
    band, and the stored segment kept while the edges moved within their margins would
    still give it; and the band's R (``None`` without bands)."""
    binary, life = isinstance(scorer, MeanRFMScorer), models.lifecycle

    def banded(r: Any) -> Any:
        return recency_band(cols, r, life.at_risk_days, life.churn_days, binary) if models.rfm_bands else r

    named = banded(rfm[0])
    segments = segment_codes(named, rfm[1], rfm[2], binary)
    if models.rfm_margin or models.rfm_margin_days:
        r_lo, r_hi, f_lo, f_hi, m_lo, m_hi = score_range(cols, scorer, models.rfm_margin, models.rfm_margin_days)
        corners = [
            segment_codes(banded(r), f, m, binary) for r in (r_lo, r_hi) for f in (f_lo, f_hi) for m in (m_lo, m_hi)
        ]
        segments = keep_within_margins(segments, np.array(stored, dtype=object), corners)
    return (*rfm[:3], segments), (named if models.rfm_bands else None)


def _next_band(now: int, last_us: int, models: Models) -> int:
    """When a purchase ``last_us`` ago enters its next recency band (:data:`NO_DUE`: in the last)."""
    for days in (models.lifecycle.at_risk_days, models.lifecycle.churn_days):
        if now < (edge := last_us + int(days * US_PER_DAY)):
            return edge
    return NO_DUE


def _score_rules(
    cid: str,
    st: CustomerState,
    now: int,
    trigger: Trigger,
    models: Models,
    language: str,
    changed: frozenset[str] | None,
    out: Scored,
) -> None:
    assert models.rules is not None
    if changed is not None and out.changes:
        changed = changed | {"segments"}
    affected = models.rules.affected(changed)
    if not affected:
        return
    env = rule_names(st, now, models)
    for dim, hit in models.rules.evaluate(env, changed).items():
        seg, rule = hit if hit else (None, None)
        label = models.rules.label(dim, seg, language) if seg else ""
        reason = (
            catalogue.reason("rule", language, line=rule.line, expression=rule.expression)
            if rule
            else catalogue.reason("rule_none", language)
        )
        feats = {k: float(v) for k, v in env.items() if rule and k in rule.names and isinstance(v, int | float)}
        record_change(st, out, cid, trigger, dim, seg, label, reason, feats)


def assign_clusters(
    batch: Sequence[tuple[str, CustomerState, int, Trigger, Scored]],
    models: Models,
    language: str = "en",
    cols: Columns | None = None,
) -> None:
    """Assign the nearest cluster of the published snapshot to a batch of customers at once
    (numpy, no River call per customer); record changes in each customer's :class:`Scored`."""
    snap = models.cluster_snapshot
    if snap is None or not batch:
        return
    cols = cols if cols is not None else Columns.of([b[1] for b in batch], [b[2] for b in batch])
    x = behaviour_matrix(cols, activity(cols, models.usage))
    current = np.array([cluster_number(b[1].segments.get("cluster")) or 0 for b in batch], dtype=np.int64)
    under = np.array([b[1].cluster_rebuilt for b in batch], dtype=np.int64)
    ids = snap.assign(x, current, models.cluster_margin, under).tolist()
    enough = enough_data(cols).tolist()
    for (cid, st, _, trigger, scored), cluster_id, row, ok in zip(batch, ids, x, enough, strict=True):
        st.cluster_rebuilt = snap.rebuilt  # placed under this partition: the margin holds from now on
        new = f"c{cluster_id}" if ok else INSUFFICIENT
        if new == st.segments.get("cluster"):
            continue
        feats = dict(zip(FEATURES, (round(float(v), 4) for v in row), strict=True))
        if ok:
            name = cluster_name(snap, cluster_id, language, parts_of(st))
            reason = catalogue.reason("cluster", language, code=new, name=name, version=snap.version)
        else:
            name = catalogue.name("cluster", INSUFFICIENT, language)
            reason = catalogue.reason("cluster_insufficient", language)
        record_change(st, scored, cid, trigger, "cluster", new, name, reason, feats)
