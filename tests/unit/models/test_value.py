"""Customer value: fitting the purchase models together, scoring a batch, and value tiers."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from numpy.typing import ArrayLike

from segstream.models.bgnbd import BGNBDParams, simulate
from segstream.models.gammagamma import GammaGammaParams
from segstream.models.paretonbd import ParetoNBDParams
from segstream.models.value import ValueModel, ValueScores, ValueSnapshot, fit_value, score_values, tier_of

R, ALPHA, A, B = 0.5, 4.0, 0.8, 2.5  # BG/NBD, weeks
P, Q, V = 6.0, 4.0, 15.0  # Gamma-Gamma: mean spend per transaction p v / (q - 1) = 30


def population(n: int = 3000, seed: int = 4) -> tuple[np.ndarray, ...]:
    """``(x, t_x, T, m_x)`` drawn from BG/NBD and Gamma-Gamma over 40 weeks."""
    x, t_x, T = simulate(n, r=R, alpha=ALPHA, a=A, b=B, T=40.0, seed=seed)
    rng = np.random.default_rng(seed)
    nu = rng.gamma(Q, 1 / V, n)
    m_x = np.array([rng.gamma(P, 1 / rate, int(k)).mean() if k else 0.0 for rate, k in zip(nu, x, strict=True)])
    return x, t_x, T, m_x


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
    model: ValueModel | None = None,
    version: int = 1,
    previous: ValueSnapshot | None = None,
    **kw: Any,
) -> ValueSnapshot:
    kw = {"as_of_us": 0, "revenue_minor": 0, **kw}
    return fit_value(model or ValueModel(), x, t_x, T, m_x, version=version, previous=previous, **kw)


def snapshot(
    bgnbd: BGNBDParams | None = None, gammagamma: GammaGammaParams | None = None, version: int = 1
) -> ValueSnapshot:
    return ValueSnapshot(version, 0, "", 100, bgnbd, gammagamma, [10.0, 20.0, 30.0], 0)


def bg(r: float = R, alpha: float = ALPHA, a: float = A, b: float = B) -> BGNBDParams:
    return BGNBDParams(r, alpha, a, b, -1.0, 100, True)


def gg(p: float = P, q: float = Q, v: float = V) -> GammaGammaParams:
    return GammaGammaParams(p, q, v, -1.0, 100, True)


def scores(
    snap: ValueSnapshot, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, m_x: ArrayLike, model: ValueModel | None = None
) -> ValueScores:
    return score_values(model or ValueModel(), snap, x, t_x, T, m_x)


# ------------------------------------------------------------------ fitting


@pytest.fixture(scope="module")
def fitted() -> ValueSnapshot:
    return fit(*population(), as_of_us=123, version=7, revenue_minor=10**6, fitted_at="2024-01-01T00:00:00Z")


def test_fit_on_simulated_data_roughly_recovers_the_bgnbd_parameters(fitted: ValueSnapshot) -> None:
    assert fitted.bgnbd is not None and fitted.bgnbd.converged
    got = fitted.bgnbd
    assert (got.r, got.alpha, got.a, got.b) == pytest.approx((R, ALPHA, A, B), rel=0.2)


def test_fit_on_simulated_data_roughly_recovers_the_mean_spend_per_transaction(fitted: ValueSnapshot) -> None:
    assert fitted.gammagamma is not None and fitted.gammagamma.converged
    p, q, v = fitted.gammagamma.p, fitted.gammagamma.q, fitted.gammagamma.v
    assert p * v / (q - 1) == pytest.approx(P * V / (Q - 1), rel=0.1)


def test_successful_fit_has_status_ok_and_three_ascending_tier_edges(fitted: ValueSnapshot) -> None:
    assert fitted.status == "ok"
    assert len(fitted.tier_edges) == 3
    assert fitted.tier_edges == sorted(fitted.tier_edges) and fitted.tier_edges[0] < fitted.tier_edges[-1]
    assert (fitted.version, fitted.as_of_us, fitted.customers, fitted.revenue_minor) == (7, 123, 3000, 10**6)
    assert fitted.fitted_at == "2024-01-01T00:00:00Z"


def test_tier_edges_are_the_clv_quantiles_of_the_population(fitted: ValueSnapshot) -> None:
    clv = scores(fitted, *population()).clv
    assert fitted.tier_edges == pytest.approx(list(np.quantile(clv, (0.5, 0.8, 0.95))))


def test_fit_without_any_repeat_purchase_keeps_the_previous_parameters(fitted: ValueSnapshot) -> None:
    n = 100
    bgnbd = ValueModel(lapse_model="bgnbd")
    snap = fit(np.zeros(n), np.zeros(n), np.full(n, 10.0), np.zeros(n), version=8, previous=fitted, model=bgnbd)
    assert snap.bgnbd == fitted.bgnbd and snap.gammagamma == fitted.gammagamma
    assert snap.bgnbd_status == "BG/NBD: no repeat purchases; previous parameters kept (v7)"
    assert snap.gammagamma_status == (
        "Gamma-Gamma: 0 repeat buyers, fewer than 30: not fitted; previous parameters kept (v7)"
    )
    assert snap.status == f"{snap.bgnbd_status}; {snap.gammagamma_status}"
    # the default lapse model ("auto") fits Pareto/NBD too, which fails the same way
    snap = fit(np.zeros(n), np.zeros(n), np.full(n, 10.0), np.zeros(n), version=8, previous=fitted)
    assert snap.paretonbd == fitted.paretonbd is not None
    assert snap.paretonbd_status == "Pareto/NBD: no repeat purchases; previous parameters kept (v7)"
    assert snap.status == f"{snap.bgnbd_status}; {snap.gammagamma_status}; {snap.paretonbd_status}"
    assert (snap.version, snap.customers) == (8, n)


def test_fit_on_too_few_customers_keeps_the_previous_parameters(fitted: ValueSnapshot) -> None:
    x, t_x, T, m_x = (a[:10] for a in population())
    snap = fit(x, t_x, T, m_x, version=8, previous=fitted)
    assert snap.bgnbd == fitted.bgnbd and snap.gammagamma == fitted.gammagamma
    assert snap.status == "10 customers with purchases, fewer than 50: not fitted; previous parameters kept (v7)"


def test_failed_first_fit_says_there_are_no_parameters_yet() -> None:
    x, t_x, T, m_x = (a[:10] for a in population())
    snap = fit(x, t_x, T, m_x)
    assert snap.bgnbd is None and snap.gammagamma is None and snap.tier_edges == []
    assert snap.status.endswith("; no parameters yet")


def test_min_customers_decides_whether_a_small_population_is_fitted() -> None:
    x, t_x, T, m_x = (a[:400] for a in population())
    assert "not fitted" in fit(x, t_x, T, m_x, model=ValueModel(min_customers=401)).status
    assert fit(x, t_x, T, m_x, model=ValueModel(min_customers=400)).bgnbd is not None


# ------------------------------------------------------------------ scoring


def test_one_time_buyer_p_no_purchase_rises_with_age_while_p_alive_stays_one() -> None:
    ages = [1.0, 5.0, 20.0, 60.0, 200.0]
    s = scores(snapshot(bg(), gg()), 0, 0.0, ages, 0.0)
    assert list(s.p_alive) == [1.0] * len(ages)
    assert (np.diff(s.p_no_purchase) > 0).all()


def test_p_no_purchase_of_a_one_time_buyer_matches_the_hand_computation() -> None:
    r, alpha, a, b = 0.25, 4.5, 0.8, 2.4
    model = ValueModel(horizon_days=91.0, unit_days=7.0, one_time_dropout=False)  # horizon h = 13 weeks
    s = scores(snapshot(bg(r, alpha, a, b)), [0], [0.0], [10.0], [0.0], model=model)
    # x = 0: alive for sure; silent in (T, T + h] with probability ((alpha + T) / (alpha + T + h)) ** (r + x)
    # = (14.5 / 27.5) ** 0.25 = 0.527273 ** 0.25 = 0.852136
    assert s.p_no_purchase[0] == pytest.approx((14.5 / 27.5) ** 0.25)
    assert s.p_no_purchase[0] == pytest.approx(0.852136, abs=1e-6)
    # with the option, survival scaled by the modified BG/NBD's evidence of the silence:
    # (1 + a/b) / (1 + a/b * ((alpha + T) / alpha) ** r) = 1.333333 / (1 + 0.333333 * 3.222222 ** 0.25)
    # = 1.333333 / (1 + 0.333333 * 1.339797) = 0.921702, and 1 - 0.921702 * (1 - 0.852136) = 0.863713
    dropout = ValueModel(horizon_days=91.0, one_time_dropout=True)
    s = scores(snapshot(bg(r, alpha, a, b)), [0], [0.0], [10.0], [0.0], model=dropout)
    assert s.p_no_purchase[0] == pytest.approx(0.863713, abs=1e-6)


def test_repeat_buyer_p_no_purchase_is_at_least_the_probability_of_being_dead() -> None:
    x = np.array([1, 2, 5, 10, 10])
    t_x = np.array([2.0, 30.0, 10.0, 39.0, 5.0])
    s = scores(snapshot(bg(), gg()), x, t_x, 40.0, 25.0)
    assert (s.p_alive < 1).all()
    assert (s.p_no_purchase >= 1 - s.p_alive).all()
    assert (s.p_no_purchase <= 1).all()


def test_long_silent_repeat_buyer_is_less_alive_and_more_likely_silent_than_a_recent_one() -> None:
    s = scores(snapshot(bg(), gg()), [5, 5], [39.0, 5.0], 40.0, 30.0)
    assert s.p_alive[0] > s.p_alive[1]
    assert s.p_no_purchase[0] < s.p_no_purchase[1]
    assert s.expected_purchases[0] > s.expected_purchases[1]


def test_clv_grows_with_the_months_it_sums() -> None:
    clvs = [
        scores(snapshot(bg(), gg()), [3], [30.0], [40.0], [25.0], ValueModel(clv_months=m)).clv[0]
        for m in (1, 6, 12, 36)
    ]
    assert clvs == sorted(clvs) and len(set(clvs)) == 4 and clvs[0] > 0


def test_clv_without_gamma_gamma_also_grows_with_the_months_it_sums() -> None:
    clvs = [scores(snapshot(bg()), [3], [30.0], [40.0], [25.0], ValueModel(clv_months=m)).clv[0] for m in (1, 12)]
    assert 0 < clvs[0] < clvs[1]


def test_without_gamma_gamma_the_expected_spend_is_the_customers_own_mean() -> None:
    m_x = [0.0, 12.5, 80.0]
    s = scores(snapshot(bg()), [0, 2, 7], [0.0, 10.0, 30.0], 40.0, m_x)
    assert list(s.expected_spend) == m_x


def test_gamma_gamma_shrinks_the_expected_spend_towards_the_population_mean() -> None:
    s = scores(snapshot(bg(), gg()), [1, 1], [10.0, 10.0], 40.0, [5.0, 200.0])
    population_mean = P * V / (Q - 1)
    assert 5.0 < s.expected_spend[0] < population_mean < s.expected_spend[1] < 200.0


def test_without_bgnbd_parameters_every_output_is_nan() -> None:
    s = scores(snapshot(None, gg()), [0, 3], [0.0, 30.0], 40.0, [0.0, 25.0])
    for values in s:
        assert values.shape == (2,) and np.isnan(values).all()


# ------------------------------------------------------------------ tiers


@pytest.mark.parametrize(
    ("clv", "tier"),
    [(5.0, "low"), (10.0, "low"), (15.0, "medium"), (20.0, "medium"), (25.0, "high"), (35.0, "top")],
)
def test_tier_of_places_a_clv_between_the_edges(clv: float, tier: str) -> None:
    assert tier_of(clv, [10.0, 20.0, 30.0]) == tier


@pytest.mark.parametrize(("clv", "edges"), [(math.nan, [10.0, 20.0, 30.0]), (15.0, [])])
def test_tier_of_is_none_without_a_finite_clv_or_edges(clv: float, edges: list[float]) -> None:
    assert tier_of(clv, edges) is None


# ------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    "kwargs",
    [
        {"horizon_days": 0},
        {"horizon_days": -5.0},
        {"clv_months": 0},
        {"discount_monthly": -0.01},
        {"unit_days": 0},
        {"tier_quantiles": (0.5, 0.8)},
        {"tier_quantiles": (0.5, 0.8, 0.9, 0.95)},
        {"tier_quantiles": (0.8, 0.5, 0.95)},
    ],
)
def test_value_model_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ValueModel(**kwargs)  # type: ignore[arg-type]


def test_a_one_time_buyers_p_no_purchase_lets_it_have_dropped_out_after_its_first_purchase() -> None:
    # r = alpha = 1, a = b = 2 (weeks), a horizon of one week, T = 3 weeks after the first purchase.
    # One-time buyer, BG/NBD: alive, P(no purchase) = ((1 + 3) / (1 + 3 + 1)) ** 1 = 0.8.
    # Modified BG/NBD (Batislam et al. 2007; lifetimes' ModifiedBetaGeoFitter P(alive)):
    # P(alive | T) = 1 / (1 + a / b * ((alpha + T) / alpha) ** r) = 1 / (1 + 4) = 0.2, and for a new
    # one-time buyer P(alive | 0) = 1 / (1 + 1) = 0.5: survival 0.2 / 0.5 = 0.4, so
    # P(no purchase) = 1 - 0.4 * (1 - 0.8) = 0.92.
    # A new one-time buyer (T = 0) is scored as by BG/NBD: survival 1, ((1 + 0) / (1 + 0 + 1)) ** 1 = 0.5.
    # A repeat buyer (x = 1, t_x = 2) is scored by BG/NBD either way: P(alive) =
    # 1 / (1 + a / (b + x - 1) * (4 / 3) ** 2) = 9 / 25 = 0.36, P(no purchase) = 0.64 + 0.36 * (4 / 5) ** 2
    # = 0.8704.
    snap = snapshot(bg(1.0, 1.0, 2.0, 2.0), gg())
    history = ([0, 1, 0], [0.0, 2.0, 0.0], [3.0, 3.0, 0.0], [0.0, 20.0, 0.0])
    on = scores(snap, *history, ValueModel(horizon_days=7.0, one_time_dropout=True))
    off = scores(snap, *history, ValueModel(horizon_days=7.0, one_time_dropout=False))
    assert on.p_no_purchase.tolist() == pytest.approx([0.92, 0.8704, 0.5])
    assert off.p_no_purchase.tolist() == pytest.approx([0.8, 0.8704, 0.5])
    # only that probability changes: P(alive), expected purchases and CLV stay BG/NBD's
    assert on.p_alive.tolist() == off.p_alive.tolist() == pytest.approx([1.0, 0.36, 1.0])
    assert on.expected_purchases.tolist() == off.expected_purchases.tolist()
    assert on.clv.tolist() == off.clv.tolist()


def test_the_one_time_dropout_follows_its_setting() -> None:
    from segstream.config import load_settings
    from segstream.scoring.models import build_models

    assert build_models(load_settings()).value.one_time_dropout is False  # off by default (docs/QUALITY.md)
    assert build_models(load_settings(churn_one_time_dropout=True)).value.one_time_dropout is True


def test_the_purchase_lapse_is_pareto_nbds_once_it_is_fitted() -> None:
    """P(no purchase in 13 weeks) at the published CDNOW Pareto/NBD parameters, against
    lifetimes 0.11.3 (conditional_probability_of_n_purchases_up_to_time(0, 13, ...), the
    literals of tests/unit/models/test_paretonbd.py); P(alive) and expected purchases stay
    BG/NBD's; without Pareto/NBD parameters, or with the lapse model "bgnbd", the lapse is
    BG/NBD's: (1 - P(alive)) + P(alive) ((alpha + T) / (alpha + T + h)) ** (r + x)."""
    pn = ParetoNBDParams(0.55, 10.58, 0.61, 11.67, -1.0, 100, True)
    snap = msgspec.structs.replace(snapshot(bg(), gg()), paretonbd=pn)
    x, t_x, T, m_x = [0, 2, 10], [0.0, 30.43, 35.0], [38.86, 38.86, 39.0], [0.0, 30.0, 30.0]
    model = ValueModel(horizon_days=91, lapse_model="paretonbd")  # 13 weeks
    s = scores(snap, x, t_x, T, m_x, model)
    assert s.p_no_purchase.tolist() == pytest.approx([0.9669114030340187, 0.6338875986197388, 0.19140550310331989])
    old = scores(snapshot(bg(), gg()), x, t_x, T, m_x, model)  # no Pareto/NBD parameters yet
    assert (
        s.p_alive.tolist() == old.p_alive.tolist() and s.expected_purchases.tolist() == old.expected_purchases.tolist()
    )
    h = 13.0
    by_hand = [
        (1 - a) + a * ((ALPHA + t) / (ALPHA + t + h)) ** (R + k) for a, t, k in zip(old.p_alive, T, x, strict=True)
    ]
    assert old.p_no_purchase.tolist() == pytest.approx(by_hand)
    bgnbd_lapse = scores(snap, x, t_x, T, m_x, ValueModel(horizon_days=91, lapse_model="bgnbd"))
    assert bgnbd_lapse.p_no_purchase.tolist() == pytest.approx(by_hand)


def test_the_auto_lapse_is_pareto_nbds_for_purchases_only_and_bgnbds_for_product_users() -> None:
    """The same literals as above: Pareto/NBD's P(no purchase) (lifetimes 0.11.3) for a
    customer who has not used the product, BG/NBD's (by hand) for one who has; without
    ``used``, nobody has."""
    pn = ParetoNBDParams(0.55, 10.58, 0.61, 11.67, -1.0, 100, True)
    snap = msgspec.structs.replace(snapshot(bg(), gg()), paretonbd=pn)
    x, t_x, T, m_x = [0, 2, 10], [0.0, 30.43, 35.0], [38.86, 38.86, 39.0], [0.0, 30.0, 30.0]
    model = ValueModel(horizon_days=91, lapse_model="auto")
    pareto = [0.9669114030340187, 0.6338875986197388, 0.19140550310331989]
    bgnbd = scores(snap, x, t_x, T, m_x, ValueModel(horizon_days=91, lapse_model="bgnbd"))
    h = 13.0
    by_hand = [
        (1 - a) + a * ((ALPHA + t) / (ALPHA + t + h)) ** (R + k) for a, t, k in zip(bgnbd.p_alive, T, x, strict=True)
    ]
    mixed = score_values(model, snap, x, t_x, T, m_x, used=[True, False, True])
    assert mixed.p_no_purchase.tolist() == pytest.approx([by_hand[0], pareto[1], by_hand[2]])
    assert score_values(model, snap, x, t_x, T, m_x).p_no_purchase.tolist() == pytest.approx(pareto)
    assert score_values(model, snap, x, t_x, T, m_x, used=[True] * 3).p_no_purchase.tolist() == pytest.approx(by_hand)
    assert mixed.p_alive.tolist() == bgnbd.p_alive.tolist() and mixed.clv.tolist() == bgnbd.clv.tolist()
    # without Pareto/NBD parameters yet, everyone's lapse is BG/NBD's
    unfitted = score_values(model, snapshot(bg(), gg()), x, t_x, T, m_x, used=[False] * 3)
    assert unfitted.p_no_purchase.tolist() == pytest.approx(by_hand)


def test_pareto_nbd_is_fitted_beside_bgnbd_and_only_when_it_gives_the_lapse() -> None:
    x, t_x, T, m_x = population()
    snap = fit(x, t_x, T, m_x, model=ValueModel(lapse_model="paretonbd"))
    assert snap.paretonbd is not None and snap.paretonbd.converged and snap.paretonbd_status == "ok"
    assert snap.status == "ok" and snap.paretonbd.n == len(x)
    off = fit(x, t_x, T, m_x, model=ValueModel(lapse_model="bgnbd"))
    assert off.paretonbd is None and off.paretonbd_status == "not used" and off.status == "ok"
    auto = fit(x, t_x, T, m_x)  # the default, "auto": Pareto/NBD's lapse for customers with purchases only
    assert ValueModel().lapse_model == "auto"
    assert auto.paretonbd == snap.paretonbd and auto.paretonbd_status == "ok" and auto.status == "ok"
    with pytest.raises(ValueError, match="lapse_model"):
        ValueModel(lapse_model="pareto")


def test_until_pareto_nbd_converges_the_status_says_the_lapse_is_bgnbds() -> None:
    x, t_x, T, m_x = population()
    first = fit(x, t_x, T, m_x, model=ValueModel(lapse_model="bgnbd"))  # BG/NBD's parameters, no Pareto/NBD
    n = 100
    zeros = np.zeros(n), np.zeros(n), np.full(n, 10.0), np.zeros(n)
    snap = fit(*zeros, model=ValueModel(lapse_model="paretonbd"), version=2, previous=first)
    assert snap.paretonbd is None and snap.bgnbd == first.bgnbd
    assert snap.paretonbd_status == "Pareto/NBD: no repeat purchases; no parameters yet"
    assert snap.status.endswith("purchase lapse: BG/NBD's until Pareto/NBD is fitted")


@pytest.mark.parametrize("gamma_gamma", [True, False])
def test_tier_edges_scored_in_slices_are_the_quantiles_of_everyone_scored_at_once(gamma_gamma: bool) -> None:
    # 40,000 customers: more than one slice of fit_value's scoring; without Gamma-Gamma the spend fallback's CLV
    x, t_x, T = simulate(40_000, r=0.24, alpha=4.4, a=0.79, b=2.4, T=39.0, seed=4)
    m = np.where(x > 0, np.random.default_rng(4).gamma(6.0, 5.0, len(x)), 0.0)
    model = ValueModel(min_repeat_buyers=1 if gamma_gamma else 10**9)
    snap = fit_value(model, x, t_x, T, m, as_of_us=0, version=1)
    assert (snap.gammagamma is not None) is gamma_gamma and snap.bgnbd is not None
    everyone = score_values(model, snap, x, t_x, T, m).clv
    want = np.quantile(everyone[np.isfinite(everyone)], model.tier_quantiles)
    assert snap.tier_edges == pytest.approx(list(want), rel=1e-12)
