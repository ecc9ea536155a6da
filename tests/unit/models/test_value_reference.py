"""score_values and fit_value against references written independently of the module:
the closed forms of the papers (closed_forms.py), hand arithmetic, and pandas quantiles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from segstream.models.bgnbd import BGNBDParams, simulate
from segstream.models.gammagamma import GammaGammaParams
from segstream.models.value import ValueModel, ValueSnapshot, fit_value, score_values, tier_of
from tests.unit.models import closed_forms as cf

BG = (0.243, 4.414, 0.793, 2.426)  # CDNOW, weeks
GG = (6.25, 3.74, 15.44)
# (x, t_x, T, m_x) in weeks: a repeat buyer seen lately, one silent for long, a one-off buyer
CUSTOMERS = [(2, 30.43, 38.86, 40.0), (2, 5.0, 38.86, 40.0), (0, 0.0, 38.86, 0.0), (5, 3.0, 5.0, 12.5)]


def snap(gg: bool = True, edges: list[float] | None = None) -> ValueSnapshot:
    return ValueSnapshot(
        1, 0, "", 100, BGNBDParams(*BG, -1.0, 100, True),
        GammaGammaParams(*GG, -1.0, 100, True) if gg else None, edges or [], 0,
    )  # fmt: skip


def columns(rows: list[tuple[float, ...]]) -> list[list[float]]:
    return [list(c) for c in zip(*rows, strict=True)]


@pytest.mark.parametrize(
    ("months", "discount", "unit_days"), [(12, 0.01, 7.0), (3, 0.05, 7.0), (12, 0.0, 7.0), (6, 0.02, 1.0)]
)
def test_clv_is_the_discounted_monthly_purchases_times_the_gamma_gamma_spend(
    months: int, discount: float, unit_days: float
) -> None:
    model = ValueModel(clv_months=months, discount_monthly=discount, unit_days=unit_days)
    scale = 7.0 / unit_days  # the customers' weeks in the model's unit
    rows = [(x, tx * scale, T * scale, m) for x, tx, T, m in CUSTOMERS]
    s = score_values(model, snap(), *columns(rows))
    for i, (x, tx, T, m) in enumerate(rows):
        # the snapshot's parameters are taken as fitted in the model's unit; a month is
        # 30.4375 / unit_days units (4.348 weeks, 30.4375 days)
        bg = BG
        spend = cf.expected_spend(*GG, x, m)
        assert math.isclose(s.expected_spend[i], spend, rel_tol=1e-12)
        assert math.isclose(s.clv[i], cf.clv(bg, spend, x, tx, T, months, discount, unit_days), rel_tol=1e-9)


def test_clv_of_the_cdnow_customer_by_hand() -> None:
    # Fader-Hardie CDNOW parameters, x = 2, t_x = 30.43, T = 38.86, m_x = 40: E[Z] =
    # 6.25 (15.44 + 80) / (12.5 + 2.74) = 596.5 / 15.24 = 39.1404, and 12 discounted months of
    # expected purchases (closed forms) give 57.62; the segstream clv doctest says the same
    s = score_values(ValueModel(), snap(), [2], [30.43], [38.86], [40.0])
    assert round(float(s.expected_spend[0]), 4) == 39.1404
    assert round(float(s.clv[0]), 2) == 57.62


def test_without_gamma_gamma_clv_uses_the_customers_own_mean_spend() -> None:
    for model in (ValueModel(), ValueModel(unit_days=1.0, discount_monthly=0.03, clv_months=4)):
        scale = 7.0 / model.unit_days
        rows = [(x, tx * scale, T * scale, m) for x, tx, T, m in CUSTOMERS]
        s = score_values(model, snap(gg=False), *columns(rows))
        bg = BG  # as fitted in the model's unit
        for i, (x, tx, T, m) in enumerate(rows):
            assert s.expected_spend[i] == m
            ref = cf.clv(bg, m, x, tx, T, model.clv_months, model.discount_monthly, model.unit_days)
            assert math.isclose(s.clv[i], ref, rel_tol=1e-9, abs_tol=1e-12)


def test_p_no_purchase_is_dead_or_alive_and_silent_over_the_horizon() -> None:
    s = score_values(ValueModel(one_time_dropout=False), snap(), *columns(CUSTOMERS))
    default = score_values(ValueModel(one_time_dropout=True), snap(), *columns(CUSTOMERS))
    r, alpha, a, b = BG
    h = 90 / 7  # default horizon: 90 days, in weeks
    for i, (x, tx, T, _) in enumerate(CUSTOMERS):
        alive = cf.p_alive(*BG, x, tx, T)
        # alive with rate λ ~ Gamma(r + x, α + T): P(no purchase in h) = ((α+T) / (α+T+h))^(r+x)
        silent = ((alpha + T) / (alpha + T + h)) ** (r + x)
        assert math.isclose(s.p_alive[i], alive, rel_tol=1e-12)
        assert math.isclose(s.p_no_purchase[i], (1 - alive) + alive * silent, rel_tol=1e-12)
        assert math.isclose(s.expected_purchases[i], cf.expected_purchases(*BG, h, x, tx, T), rel_tol=1e-9)
        # with the option a one-time buyer's survival is the modified BG/NBD's P(alive | T) / P(alive | 0),
        # P(alive | T) = 1 / (1 + a / b ((α+T) / α)^r) (Batislam et al. 2007, x = 0); repeat buyers as above
        survival = (1 / (1 + a / b * ((alpha + T) / alpha) ** r)) / (1 / (1 + a / b)) if x == 0 else None
        expected = 1 - survival * (1 - silent) if survival is not None else s.p_no_purchase[i]
        assert math.isclose(default.p_no_purchase[i], expected, rel_tol=1e-12)
        assert default.p_alive[i] == s.p_alive[i] and default.clv[i] == s.clv[i]


def test_tier_of_counts_the_edges_strictly_below_the_value() -> None:
    edges = [10.0, 20.0, 30.0]
    got = [tier_of(v, edges) for v in (5.0, 10.0, 15.0, 20.0, 25.0, 30.5)]
    assert got == ["low", "low", "medium", "medium", "high", "top"]
    assert tier_of(float("nan"), edges) is None and tier_of(25.0, []) is None


def test_tier_edges_are_the_clv_quantiles_at_half_80_and_95_percent() -> None:
    x, t_x, T = simulate(400, r=0.5, alpha=4.0, a=0.8, b=2.5, T=40.0, seed=7)
    rng = np.random.default_rng(7)
    m_x = np.where(x > 0, rng.gamma(6.0, 5.0, len(x)), 0.0)
    s = fit_value(ValueModel(), x, t_x, T, m_x, as_of_us=0, version=1, revenue_minor=0)
    assert s.status == "ok" and s.bgnbd is not None and s.gammagamma is not None
    b, g = s.bgnbd, s.gammagamma
    ref = [
        cf.clv((b.r, b.alpha, b.a, b.b), cf.expected_spend(g.p, g.q, g.v, int(k), m), int(k), tx, age)
        for k, tx, age, m in zip(x, t_x, T, m_x, strict=True)
    ]
    edges = pd.Series(ref).quantile([0.5, 0.8, 0.95]).tolist()  # pandas: linear, as numpy
    assert s.tier_edges == pytest.approx(edges, rel=1e-7)
