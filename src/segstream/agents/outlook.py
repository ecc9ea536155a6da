"""Value and churn risk of a batch of customers, scored at once (pure).

After the segment dimensions and clusters of a batch are scored, every scored customer gets
its value outlook (P(alive), expected purchases, expected spend, CLV, value tier) from the
published purchase models, all customers of the batch in one vectorised call, and its
churn risk from the named drivers. Crossing into or out of high risk (with hysteresis)
yields a :class:`ChurnRisk` event with the drivers and the playbook's retention action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from segstream.agents.score import Scored, Trigger, record_change, rule_names
from segstream.models.churn import Risk
from segstream.models.decay import US_PER_DAY
from segstream.models.value import TIERS, ValueScores, score_values
from segstream.scoring import catalogue
from segstream.scoring.activity import activity
from segstream.scoring.churn import score_churn
from segstream.scoring.columns import Columns
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState, Outlook
from segstream.streams import kinds
from segstream.streams.codec import from_us
from segstream.streams.schemas import ChurnRisk, Driver

Batch = Sequence[tuple[str, CustomerState, int, Trigger, Scored]]

#: Inputs whose silence means inactivity (lifecycle, churn): purchases and usage.
ACTIVITY_TOPICS = kinds.ACTIVITY_CODES

#: Customers this close below the entry threshold are re-scored daily (event time), not weekly.
NEAR_ENTRY = 0.15


def customer_clock(st: CustomerState, now: int, active: Mapping[str, int]) -> int:
    """The time a customer can be scored at without missing any of its events: ``now``
    held back to the clocks of its own purchase and usage partitions being consumed.

    The input topics have one partition count and are keyed by customer, so a customer's
    events share one partition index in all of them (``p3``, ``u3``). A purchase can be
    ahead of the same customer's usage still waiting in a lagging topic; scored at the
    purchase's time, the customer would look silent in usage.

    >>> st = CustomerState(offsets={"p3": 7})
    >>> customer_clock(st, now=100, active={"p3": 100, "u3": 80, "u1": 10})
    80
    >>> customer_clock(st, now=100, active={"p2": 5}), customer_clock(CustomerState(), 100, {"u3": 1})
    (100, 100)
    """
    field = next(iter(st.offsets), None)
    if field is None:
        return now
    index = field[1:]
    return min([now, *(active[f] for t in ACTIVITY_TOPICS if (f := t + index) in active)])


def batch_values(
    batch: Batch, models: Models, used: Sequence[bool] | np.ndarray | None = None
) -> dict[int, tuple[float, ...]]:
    """Per batch position of a customer with purchases: (p_alive, expected purchases,
    P(no purchase), expected spend, CLV), from one vectorised call. ``used``: per batch
    position, whether the customer has used the product (``Activity.used``; ``None``:
    taken from the states); read only by the ``auto`` lapse model, where it picks each
    customer's model of P(no purchase)."""
    snap = models.value_snapshot
    if snap is None or snap.bgnbd is None:
        return {}
    rows = [i for i, (_, st, _, _, _) in enumerate(batch) if st.purchases and st.purchases.count]
    if not rows:
        return {}
    unit = models.value.unit_days
    hist = np.array([batch[i][1].purchases.repeat_history(batch[i][2], unit) for i in rows])  # type: ignore[union-attr]
    uses = None
    if models.value.lapse_model == "auto":
        if used is None:
            used = [bool((u := st.usage) and u.count) for _, st, _, _, _ in batch]
        uses = np.asarray(used, dtype=bool)[rows]
    scores: ValueScores = score_values(models.value, snap, hist[:, 0], hist[:, 1], hist[:, 2], hist[:, 3], uses)
    table = np.column_stack(scores)
    return {i: tuple(float(v) for v in row) for i, row in zip(rows, table, strict=True)}


def assess(
    batch: Batch,
    models: Models,
    language: str = "en",
    currency: str = "USD",
    cols: Columns | None = None,
    no_purchase: Sequence[bool] | None = None,
) -> None:
    """Score value and churn risk of each customer of the batch (mutating its state and
    :class:`Scored`): value-tier changes, churn-risk level counts and events, due times.

    ``no_purchase``: per customer, whether it is scored for events none of which is a
    purchase (``None``: every one has one, or is re-scored by the sweep). With
    ``models.value_down_on_purchase`` such a customer's value tier does not move down: its
    CLV is lower only because time has passed until a use or an answer, and the next
    purchase, often within the day, would move it back (docs/SEGMENTS.md).

    Value and churn risk are computed for the whole batch at once; per customer, only its
    outlook record and any change are built."""
    if not batch:
        return
    cols = cols if cols is not None else Columns.of([b[1] for b in batch], [b[2] for b in batch])
    act = activity(cols, models.usage)
    values = batch_values(batch, models, act.used)
    snap = models.value_snapshot
    churn = models.churn
    n = len(batch)
    table = np.full((n, 5), np.nan)  # p_alive, expected purchases, P(no purchase), spend, CLV
    for i, row in values.items():
        table[i] = row
    was_high = np.array([bool(b[1].outlook and b[1].outlook.high) for b in batch], dtype=bool)
    risks = score_churn(table[:, 2], act, was_high, churn)
    # every stored number of the batch at once, as the integers the outlook keeps
    ints = np.column_stack(
        [_bps(table[:, 0]), _bps(table[:, 1], 1000), _bps(table[:, 3], 100), _bps(table[:, 4], 100), _bps(risks.score)]
    ).tolist()
    total = risks.hazards.sum(axis=1)
    with np.errstate(all="ignore"):
        drivers = _bps(risks.hazards / total[:, None]).tolist()
    previous = [b[1].segments.get("value") for b in batch]
    hold = np.asarray(no_purchase, dtype=bool) if no_purchase is not None and models.value_down_on_purchase else None
    tiers = _tiers(table[:, 4], snap.tier_edges if snap else [], cols.p_spend, previous, models.value_margin, hold)
    score, high_now = risks.score.tolist(), risks.high.tolist()
    near = churn.enter - NEAR_ENTRY
    for i, (cid, st, now, trigger, scored) in enumerate(batch):
        val = values.get(i)
        old = st.outlook or Outlook()
        high = high_now[i]
        if val and snap and (tier := tiers[i]) and tier != st.segments.get("value"):
            reason = _tier_reason(tier, val[4], models.value.clv_months, currency, language)
            feats = {"clv": round(val[4], 2), "p_alive": round(val[0], 4), "expected_purchases": round(val[1], 3)}
            name = catalogue.name("value", tier, language)
            record_change(st, scored, cid, trigger, "value", tier, name, reason, feats)
        if st.outlook is None or high != old.high:
            level, was = ("high" if high else "normal"), ("high" if old.high else "normal")
            scored.changes.append(("churn_risk", None if st.outlook is None else was, level))
        p_alive, purchases, spend, clv, risk_bp = ints[i]
        st.outlook = Outlook(
            version=snap.version if snap and val else 0,
            p_alive_bp=p_alive if val else 0,
            purchases_milli=purchases if val else 0,
            spend_minor=spend if val else 0,
            clv_minor=clv if val else 0,
            risk_bp=risk_bp,
            high=high,
            changed_us=now if high != old.high else old.changed_us,
            drivers_bp=drivers[i] if total[i] > 0 else [],
        )
        if high != old.high:
            scored.churn.append(churn_event(cid, st, now, trigger, risks.risk(i), high, val, models, language))
        if not high and score[i] >= near and scored.due_us is not None:
            scored.due_us = min(scored.due_us, now + US_PER_DAY)


def _bps(v: np.ndarray, scale: int = 10_000) -> np.ndarray:
    """Values as integers in 1/scale units (round half to even, like :func:`round`; 0 for NaN)."""
    with np.errstate(all="ignore"):
        return np.where(np.isfinite(v), np.round(v * scale), 0).astype(np.int64)


def _tiers(
    clv: np.ndarray,
    edges: list[float],
    spend_minor: np.ndarray,
    previous: list[str | None] | None = None,
    margin: float = 0.0,
    hold: np.ndarray | None = None,
) -> list[str | None]:
    """The value tier of each CLV (see :func:`segstream.models.value.tier_of`); a customer
    who has spent nothing is in the bottom tier whatever its CLV; one in a tier
    (``previous``) leaves it only with a CLV ``margin`` (a share of the edge) past the
    edge, and not for a lower one where ``hold`` is true (docs/SEGMENTS.md).

    >>> clv, spend = np.array([5.0, 5.0, 50.0]), np.array([100, 100, 100])
    >>> _tiers(clv, [10.0, 20.0, 30.0], spend, ["high", "high", "high"], hold=np.array([True, False, True]))
    ['high', 'low', 'top']
    """
    if not edges:
        return [None] * len(clv)
    e = np.asarray(edges)[None, :]
    with np.errstate(invalid="ignore"):
        below = (clv[:, None] > e).sum(axis=1)
        if previous is not None and (margin > 0 or hold is not None):
            rank = {t: len(TIERS) - 1 - i for i, t in enumerate(TIERS)}
            was = np.array([rank.get(t, -1) if t else -1 for t in previous])
            if margin > 0:
                low = (clv[:, None] > e * (1 + margin)).sum(axis=1)
                high = (clv[:, None] > e * (1 - margin)).sum(axis=1)
                below = np.where(was >= 0, np.clip(was, low, high), below)
            if hold is not None:
                below = np.where(hold, np.maximum(below, was), below)  # was -1: no tier to hold
        below = np.where(spend_minor > 0, below, 0)
    codes = [TIERS[len(TIERS) - 1 - b] for b in below.tolist()]
    return [c if ok else None for c, ok in zip(codes, np.isfinite(clv).tolist(), strict=True)]


def _tier_reason(tier: str, value: float, months: int, currency: str, language: str) -> str:
    name = catalogue.name("value", tier, language)
    return catalogue.reason("value", language, tier=name, clv=value, months=months, currency=currency)


def playbook_names(
    st: CustomerState, now: int, risk: Risk, val: tuple[float, ...] | None, models: Models
) -> dict[str, Any]:
    """What a playbook expression can read about one customer."""
    names = rule_names(st, now, models)
    names.update(
        cluster=st.segments.get("cluster"),
        value_tier=st.segments.get("value"),
        churn_score=risk.score,
        top_driver=next(iter(risk.shares), None),
        drivers=tuple(risk.shares),
        clv=val[4] if val else None,
        p_alive=val[0] if val else None,
        expected_purchases=val[1] if val else None,
        days_to_renewal=models.profile.days_to_renewal(st.profile, now),
        segments=dict(st.segments),
    )
    return names


def churn_event(
    cid: str,
    st: CustomerState,
    now: int,
    trigger: Trigger,
    risk: Risk,
    high: bool,
    val: tuple[float, ...] | None,
    models: Models,
    language: str,
) -> ChurnRisk:
    """The event of a customer entering (``high``) or leaving high churn risk."""
    action = None
    if high and models.playbook is not None:
        action = models.playbook.action_for(playbook_names(st, now, risk, val, models))
    why = ", ".join(f"{catalogue.driver(d, language)} {share:.0%}" for d, share in risk.shares.items())
    c = models.churn
    kind = "churn_high" if high else "churn_down"
    head = catalogue.reason(kind, language, score=risk.score, enter=c.enter, leave=c.leave)
    reason = catalogue.reason("with_drivers", language, head=head, drivers=why) if why else head
    return ChurnRisk(
        event_id=f"{trigger.id}-churn",
        customer_id=cid,
        ts=from_us(trigger.ts_us),
        score=round(risk.score, 4),
        level="high" if high else "normal",
        drivers=[Driver(d, round(share, 4)) for d, share in risk.shares.items()],
        value_tier=st.segments.get("value"),
        action=action.code if action else None,
        action_name=action.label(language) if action else None,
        reason=reason,
        p_alive=round(val[0], 4) if val else None,
        clv=round(val[4], 2) if val and np.isfinite(val[4]) else None,
        segments=dict(st.segments),
    )
