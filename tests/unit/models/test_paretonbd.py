from __future__ import annotations

import ast
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import gammaln

from segstream.evaluation import cdnow_calibration
from segstream.models import paretonbd
from segstream.models.paretonbd import (
    ParetoNBDFitter,
    ParetoNBDParams,
    expected_purchases,
    p_alive,
    p_no_purchase,
    paretonbd_log_likelihood,
)

# shared/ beside the repository; the nearest one above, as mutmut runs the tests from a copy in mutants/
CDNOW_DIR = next(
    (d / "shared" / "data" / "cdnow" for d in Path(__file__).resolve().parents[4:] if (d / "shared").is_dir()),
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cdnow",
)
CDNOW_SAMPLE = CDNOW_DIR / "CDNOW_sample.txt"

# Fader & Hardie (2005 note) / lifetimes 0.11.3 ParetoNBDFitter on the CDNOW sample (weeks)
PUBLISHED = (0.55, 10.58, 0.61, 11.67)
LIFETIMES_FIT = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.67}
PUBLISHED_LL = -9594.98

# lifetimes 0.11.3 ParetoNBDFitter with params_ set to PUBLISHED (run in /work/scratch-cdnow/venv):
# (x, t_x, T, conditional_probability_alive, conditional_expected_number_of_purchases_up_to_time 10 and 39,
#  conditional_probability_of_n_purchases_up_to_time(0, 13, ...))
LIFETIMES_REF = [
    (0, 0.0, 38.86, 0.29377395046742055, 0.03089433576039591, 0.10582535589031983, 0.9669114030340187),
    (2, 30.43, 38.86, 0.8684109171320921, 0.42341705211483155, 1.450371374791711, 0.6338875986197388),
    (2, 5.0, 38.86, 0.12936647890397843, 0.06307609918227942, 0.21606066224912066, 0.9454605287482352),
    (10, 35.0, 39.0, 0.923258593933592, 1.8574351056533596, 6.36417377503772, 0.19140550310331989),
    (1, 1.0, 20.0, 0.3508883975693047, 0.1631398945242479, 0.5308653957877705, 0.8649569815469),
]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    assert CDNOW_SAMPLE.is_file(), f"CDNOW sample missing: {CDNOW_SAMPLE}"
    return cdnow_calibration(CDNOW_SAMPLE)


def ll_by_quad(params: tuple[float, ...], x: float, t_x: float, T: float) -> float:
    """Fader & Hardie's likelihood with the dropout integral by adaptive scipy quadrature."""
    r, alpha, s, beta = params
    head = gammaln(r + x) - gammaln(r) + r * math.log(alpha) + s * math.log(beta)
    alive = -(r + x) * math.log(alpha + T) - s * math.log(beta + T)
    if t_x == T:
        return float(head + alive)
    scale = -(r + x) * math.log(alpha + t_x) - (s + 1) * math.log(beta + t_x)

    def f(tau: float) -> float:
        return math.exp(-(r + x) * math.log(alpha + tau) - (s + 1) * math.log(beta + tau) - scale)

    pts = sorted({t_x + q * 10.0**j for q in (alpha + t_x, beta + t_x) for j in range(-8, 9) if t_x + q * 10.0**j < T})
    integral = integrate.quad(f, t_x, T, epsabs=0, epsrel=1e-13, limit=2000, points=pts or None)[0]
    return float(head + np.logaddexp(alive, math.log(s) + math.log(integral) + scale))


def test_fit_on_cdnow_gives_the_published_parameters(cdnow: pd.DataFrame) -> None:
    fitter = ParetoNBDFitter()
    params = fitter.fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert params.converged and params.n == 2357 and fitter.reason == ""
    for name, want in LIFETIMES_FIT.items():
        assert getattr(params, name) == pytest.approx(want, rel=2e-3), name
    assert [round(v, 2) for v in (params.r, params.alpha, params.s, params.beta)] == list(PUBLISHED)
    assert round(params.log_likelihood, 2) == PUBLISHED_LL
    assert fitter.fitted == params and fitter.last == params


#: a point on the ridge s, beta -> infinity (one dropout rate for everyone) where fits on the
#: first weeks of a population end; L-BFGS-B started there on CDNOW stops at once
RIDGE = (0.49, 10.06, 483.3, 18741.0)


def test_a_previous_fit_on_the_ridge_still_gives_the_published_parameters(cdnow: pd.DataFrame) -> None:
    data = (cdnow["x"], cdnow["t_x"], cdnow["T"])
    stuck = ParetoNBDFitter(initial=RIDGE, restarts=0).fit(*data)
    assert stuck.converged and stuck.s > 100 and stuck.log_likelihood < PUBLISHED_LL - 5  # -9600.32
    params = ParetoNBDFitter(initial=RIDGE, restarts=4).fit(*data)
    assert params.converged
    assert [round(v, 2) for v in (params.r, params.alpha, params.s, params.beta)] == list(PUBLISHED)
    assert round(params.log_likelihood, 2) == PUBLISHED_LL


def test_log_likelihood_at_the_published_parameters(cdnow: pd.DataFrame) -> None:
    # the published values are rounded: their LL is a little below the optimum (-9595.01 in the research notes)
    ll = paretonbd_log_likelihood(PUBLISHED, cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert ll.shape == (2357,) and float(ll.sum()) == pytest.approx(-9595.01, abs=0.005)


@pytest.mark.parametrize(("x", "t_x", "T", "alive", "e10", "e39", "silent13"), LIFETIMES_REF)
def test_p_alive_expectations_and_silence_match_lifetimes(
    x: int, t_x: float, T: float, alive: float, e10: float, e39: float, silent13: float
) -> None:
    assert float(p_alive(PUBLISHED, x, t_x, T)) == pytest.approx(alive, rel=1e-10)
    assert expected_purchases(PUBLISHED, [10.0, 39.0], x, t_x, T).tolist() == pytest.approx([e10, e39], rel=1e-10)
    assert float(p_no_purchase(PUBLISHED, 13.0, x, t_x, T)) == pytest.approx(silent13, rel=1e-10)


PARAM_GRID = [
    PUBLISHED, (0.3, 5.0, 1.2, 3.0), (2.0, 3.0, 0.5, 20.0), (0.1, 50.0, 5.0, 0.2), (4.0, 0.5, 0.05, 80.0),
    (0.01, 0.01, 10.0, 100.0), (0.7, 0.02, 0.3, 40.0),  # z near 1 on most rows: the quadrature takes them
]  # fmt: skip
ROWS = [(0, 0.0, 38.86), (1, 2.0, 5.0), (3, 4.5, 6.0), (7, 38.0, 38.86), (30, 10.0, 52.0), (2, 38.86 - 1e-7, 38.86)]


@pytest.mark.parametrize("params", PARAM_GRID)
def test_closed_form_quadrature_and_auto_agree_with_adaptive_integration(params: tuple[float, ...]) -> None:
    x, t_x, T = (np.array(c, dtype=float) for c in zip(*ROWS, strict=True))
    want = [ll_by_quad(params, *row) for row in ROWS]
    quad = paretonbd_log_likelihood(params, x, t_x, T, method="quadrature")
    auto = paretonbd_log_likelihood(params, x, t_x, T)
    closed = paretonbd_log_likelihood(params, x, t_x, T, method="closed")
    assert quad.tolist() == pytest.approx(want, abs=1e-9)
    assert auto.tolist() == pytest.approx(want, abs=1e-9)
    ok = ~np.isnan(closed)  # "closed" gives NaN where it is out of its bounds (t_x within 1e-7 of T)
    assert ok[:-1].all()
    assert closed[ok] == pytest.approx(quad[ok], abs=1e-9)


def test_closed_form_and_quadrature_agree_on_every_cdnow_customer(cdnow: pd.DataFrame) -> None:
    data = (cdnow["x"], cdnow["t_x"], cdnow["T"])
    closed = paretonbd_log_likelihood(PUBLISHED, *data, method="closed")
    quad = paretonbd_log_likelihood(PUBLISHED, *data, method="quadrature")
    assert np.isfinite(closed).all() and np.abs(closed - quad).max() < 1e-10


@pytest.mark.parametrize("params", [(0.01, 0.01, 10.0, 100.0), (0.2, 1.0, 3.0, 50.0), (0.7, 0.02, 0.3, 40.0)])
def test_rows_where_hyp2f1_is_slow_are_integrated_numerically(params: tuple[float, ...]) -> None:
    # hyp2f1(k, q; k + 1; z) takes up to ~17 µs a row as z nears 1, the quadrature ~1.2 µs:
    # rows of z > 0.9 (z = (a - b) / (a + t_x), a the larger rate) take the quadrature
    x, t_x, T = (np.array(c, dtype=float) for c in zip(*ROWS, strict=True))
    alpha, beta = params[1], params[3]
    z = (max(alpha, beta) - min(alpha, beta)) / (max(alpha, beta) + t_x)
    slow = z > 0.9
    assert slow.any() and (~slow).any()
    auto = paretonbd_log_likelihood(params, x, t_x, T)
    quad = paretonbd_log_likelihood(params, x, t_x, T, method="quadrature")
    closed = paretonbd_log_likelihood(params, x, t_x, T, method="closed")
    assert auto[slow].tolist() == quad[slow].tolist()
    fine = ~slow & (t_x < T - 1e-6)  # the last row is the cancellation's (t_x within 1e-7 of T)
    assert auto[fine].tolist() == closed[fine].tolist()
    assert auto.tolist() == pytest.approx([ll_by_quad(params, *row) for row in ROWS], abs=1e-9)


def test_frequent_buyers_fall_back_to_the_quadrature() -> None:
    x, t_x, T = np.array([150.0, 3000.0]), np.array([30.0, 51.0]), np.array([40.0, 52.0])
    assert np.isnan(paretonbd_log_likelihood(PUBLISHED, x, t_x, T, method="closed")).all()
    auto = paretonbd_log_likelihood(PUBLISHED, x, t_x, T)
    assert auto.tolist() == pytest.approx(
        [ll_by_quad(PUBLISHED, *row) for row in zip(x, t_x, T, strict=True)], rel=1e-10
    )


def simulate_silence(
    params: tuple[float, ...], x: int, t_x: float, T: float, t: float, n: int, seed: int
) -> tuple[float, float]:
    """Monte Carlo of P(no purchase in (T, T+t] | x, t_x, T): (λ, μ) drawn from the prior and
    weighted by the individual likelihood of the history (an exact event when x == 0), then the
    future simulated: alive at T with its posterior probability, a memoryless remaining lifetime,
    the first purchase after T an exponential of rate λ. Returns (estimate, standard error)."""
    r, alpha, s, beta = params
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    alive_w = lam**x * np.exp(-(lam + mu) * T)
    dead_w = lam**x * mu / (lam + mu) * (np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T))
    w = alive_w + dead_w
    alive = rng.random(n) < alive_w / w
    life = rng.exponential(1 / mu)
    buy = rng.exponential(1 / lam)
    silent = ~alive | (buy > np.minimum(t, life))
    p = float(np.sum(w * silent) / np.sum(w))
    se = float(np.sqrt(np.sum(w**2 * (silent - p) ** 2)) / np.sum(w))
    return p, se


@pytest.mark.parametrize(("x", "t_x", "T", "t"), [(0, 0.0, 38.86, 13.0), (2, 30.43, 38.86, 13.0), (1, 5.0, 30.0, 39.0)])
def test_p_no_purchase_matches_a_monte_carlo_of_the_model(x: int, t_x: float, T: float, t: float) -> None:
    want, se = simulate_silence(PUBLISHED, x, t_x, T, t, n=400_000, seed=0)
    assert se < 0.005
    assert float(p_no_purchase(PUBLISHED, t, x, t_x, T)) == pytest.approx(want, abs=4 * se)


def test_x_zero_silence_by_plain_simulation() -> None:
    # no weights: customers who made no repeat purchase in (0, T], and of them who stays silent to T + t
    r, alpha, s, beta = PUBLISHED
    rng = np.random.default_rng(5)
    n, T, t = 400_000, 20.0, 13.0
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    first, life = rng.exponential(1 / lam), rng.exponential(1 / mu)
    quiet = first > np.minimum(T, life)
    still = first[quiet] > np.minimum(T + t, life[quiet])
    p, se = still.mean(), still.std() / math.sqrt(quiet.sum())
    assert float(p_no_purchase(PUBLISHED, t, 0, 0.0, T)) == pytest.approx(p, abs=4 * se)


def test_edge_cases() -> None:
    # t = 0: certain silence; t_x == T: only the alive term; x == 0 is not "surely alive" as in BG/NBD
    assert p_no_purchase(PUBLISHED, 0.0, [0, 3, 5], [0.0, 4.0, 9.0], [10.0, 9.0, 9.0]).tolist() == [1.0, 1.0, 1.0]
    r, alpha, s, beta = PUBLISHED
    want = (
        gammaln(r + 3)
        - gammaln(r)
        + r * math.log(alpha / (alpha + 9))
        + s * math.log(beta / (beta + 9))
        - 3 * math.log(alpha + 9)
    )
    assert float(paretonbd_log_likelihood(PUBLISHED, 3, 9.0, 9.0)) == pytest.approx(want, rel=1e-13)
    assert float(p_alive(PUBLISHED, 3, 9.0, 9.0)) == 1.0
    assert float(p_alive(PUBLISHED, 0, 0.0, 0.0)) == 1.0 and 0 < float(p_alive(PUBLISHED, 0, 0.0, 10.0)) < 1
    assert float(paretonbd_log_likelihood(PUBLISHED, 0, 0.0, 0.0)) == 0.0
    assert np.isnan(paretonbd_log_likelihood(PUBLISHED, [1, 0], [5.0, 1.0], [4.0, 4.0])).all()
    for f in (paretonbd_log_likelihood, p_alive):
        assert f(PUBLISHED, [], [], []).shape == (0,)
    assert p_no_purchase(PUBLISHED, 1.0, [], [], []).shape == (0,)
    assert expected_purchases(PUBLISHED, 0.0, [0, 4], [0.0, 3.0], [5.0, 5.0]).tolist() == [0.0, 0.0]


def test_expected_purchases_at_s_one_is_the_log_limit() -> None:
    near = expected_purchases((0.5, 10.0, 1.0 + 1e-9, 12.0), 39.0, 2, 30.0, 38.0)
    at = expected_purchases((0.5, 10.0, 1.0, 12.0), 39.0, 2, 30.0, 38.0)
    assert np.isfinite(at) and float(at) == pytest.approx(float(near), rel=1e-8)


@pytest.mark.parametrize(
    "bad", [(0.5, 10.0, 0.6), (0.0, 10.0, 0.6, 11.0), (0.5, -1.0, 0.6, 11.0), (0.5, 10.0, float("nan"), 11.0)]
)
def test_invalid_params_raise(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="finite positive"):
        paretonbd_log_likelihood(bad, 1, 1.0, 2.0)
    with pytest.raises(ValueError):
        p_no_purchase(bad, 1.0, 1, 1.0, 2.0)


def test_unknown_method_raises() -> None:
    with pytest.raises(ValueError, match="method"):
        paretonbd_log_likelihood(PUBLISHED, 1, 1.0, 2.0, method="simpson")


def test_params_struct_is_accepted() -> None:
    params = ParetoNBDParams(*PUBLISHED, log_likelihood=0.0, n=0, converged=True)
    assert np.array_equal(p_alive(params, [1, 2], [1.0, 3.0], 5.0), p_alive(PUBLISHED, [1, 2], [1.0, 3.0], 5.0))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(([0, 0, 0], [0, 0, 0], [10, 20, 30]), id="no-repeat-purchases"),
        pytest.param(([1, float("nan"), 0], [2, 3, 0], [10, 20, 30]), id="nan-frequency"),
        pytest.param(([1, 2, 0], [2, 25, 0], [10, 20, 30]), id="recency-after-age"),
        pytest.param(([], [], []), id="empty"),
    ],
)
def test_failed_fit_is_not_converged_and_keeps_the_previous_parameters(
    cdnow: pd.DataFrame, data: tuple[list[float], ...]
) -> None:
    fitter = ParetoNBDFitter()
    good = fitter.fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    bad = fitter.fit(*data)
    assert bad.converged is False and bad.n == len(data[0]) and fitter.reason
    assert fitter.fitted == good and fitter.last == bad


def test_fit_ending_at_a_bound_is_not_converged() -> None:
    # identical customers buying up to T: no heterogeneity and no dropout
    fitter = ParetoNBDFitter(log_bound=5.0)
    fit = fitter.fit(np.full(200, 20.0), np.full(200, 40.0), np.full(200, 40.0))
    assert fit.converged is False and fitter.reason.startswith("bound hit (")


def test_inputs_of_different_lengths_raise() -> None:
    with pytest.raises(ValueError, match="one length"):
        ParetoNBDFitter().fit([1, 2], [1.0], [5.0, 5.0])


def test_module_is_pure() -> None:
    tree = ast.parse(Path(paretonbd.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"faust", "redis", "asyncio", "kafka", "aiokafka", "mode"}


def test_the_quadrature_memory_does_not_grow_with_its_rows() -> None:
    # 40,000 rows integrated numerically: at once, each rows x 64 temporary would be 20 MB (several live;
    # 87.5 MB peak with the chunk made larger than the rows)
    rng = np.random.default_rng(3)
    T = rng.uniform(0.1, 0.5, 40_000)
    x, t_x = np.zeros_like(T), np.zeros_like(T)
    tracemalloc.start()
    try:
        ll = paretonbd_log_likelihood((0.07, 0.75, 0.5, 100.0), x, t_x, T, method="quadrature")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(ll).all()
    assert peak < 15e6, f"peak {peak / 1e6:.1f} MB"
    # the chunks give the rows what one pass gives
    one = paretonbd_log_likelihood((0.07, 0.75, 0.5, 100.0), x[:5000], t_x[:5000], T[:5000], method="quadrature")
    assert np.array_equal(ll[:5000], one)
