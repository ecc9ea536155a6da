"""Churn risk in [0, 1] from named drivers, with hysteresis between normal and high risk.

Each driver is a number in [0, 1] that says how strongly one signal points to churn:

``purchase_lapse``
    P(no purchase in the horizon) under BG/NBD, given the customer's repeat history. Unlike
    P(alive), which is 1 for every one-time buyer, it keeps rising as a one-time buyer stays
    silent, so one-time buyers are ranked too; for them it also counts the chance that they
    dropped out after the first purchase, as far as their silence since says (the modified
    BG/NBD; ``SEGSTREAM_CHURN_ONE_TIME_DROPOUT``, :class:`segstream.models.value.ValueModel`), or
    under Pareto/NBD (``SEGSTREAM_CHURN_LAPSE_MODEL=paretonbd``).
``usage_decline``
    ``(1 - trend) * surprise``: the short/long usage rate ratio fell, weighted by how
    unusual the current silence is for this customer's own rate: ``surprise`` is
    ``-log10 P(no use in silent_days)`` at a Poisson rate, over 2, capped at 1 — a silence
    with a 1% chance counts fully, one with a 22% chance (a 0.1-a-day user silent for 15
    days) a third.
``detractor``
    1 when the latest NPS answer is a detractor (0-6).
``complaints``
    ``1 - 0.5 ** (open_complaints * severity / 3)``: each open complaint halves the
    chance of staying at the middle severity 3 (a complaint without a severity counts as
    3); ``severity`` is the mean severity (1-5) of the customer's rated complaints, so an
    open severity-5 complaint weighs as much as 1.67 middling ones and a severity-1 one a
    third of one.
``falling_satisfaction``
    the short-horizon satisfaction (NPS/CSAT, 0..1) below the long-horizon level:
    ``clip(-4 * trend, 0, 1)`` (a fall of a quarter of the scale counts fully).

They are combined by a noisy-OR, ``score = 1 - Π (1 - w_i d_i)``, so any strong driver
alone makes the risk high and independent signals add up without leaving [0, 1]. Because
``-log(1 - score) = Σ -log(1 - w_i d_i)``, each driver's share of that sum is an exact
attribution of the score: the weights reported with a churn-risk event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, NamedTuple

from segstream.models.satisfaction import DEFAULT_SEVERITY, SatisfactionFeatures
from segstream.models.usage import UsageFeatures

__all__ = ["DEFAULT_WEIGHTS", "DRIVERS", "ChurnModel", "Risk", "parse_weights"]

DRIVERS: Final = ("purchase_lapse", "usage_decline", "detractor", "complaints", "falling_satisfaction")
DEFAULT_WEIGHTS: Final = {
    "purchase_lapse": 0.9,
    "usage_decline": 0.8,
    "detractor": 0.4,
    "complaints": 0.5,
    "falling_satisfaction": 0.4,
}
#: -ln P(silence) at which a usage silence counts fully: P = 1% (-log10 P = 2).
SURPRISE_FULL: Final = 2 * math.log(10)
_CAP: Final = 1 - 1e-9  # keeps log(1 - w d) finite when a weight and a driver are both 1


class Risk(NamedTuple):
    score: float  # in [0, 1]
    shares: dict[str, float]  # driver -> share of the score, descending, summing to 1 (empty when 0)


def parse_weights(text: str) -> dict[str, float]:
    """``"purchase_lapse=0.9,complaints=0.5"`` -> weights (unnamed drivers keep their default).

    >>> parse_weights("complaints=0.7")["complaints"], parse_weights("")["detractor"]
    (0.7, 0.4)
    """
    weights = dict(DEFAULT_WEIGHTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in DRIVERS:
            raise ValueError(f"expected driver=weight with a driver of {', '.join(DRIVERS)}, got {part!r}")
        try:
            w = float(value)
        except ValueError:
            raise ValueError(f"weight of {name.strip()} is not a number: {value!r}") from None
        if not 0 <= w <= 1:
            raise ValueError(f"weight of {name.strip()} must be in [0, 1], got {w}")
        weights[name.strip()] = w
    return weights


class ChurnModel:
    """Drivers, score and risk level of one customer.

    Parameters
    ----------
    weights
        Weight in [0, 1] of each of :data:`DRIVERS` (missing ones: :data:`DEFAULT_WEIGHTS`).
    enter, leave
        A customer enters high risk when the score reaches ``enter`` and leaves it only when
        the score falls below ``leave`` (< ``enter``), so it does not flap at the boundary.
    lapse_needs_silence
        For a customer who uses the product, ``purchase_lapse`` counts only as far as its
        usage has gone quiet: times the larger of the usage silence's ``surprise`` (as in
        ``usage_decline``) and ``days since the last use / lapse_silence_days`` (capped at
        1). A one-time buyer who uses the product every day is not leaving; one whose only
        use was months ago counts fully. Customers without usage events are not affected.
    lapse_silence_days
        Days without use after which ``purchase_lapse`` counts fully whatever the rate.

    Examples
    --------
    >>> m = ChurnModel(enter=0.7, leave=0.5)
    >>> d = m.drivers(p_no_purchase=0.6, satisfaction=None, usage=None)
    >>> risk = m.predict_one(d)
    >>> round(risk.score, 2), list(risk.shares)
    (0.54, ['purchase_lapse'])
    >>> m.level(0.72, was_high=False), m.level(0.6, was_high=True), m.level(0.45, was_high=True)
    (True, True, False)
    >>> d |= {"complaints": 1 - 0.5 ** 2}           # two open complaints as well
    >>> risk = m.predict_one(d)
    >>> round(risk.score, 2), {k: round(v, 2) for k, v in risk.shares.items()}
    (0.71, {'purchase_lapse': 0.62, 'complaints': 0.38})
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        enter: float = 0.7,
        leave: float = 0.5,
        lapse_needs_silence: bool = True,
        lapse_silence_days: float = 30.0,
    ) -> None:
        merged = {**DEFAULT_WEIGHTS, **(weights or {})}
        unknown = set(merged) - set(DRIVERS)
        if unknown:
            raise ValueError(f"unknown churn driver(s): {', '.join(sorted(unknown))}")
        if any(not 0 <= w <= 1 for w in merged.values()):
            raise ValueError("churn driver weights must be in [0, 1]")
        if not 0 < leave < enter <= 1:
            raise ValueError(f"need 0 < leave < enter <= 1, got leave={leave}, enter={enter}")
        self.weights = weights
        self.enter = enter
        self.leave = leave
        self.lapse_needs_silence = lapse_needs_silence
        self.lapse_silence_days = lapse_silence_days
        self._w = merged

    def drivers(
        self,
        *,
        p_no_purchase: float | None,
        usage: UsageFeatures | None,
        satisfaction: SatisfactionFeatures | None,
    ) -> dict[str, float]:
        """The drivers that apply to a customer (absent signals are left out)."""
        out: dict[str, float] = {}
        quiet = 1.0  # how far the customer's use has gone quiet (1 without usage data)
        if usage is not None and usage.events:
            silent = usage.days_since_last if math.isfinite(usage.days_since_last) else 0.0
            unusual = min(1.0, usage.rate_long * silent / SURPRISE_FULL)
            quiet = max(unusual, min(1.0, silent / self.lapse_silence_days))
            if usage.trend is not None:
                out["usage_decline"] = max(0.0, 1.0 - min(1.0, usage.trend)) * unusual
        if p_no_purchase is not None and math.isfinite(p_no_purchase):
            lapse = min(1.0, max(0.0, p_no_purchase))
            out["purchase_lapse"] = lapse * quiet if self.lapse_needs_silence else lapse
        if satisfaction is not None:
            if satisfaction.nps_class is not None:
                out["detractor"] = 1.0 if satisfaction.nps_class == "detractor" else 0.0
            if satisfaction.open_complaints:
                sev = satisfaction.complaint_severity or DEFAULT_SEVERITY
                out["complaints"] = 1.0 - 0.5 ** (satisfaction.open_complaints * sev / DEFAULT_SEVERITY)
            if satisfaction.trend is not None:
                out["falling_satisfaction"] = min(1.0, max(0.0, -4.0 * satisfaction.trend))
        return out

    def predict_one(self, drivers: Mapping[str, float]) -> Risk:
        """The noisy-OR score of the drivers and each driver's share of it."""
        hazards = {k: -math.log1p(-min(_CAP, self._w[k] * v)) for k, v in drivers.items() if v > 0 and self._w[k]}
        total = sum(hazards.values())
        if total <= 0:
            return Risk(0.0, {})
        shares = {k: h / total for k, h in sorted(hazards.items(), key=lambda kv: -kv[1])}
        return Risk(-math.expm1(-total), shares)

    def level(self, score: float, was_high: bool) -> bool:
        """High risk now? (hysteresis: enter at ``enter``, leave below ``leave``)."""
        return score >= self.leave if was_high else score >= self.enter
