"""Churn risk of a whole batch: the drivers of every customer as one matrix, the noisy-OR
score, each driver's share and the level with hysteresis (the columnar form of
:class:`segstream.models.churn.ChurnModel`, same rules)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstream.models.churn import _CAP, DRIVERS, SURPRISE_FULL, ChurnModel, Risk
from segstream.models.satisfaction import DEFAULT_SEVERITY
from segstream.scoring.activity import Activity
from segstream.scoring.columns import F64, Mask

#: Column of each driver in :attr:`ChurnScores.shares`.
COLUMN = {d: i for i, d in enumerate(DRIVERS)}


@dataclass(slots=True)
class ChurnScores:
    score: F64  # noisy-OR risk in [0, 1]
    hazards: F64  # n x len(DRIVERS), 0 where a driver is absent or weightless
    high: Mask  # in high risk after this scoring (hysteresis on the stored level)

    def shares(self, i: int) -> list[float]:
        """Each driver's share of customer ``i``'s score, in :data:`DRIVERS` order."""
        h = self.hazards[i]
        total = float(h.sum())
        return [float(v) / total for v in h] if total > 0 else []

    def risk(self, i: int) -> Risk:
        """Customer ``i``'s score and drivers by descending share (as the model gives them)."""
        h = self.hazards[i]
        total = float(h.sum())
        if total <= 0:
            return Risk(0.0, {})
        present = [(d, float(h[j])) for j, d in enumerate(DRIVERS) if h[j] > 0]
        return Risk(float(self.score[i]), {d: v / total for d, v in sorted(present, key=lambda kv: -kv[1])})


def score_churn(p_no_purchase: F64, a: Activity, was_high: Mask, model: ChurnModel) -> ChurnScores:
    """Drivers, score and level of each customer; ``p_no_purchase`` is NaN for a customer
    without a value score."""
    n = len(was_high)
    d = np.full((n, len(DRIVERS)), np.nan)
    with np.errstate(all="ignore"):
        lapse = np.clip(np.where(np.isfinite(p_no_purchase), p_no_purchase, np.nan), 0, 1)
        used = a.used & ~np.isnan(a.trend)
        silent = np.where(np.isfinite(a.usage_days), a.usage_days, 0.0)
        unusual = np.minimum(1.0, a.rate_long * silent / SURPRISE_FULL)
        if model.lapse_needs_silence:  # a buyer who keeps using the product is not leaving
            quiet = np.maximum(unusual, np.minimum(1.0, silent / model.lapse_silence_days))
            lapse = np.where(a.used, lapse * quiet, lapse)
        d[:, COLUMN["purchase_lapse"]] = lapse
        decline = np.maximum(0.0, 1.0 - np.minimum(1.0, a.trend)) * unusual
        d[:, COLUMN["usage_decline"]] = np.where(used, decline, np.nan)
        fb = a.has_f
        d[:, COLUMN["detractor"]] = np.where(fb & (a.nps >= 0), (a.nps >= 0) & (a.nps < 7), np.nan)
        opened = fb & (a.open_complaints > 0)
        weight = a.open_complaints * np.where(np.isnan(a.severity), DEFAULT_SEVERITY, a.severity) / DEFAULT_SEVERITY
        d[:, COLUMN["complaints"]] = np.where(opened, 1.0 - 0.5**weight, np.nan)
        falling = np.clip(-4.0 * a.sat_trend, 0.0, 1.0)
        d[:, COLUMN["falling_satisfaction"]] = np.where(fb & np.isfinite(a.sat_trend), falling, np.nan)
        w = np.array([model._w[k] for k in DRIVERS])
        wd = np.minimum(_CAP, w[None, :] * d)
        hazards = np.where((d > 0) & (w[None, :] > 0), -np.log1p(-wd), 0.0)
    total = hazards.sum(axis=1)
    score = np.where(total > 0, -np.expm1(-total), 0.0)
    high = np.where(was_high, score >= model.leave, score >= model.enter)
    return ChurnScores(score=score, hazards=hazards, high=high)
