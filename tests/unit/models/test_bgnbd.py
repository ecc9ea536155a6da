from __future__ import annotations

import ast
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import hyp2f1

from segstream.models import bgnbd
from segstream.models.bgnbd import (
    BGNBDFitter,
    BGNBDParams,
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_gradient,
    expected_purchases,
    expected_purchases_new,
    p_alive,
    simulate,
)

# shared/ beside the repository; the nearest one above, as mutmut runs the tests from a copy in mutants/
CDNOW_DIR = next(
    (d / "shared" / "data" / "cdnow" for d in Path(__file__).resolve().parents[4:] if (d / "shared").is_dir()),
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cdnow",
)
CDNOW_SUMMARY = CDNOW_DIR / "cdnow_customers_summary.csv"

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", section 5 (CDNOW, weeks)
CDNOW_PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_LL = -9582.4
CDNOW = (0.243, 4.414, 0.793, 2.426)


def sig3(v: float) -> float:
    return float(f"{v:.3g}")


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    # a missing file is a failure, not a skip: the published values are the point of these tests
    assert CDNOW_SUMMARY.is_file(), f"CDNOW summary missing: {CDNOW_SUMMARY}"
    df = pd.read_csv(CDNOW_SUMMARY)
    assert list(df.columns) == ["ID", "frequency", "recency", "T"] and len(df) == 2357
    return df


def lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def ll_by_hand(r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float) -> float:
    """Fader, Hardie & Lee (2005) eq. 5 as printed: the two-term sum, each term in full."""
    gamma_part = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    alive = math.exp(lbeta(a, b + x) - lbeta(a, b) + gamma_part - (r + x) * math.log(alpha + T))
    dropped = 0.0
    if x > 0:
        dropped = math.exp(lbeta(a + 1, b + x - 1) - lbeta(a, b) + gamma_part - (r + x) * math.log(alpha + t_x))
    return math.log(alive + dropped)


def ll_by_integration(r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float) -> float:
    """The individual-level likelihood integrated over λ ~ Gamma(r, α) and p ~ Beta(a, b)."""

    def integrand(p: float, lam: float) -> float:
        individual = (1 - p) ** x * lam**x * math.exp(-lam * T)
        if x > 0:
            individual += p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x)
        g = math.exp(r * math.log(alpha) + (r - 1) * math.log(lam) - alpha * lam - math.lgamma(r))
        beta = math.exp((a - 1) * math.log(p) + (b - 1) * math.log1p(-p) - lbeta(a, b))
        return individual * g * beta

    value, _ = integrate.dblquad(integrand, 0, np.inf, 0, 1, epsabs=1e-13, epsrel=1e-10)
    return math.log(value)


TINY = [(0, 0.0, 5.0), (1, 2.0, 5.0), (3, 4.5, 6.0)]
TINY_PARAMS = (2.0, 3.0, 1.5, 2.5)


def test_log_likelihood_of_tiny_customers_matches_hand_computation() -> None:
    x, t_x, T = (np.array(c) for c in zip(*TINY, strict=True))
    got = bgnbd_log_likelihood(TINY_PARAMS, x, t_x, T)
    want = [ll_by_hand(*TINY_PARAMS, *c) for c in TINY]
    assert got.shape == (3,)
    assert got.tolist() == pytest.approx(want, rel=1e-12)
    # one customer fully by hand: r=2, α=3, a=1.5, b=2.5, x=0, T=5
    # L = B(1.5, 2.5)/B(1.5, 2.5) * Γ(2)/Γ(2) * 3^2 / 8^2 = 9/64
    assert got[0] == pytest.approx(math.log(9 / 64), rel=1e-13)


def test_log_likelihood_matches_numerical_integration_of_the_individual_likelihood() -> None:
    for c in TINY:
        got = float(bgnbd_log_likelihood(TINY_PARAMS, *c))
        assert got == pytest.approx(ll_by_integration(*TINY_PARAMS, *c), abs=1e-7)


def test_log_likelihood_accepts_params_struct_and_broadcasts_scalars() -> None:
    params = BGNBDParams(*TINY_PARAMS, log_likelihood=0.0, n=0, converged=True)
    a = bgnbd_log_likelihood(params, [1, 3], [2.0, 4.5], [5.0, 6.0])
    b = bgnbd_log_likelihood(TINY_PARAMS, [1, 3], [2.0, 4.5], [5.0, 6.0])
    assert np.array_equal(a, b)
    assert bgnbd_log_likelihood(TINY_PARAMS, 1, 2.0, 5.0).shape == ()


def test_log_likelihood_is_finite_for_heavy_buyers_and_old_customers() -> None:
    ll = bgnbd_log_likelihood(CDNOW, [500, 5000], [999.0, 9999.0], [1000.0, 10000.0])
    assert np.isfinite(ll).all()
    # the two terms of eq. 5 in log space, by hand (the direct form under/overflows here)
    r, alpha, a, b = CDNOW
    for x, t_x, T, got in zip([500, 5000], [999.0, 9999.0], [1000.0, 10000.0], ll, strict=True):
        head = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) - lbeta(a, b)
        t1 = lbeta(a, b + x) - (r + x) * math.log(alpha + T)
        t2 = lbeta(a + 1, b + x - 1) - (r + x) * math.log(alpha + t_x)
        big = max(t1, t2)
        assert got == pytest.approx(head + big + math.log(math.exp(t1 - big) + math.exp(t2 - big)), rel=1e-12)


@pytest.mark.parametrize("method", ["L-BFGS-B", "Nelder-Mead"])
def test_fit_on_cdnow_gives_the_published_parameters(cdnow_summary: pd.DataFrame, method: str) -> None:
    fitter = BGNBDFitter(method=method)
    params = fitter.fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    print(params)
    assert params.converged and params.n == 2357
    for name, published in CDNOW_PUBLISHED.items():
        assert sig3(getattr(params, name)) == sig3(published), name
    # the paper gives α and b to 4 significant figures
    assert round(params.alpha, 3) == 4.414 and round(params.b, 3) == 2.426
    assert round(params.log_likelihood, 1) == CDNOW_LL
    assert fitter.fitted == params and fitter.last == params


def test_fit_on_cdnow_does_not_depend_on_the_starting_point(cdnow_summary: pd.DataFrame) -> None:
    data = (cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    a = BGNBDFitter().fit(*data)
    b = BGNBDFitter(initial=(5.0, 0.1, 3.0, 0.2)).fit(*data)
    assert a.converged and b.converged
    assert [a.r, a.alpha, a.a, a.b] == pytest.approx([b.r, b.alpha, b.a, b.b], rel=1e-3)


def test_weights_count_identical_customers(cdnow_summary: pd.DataFrame) -> None:
    grouped = cdnow_summary.groupby(["frequency", "recency", "T"]).size().reset_index(name="count")
    assert len(grouped) < len(cdnow_summary)
    full = BGNBDFitter(method="Nelder-Mead").fit(
        cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"]
    )
    weighted = BGNBDFitter(method="Nelder-Mead").fit(
        grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["count"]
    )
    assert weighted.converged and weighted.n == len(grouped)
    assert weighted.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-9)
    assert [weighted.r, weighted.alpha, weighted.a, weighted.b] == pytest.approx(
        [full.r, full.alpha, full.a, full.b], rel=1e-4
    )


def test_constructor_arguments_are_stored_as_given_and_learned_state_kept_apart() -> None:
    fitter = BGNBDFitter(
        penalizer=0.5, initial=(0.1, 2.0, 0.3, 4.0), method="Nelder-Mead", tol=1e-6, max_iter=7, log_bound=9.0
    )
    assert (fitter.penalizer, fitter.initial, fitter.method, fitter.tol, fitter.max_iter, fitter.log_bound) == (
        0.5,
        (0.1, 2.0, 0.3, 4.0),
        "Nelder-Mead",
        1e-6,
        7,
        9.0,
    )
    assert fitter.fitted is None and fitter.last is None


def test_penalizer_shrinks_log_parameters(cdnow_summary: pd.DataFrame) -> None:
    data = (cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    plain = BGNBDFitter().fit(*data)
    shrunk = BGNBDFitter(penalizer=0.1).fit(*data)
    assert shrunk.converged

    def norm(p: BGNBDParams) -> float:
        return sum(math.log(v) ** 2 for v in (p.r, p.alpha, p.a, p.b))

    assert norm(shrunk) < norm(plain)
    assert shrunk.log_likelihood < plain.log_likelihood


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(([0, 0, 0], [0, 0, 0], [0, 0, 0]), id="all-zero"),
        pytest.param(([0, 0, 0], [0, 0, 0], [10, 20, 30]), id="no-repeat-purchases"),
        pytest.param(([1, float("nan"), 0], [2, 3, 0], [10, 20, 30]), id="nan-frequency"),
        pytest.param(([1, 2, 0], [2, 3, 0], [10, float("inf"), 30]), id="inf-age"),
        pytest.param(([1, 2, 0], [2, 25, 0], [10, 20, 30]), id="recency-after-age"),
        pytest.param(([1, -2, 0], [2, 3, 0], [10, 20, 30]), id="negative-frequency"),
        pytest.param(([], [], []), id="empty"),
    ],
)
def test_failed_fit_returns_not_converged_and_keeps_the_previous_parameters(
    data: tuple[list[float], list[float], list[float]],
) -> None:
    fitter = BGNBDFitter()
    good = fitter.fit(*simulate(500, 0.5, 4.0, 0.8, 2.5, T=40.0, seed=1))
    assert good.converged
    bad = fitter.fit(*data)
    assert bad.converged is False and bad.n == len(data[0])
    assert fitter.fitted == good and fitter.last == bad


def test_fit_ending_at_a_bound_is_not_converged() -> None:
    # identical customers, all buying up to T: no heterogeneity (r, α -> ∞) and no dropout (a -> 0)
    data = (np.full(200, 20.0), np.full(200, 40.0), np.full(200, 40.0))
    fit = BGNBDFitter(log_bound=5.0).fit(*data)
    assert fit.converged is False
    assert max(abs(math.log(v)) for v in (fit.r, fit.alpha, fit.a, fit.b)) == pytest.approx(5.0, abs=1e-3)


def test_zero_weights_everywhere_is_a_failed_fit() -> None:
    fit = BGNBDFitter().fit([1, 2], [1.0, 2.0], [5.0, 5.0], weights=[0, 0])
    assert fit.converged is False


def test_inputs_of_different_lengths_raise() -> None:
    with pytest.raises(ValueError, match="one length"):
        BGNBDFitter().fit([1, 2], [1.0], [5.0, 5.0])


def test_p_alive_is_one_without_repeat_purchases() -> None:
    T = np.array([0.0, 1.0, 38.86, 1000.0])
    assert np.array_equal(p_alive(CDNOW, np.zeros(4), np.zeros(4), T), np.ones(4))


def test_p_alive_by_hand_and_in_range() -> None:
    r, alpha, a, b = CDNOW
    x, t_x, T = 2, 30.43, 38.86
    want = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert float(p_alive(CDNOW, x, t_x, T)) == pytest.approx(want, rel=1e-12)
    # the longer since the last purchase, the less likely alive; a purchase at T is the best case
    pa = p_alive(CDNOW, 3, np.array([0.0, 10.0, 20.0, 38.86]), 38.86)
    assert ((pa > 0) & (pa <= 1)).all() and (np.diff(pa) > 0).all()


def test_p_alive_of_extreme_histories_does_not_warn() -> None:
    pa = p_alive(CDNOW, [1e4, 1], [0.0, 1e6], [1e6, 1e6])
    assert pa[0] == pytest.approx(0.0, abs=1e-300) and 0 < pa[1] <= 1


def test_expected_purchases_increase_with_the_horizon() -> None:
    t = np.linspace(0, 200, 41)
    for x, t_x, T in [(0, 0.0, 38.86), (1, 5.0, 38.86), (2, 30.43, 38.86), (10, 38.0, 38.86), (50, 20.0, 40.0)]:
        e = expected_purchases(CDNOW, t, x, t_x, T)
        assert e[0] == 0.0 and (np.diff(e) > 0).all(), (x, t_x, T)
    new = expected_purchases_new(CDNOW, t)
    assert new[0] == 0.0 and (np.diff(new) > 0).all()


def test_expected_purchases_equal_the_untransformed_formula_of_the_paper() -> None:
    r, alpha, a, b = CDNOW
    for x, t_x, T, t in [(0, 0.0, 38.86, 39.0), (1, 2.0, 38.86, 10.0), (2, 30.43, 38.86, 52.0), (7, 35.0, 38.86, 78.0)]:
        z = t / (alpha + T + t)
        p_alive_by_hand = 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
        want = (
            (a + b + x - 1)
            / (a - 1)
            * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
            * p_alive_by_hand
        )
        assert float(expected_purchases(CDNOW, t, x, t_x, T)) == pytest.approx(want, rel=1e-10)


def test_expected_purchases_broadcast_horizons_against_customers() -> None:
    t = np.array([[1.0], [10.0], [39.0]])
    e = expected_purchases(CDNOW, t, [0, 2], [0.0, 30.43], [38.86, 38.86])
    assert e.shape == (3, 2)
    assert e[2, 1] == pytest.approx(float(expected_purchases(CDNOW, 39.0, 2, 30.43, 38.86)), rel=1e-14)


def test_conditional_expectation_of_a_newborn_is_the_unconditional_one() -> None:
    t = np.array([1.0, 10.0, 39.0, 78.0])
    assert expected_purchases(CDNOW, t, 0, 0.0, 0.0) == pytest.approx(expected_purchases_new(CDNOW, t), rel=1e-12)


def test_expectations_agree_with_simulation() -> None:
    # E[X(T + t)] = E[X(T)] + E[E[Y(t) | x, t_x, T]]: both sides on one simulated population
    T, t = 39.0, 39.0
    x, t_x, age = simulate(40_000, *CDNOW, T=T, seed=11)
    x_long, _, _ = simulate(40_000, *CDNOW, T=T + t, seed=12)
    se = float(x.std()) / math.sqrt(len(x))
    assert x.mean() == pytest.approx(float(expected_purchases_new(CDNOW, T)), abs=4 * se)
    predicted = x.mean() + expected_purchases(CDNOW, t, x, t_x, age).mean()
    assert float(expected_purchases_new(CDNOW, T + t)) == pytest.approx(predicted, abs=4 * se)
    assert x_long.mean() == pytest.approx(float(expected_purchases_new(CDNOW, T + t)), abs=6 * se)


def test_fit_recovers_simulated_parameters() -> None:
    truth = (0.5, 4.0, 0.8, 2.5)
    fit = BGNBDFitter().fit(*simulate(20_000, *truth, T=52.0, seed=5))
    assert fit.converged
    assert [fit.r, fit.alpha, fit.a, fit.b] == pytest.approx(truth, rel=0.15)


def test_module_is_pure() -> None:
    tree = ast.parse(Path(bgnbd.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"faust", "redis", "asyncio", "kafka", "aiokafka", "mode"}


# ------------------------------------------------------------------ why a fit failed, and restarts

# a "previous fit" far from CDNOW: from it alone, L-BFGS-B stops on a ridge (-9763.7); with the exact gradient
# most absurd starts reach the optimum alone (the old (1e-6, 1e-6, 1e-6, 1e6) among them), this one does not
ABSURD = (1e-6, 1e6, 1e-6, 1e6)


def test_a_fit_ending_at_a_bound_says_which_parameter(cdnow_summary: pd.DataFrame) -> None:
    # a box of e^-1..e around 1: CDNOW's optimum has r = 0.243 below it and alpha = 4.41
    # above it (a = 0.793, b = 2.43 inside), so the fit ends on the box at r and alpha
    fitter = BGNBDFitter(log_bound=1.0)
    fit = fitter.fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert fit.converged is False
    assert fitter.reason == f"bound hit (r={fit.r:.4g}, alpha={fit.alpha:.4g})"
    assert fit.r == pytest.approx(math.exp(-1.0), rel=1e-3) and fit.alpha == pytest.approx(math.e, rel=1e-3)
    assert math.exp(-1.0) < fit.a < math.e and math.exp(-1.0) < fit.b < math.e


def test_restarts_after_an_absurd_warm_start_recover_the_published_cdnow_fit(cdnow_summary: pd.DataFrame) -> None:
    data = (cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    alone = BGNBDFitter(initial=ABSURD, restarts=0).fit(*data)
    assert not alone.converged or alone.log_likelihood < CDNOW_LL - 100  # scipy 1.17: -9763.7 on a ridge
    # the restarts (default, data-scaled, seeded) give the fit a cold start gives: the published values
    fitter = BGNBDFitter(initial=ABSURD, restarts=4)
    params = fitter.fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert params.converged and fitter.reason == ""
    for name, published in CDNOW_PUBLISHED.items():
        assert sig3(getattr(params, name)) == sig3(published), name
    assert round(params.log_likelihood, 1) == CDNOW_LL


def test_a_fit_no_start_rescues_says_how_many_starts_it_tried() -> None:
    data = (np.full(200, 20.0), np.full(200, 40.0), np.full(200, 40.0))  # no heterogeneity, no dropout
    fitter = BGNBDFitter(log_bound=4.0, restarts=3)  # the optimum (r, alpha -> inf, a -> 0) outside every start's box
    assert fitter.fit(*data).converged is False
    assert fitter.reason.startswith("did not converge after 4 starts (bound hit (")


def test_a_fit_without_repeat_purchases_says_so() -> None:
    fitter = BGNBDFitter()
    assert fitter.fit([0, 0], [0.0, 0.0], [5.0, 5.0]).converged is False
    assert fitter.reason == "no repeat purchases"


GRADIENT_POINTS = [CDNOW, TINY_PARAMS, (0.05, 0.5, 0.02, 300.0), (4.0, 40.0, 9.0, 0.3)]
GRADIENT_ROWS = [(0, 0.0, 5.0), (1, 2.0, 5.0), (3, 4.5, 6.0), (2, 30.43, 38.86), (40, 38.0, 39.0), (1, 0.1, 0.2)]


@pytest.mark.parametrize("params", GRADIENT_POINTS)
def test_the_gradient_matches_central_differences_of_the_hand_formula(params: tuple[float, ...]) -> None:
    x, t_x, T = (np.array(c, dtype=np.float64) for c in zip(*GRADIENT_ROWS, strict=True))
    ll, jac = bgnbd_log_likelihood_gradient(params, x, t_x, T)
    assert jac.shape == (len(x), 4)
    for row, (xi, txi, Ti) in enumerate(GRADIENT_ROWS):
        assert ll[row] == pytest.approx(ll_by_hand(*params, xi, txi, Ti), rel=1e-10)
        for i in range(4):
            h = 1e-4 * params[i]  # smaller steps lose more to rounding than they gain in truncation
            up, down = list(params), list(params)
            up[i] += h
            down[i] -= h
            fd = (ll_by_hand(*up, xi, txi, Ti) - ll_by_hand(*down, xi, txi, Ti)) / (2 * h)
            assert jac[row, i] == pytest.approx(fd, rel=1e-5, abs=1e-7), (row, i)


def test_the_fit_uses_the_gradient_and_not_finite_differences(cdnow_summary: pd.DataFrame) -> None:
    calls = {"value": 0, "gradient": 0}
    value, gradient = bgnbd.bgnbd_log_likelihood, bgnbd.bgnbd_log_likelihood_gradient

    def counted_value(*a: object) -> object:
        calls["value"] += 1
        return value(*a)  # type: ignore[arg-type]

    def counted_gradient(*a: object) -> object:
        calls["gradient"] += 1
        return gradient(*a)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bgnbd, "bgnbd_log_likelihood", counted_value)
        mp.setattr(bgnbd, "bgnbd_log_likelihood_gradient", counted_gradient)
        params = BGNBDFitter().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert params.converged and all(sig3(getattr(params, k)) == sig3(v) for k, v in CDNOW_PUBLISHED.items())
    # one value at the end of the start tried; the search itself evaluates only the gradient
    assert calls["value"] == 1 and calls["gradient"] > 10


# (a, b, x, z, (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)) with r = 0.06539, by mpmath 1.4.1's hyp2f1 at 30
# digits in Pfaff's form 2F1(r+x, a-1; a+b+x-1; z/(z-1)): an independent reference
HUGE_AB_REFERENCE = [
    (15888.3, 6961.5, 0, 0.91, 0.8726480864),
    (15888.3, 6961.5, 5, 0.99, 4.566531014e-10),
    (15888.3, 6961.5, 1, 0.1, 0.9237795176),
    (148.8, 64.8, 5, 0.91, 2.974282918e-05),
]


def test_expected_purchases_stay_finite_when_a_and_b_are_huge() -> None:
    # a fit along the ridge of one dropout probability for everyone (a, b -> inf, a/(a+b) fixed), as a
    # population's first days give: scipy's hyp2f1 overflows there and its product was 0 * inf = NaN
    r, alpha, a, b, T, t = 0.06539, 0.75, 15888.3, 6961.5, 0.5, 12.9
    got = expected_purchases((r, alpha, a, b), t, [0, 1, 5], [0.0, 0.1, 0.4], T)
    assert np.isfinite(got).all() and (got > 0).all()
    # without repeat purchases P(alive) = 1: E = (a+b-1)/(a-1) (1 - H), H Euler's integral by adaptive quadrature
    want = (a + b - 1) / (a - 1) * (1 - hyp2f1_pfaff(r, a, b, 0, t / (alpha + T + t)))
    assert got[0] == pytest.approx(want, rel=1e-9)
    assert np.isfinite(expected_purchases((r, alpha, 3.0e6, 1.3e6), t, [0, 1, 5], [0.0, 0.1, 0.4], T)).all()


def hyp2f1_pfaff(r: float, a: float, b: float, x: int, z: float) -> float:
    """The same quantity by adaptive quadrature of Euler's integral over u ~ Beta(a-1, b+x)."""
    from scipy import stats

    dist = stats.beta(a - 1, b + x)
    lo, hi = dist.ppf(1e-15), dist.isf(1e-15)
    c = z / (1 - z)
    value, _ = integrate.quad(
        lambda u: dist.pdf(u) * (1 + c * u) ** -(r + x), lo, hi, epsrel=1e-12, limit=200, epsabs=0
    )
    return float(value)


@pytest.mark.parametrize(("a", "b", "x", "z", "want"), HUGE_AB_REFERENCE)
def test_the_beta_expectation_matches_mpmath(a: float, b: float, x: int, z: float, want: float) -> None:
    got = bgnbd._beta_mean_of_power(a - 1, np.array([b + x]), np.array([z / (1 - z)]), np.array([0.06539 + x]))
    assert got[0] == pytest.approx(want, rel=1e-9)
    assert hyp2f1_pfaff(0.06539, a, b, x, z) == pytest.approx(want, rel=1e-8)  # the reference agrees with itself


def test_the_fallback_memory_does_not_grow_with_horizons_times_customers() -> None:
    # CLV asks 13 horizons of every customer: 520,000 cells here, each 64 nodes wide if integrated at once
    # (1.3 GB peak with the chunk made larger than the cells)
    rng = np.random.default_rng(2)
    T = rng.uniform(0.2, 0.5, 40_000)
    horizons = (np.arange(13) * 4.35)[:, None]
    tracemalloc.start()
    try:
        got = expected_purchases((0.06539, 0.75, 15888.3, 6961.5), horizons, np.zeros_like(T), np.zeros_like(T), T)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.shape == (13, 40_000) and np.isfinite(got).all()
    assert peak < 40e6, f"peak {peak / 1e6:.1f} MB"
