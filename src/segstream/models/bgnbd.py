"""BG/NBD model of repeat buying: how many purchases a customer will make, and whether alive.

The beta-geometric/negative-binomial distribution model of Fader, Hardie & Lee (2005),
"Counting your customers the easy way: an alternative to the Pareto/NBD model",
Marketing Science 24(2), 275-284. While alive, a customer buys as a Poisson process of rate
``λ``; after every purchase they drop out for good with probability ``p``. Across customers
``λ ~ Gamma(r, α)`` (shape ``r``, rate ``α``) and ``p ~ Beta(a, b)``, independently.

A customer's history is summarised by three numbers, all in one time unit of the caller's
choosing (weeks in the paper and in the CDNOW data):

``x``
    number of repeat purchases (purchases after the first one) in the calibration period;
``t_x``
    recency: time of the last repeat purchase, measured from the first purchase
    (0 when ``x == 0``);
``T``
    age: length of the calibration period, from the first purchase to its end.

``r`` is dimensionless and ``α`` is in the time unit (it scales with it); ``a`` and ``b``
are dimensionless. Expected purchases are counts over a horizon ``t`` in the same unit.

Everything here is pure numpy/scipy, vectorised over customers, with no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from segstream.models.mle import (
    GL_NODES,
    GL_WEIGHTS,
    QUADRATURE_CHUNK,
    fit_multistart,
    history_arrays,
    history_problem,
    history_starts,
)

__all__ = [
    "BGNBDFitter",
    "BGNBDParams",
    "bgnbd_log_likelihood",
    "bgnbd_log_likelihood_gradient",
    "expected_purchases",
    "expected_purchases_new",
    "p_alive",
    "simulate",
]

FloatArray = NDArray[np.float64]

# Default bound of the log-parameters searched by the fitter: a parameter pushed to e^±LOG_BOUND
# means the data do not identify it and the fit is reported as not converged.
LOG_BOUND: Final = 15.0


class BGNBDParams(msgspec.Struct, frozen=True):
    """Fitted BG/NBD parameters.

    Attributes
    ----------
    r, alpha
        Shape and rate of the gamma distribution of purchase rates (``alpha`` in the data's
        time unit).
    a, b
        Shape parameters of the beta distribution of dropout probabilities.
    log_likelihood
        Total (weighted) log-likelihood of the fitted data at these parameters.
    n
        Number of rows (customers) the fit was given.
    converged
        ``False`` when the fit failed or is degenerate (invalid data, no repeat purchases,
        optimizer failure, non-finite likelihood, a parameter at the search bounds); the
        parameters are then not to be used and a caller should keep its previous ones.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n: int
    converged: bool


ParamsLike = BGNBDParams | Sequence[float]


def _unpack(params: ParamsLike) -> tuple[float, float, float, float]:
    if isinstance(params, BGNBDParams):
        return params.r, params.alpha, params.a, params.b
    r, alpha, a, b = params
    return float(r), float(alpha), float(a), float(b)


def _arrays(*values: ArrayLike) -> list[FloatArray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def _log_dropout_term(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """``ln[(a / (b + x - 1)) ((α + T) / (α + t_x))^(r + x)]``, meaningful where ``x > 0``.

    Rows with ``x == 0`` are computed with ``x`` replaced by 1 (so ``b + x - 1 = b > 0``)
    and must be masked by the caller; this keeps the computation free of invalid logs.
    """
    x1 = np.maximum(x, 1.0)
    out: FloatArray = np.log(a) - np.log(b + x1 - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return out


def bgnbd_log_likelihood(params: ParamsLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Log-likelihood of each customer's ``(x, t_x, T)`` under the BG/NBD model.

    The closed form of Fader, Hardie & Lee (2005, eq. 6):

    ``ln L = ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x) - ln B(a, b) - (r+x) ln(α+T)
    + ln(1 + δ_{x>0} (a / (b+x-1)) ((α+T)/(α+t_x))^(r+x))``,

    evaluated with ``gammaln``/``betaln`` and the last two terms combined by ``logaddexp``
    (``(α+T)^-(r+x) + δ (a/(b+x-1)) (α+t_x)^-(r+x)`` in log space), so that it neither
    overflows nor loses precision for large ``x`` or ``T``.

    Parameters
    ----------
    params
        ``BGNBDParams`` or a sequence ``(r, alpha, a, b)``, all positive.
    x, t_x, T
        Repeat purchases, recency and age (broadcast together), ``0 <= t_x <= T``.

    Returns
    -------
    numpy.ndarray
        Per-customer log-likelihoods (broadcast shape of the inputs); their sum is the
        log-likelihood of the sample. Inputs outside the domain give NaN, not warnings.

    Examples
    --------
    >>> ll = bgnbd_log_likelihood((0.243, 4.414, 0.793, 2.426), [0, 2], [0.0, 30.43], [38.86, 38.86])
    >>> [round(float(v), 4) for v in ll]
    [-0.5547, -9.4586]
    """
    r, alpha, a, b = _unpack(params)
    xa, txa, Ta = _arrays(x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        head, survive, dropped = _log_terms(r, alpha, a, b, xa, txa, Ta)
        ll: FloatArray = head + np.where(xa > 0, np.logaddexp(survive, dropped), survive)
    return ll


def _log_terms(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(head, S, D)`` with ``ln L = head + logaddexp(S, D)`` for ``x > 0``, ``head + S`` else."""
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    survive = -(r + x) * np.log(alpha + T)
    return head, survive, _log_dropout_term(r, alpha, a, b, x, t_x, T) + survive


def bgnbd_log_likelihood_gradient(
    params: ParamsLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """:func:`bgnbd_log_likelihood` and its derivatives by ``(r, alpha, a, b)``, per row.

    With ``ln L = head + logaddexp(S, D)``, ``S = -(r+x) ln(α+T)`` (alive at ``T``),
    ``D = ln a - ln(b+x-1) - (r+x) ln(α+t_x)`` (dropped out after the last purchase, only
    for ``x > 0``) and ``π = σ(D - S)`` the second's share, ``∂ ln L = ∂head + (1-π) ∂S + π ∂D``:
    ``∂r: ψ(r+x) - ψ(r) + ln α - (1-π) ln(α+T) - π ln(α+t_x)``,
    ``∂α: r/α - (r+x) [(1-π)/(α+T) + π/(α+t_x)]``,
    ``∂a: ψ(a+b) - ψ(a+b+x) + π/a``,
    ``∂b: ψ(b+x) - ψ(b) + ψ(a+b) - ψ(a+b+x) - π/(b+x-1)``.

    Returns
    -------
    tuple of numpy.ndarray
        The per-row log-likelihoods (1-d) and their derivatives (rows × 4).

    Examples
    --------
    >>> p, x, t_x, T = (0.243, 4.414, 0.793, 2.426), [0, 2], [0.0, 30.43], [38.86, 38.86]
    >>> ll, jac = bgnbd_log_likelihood_gradient(p, x, t_x, T)
    >>> h = 1e-6 * p[0]                            # central difference in r
    >>> fd = (bgnbd_log_likelihood((p[0] + h, *p[1:]), x, t_x, T)
    ...       - bgnbd_log_likelihood((p[0] - h, *p[1:]), x, t_x, T)) / (2 * h)
    >>> bool(np.allclose(jac[:, 0], fd, rtol=1e-6)), [round(float(v), 4) for v in ll]
    (True, [-0.5547, -9.4586])
    """
    r, alpha, a, b = _unpack(params)
    xa, txa, Ta = (np.ravel(v) for v in np.broadcast_arrays(*_arrays(x, t_x, T)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        head, survive, dropped = _log_terms(r, alpha, a, b, xa, txa, Ta)
        repeat = xa > 0
        ll: FloatArray = head + np.where(repeat, np.logaddexp(survive, dropped), survive)
        pi = np.where(repeat, expit(dropped - survive), 0.0)
        psi_abx = digamma(a + b + xa)
        jac = np.empty((len(xa), 4))
        jac[:, 0] = digamma(r + xa) - digamma(r) + np.log(alpha)
        jac[:, 0] -= (1 - pi) * np.log(alpha + Ta) + pi * np.log(alpha + txa)
        jac[:, 1] = r / alpha - (r + xa) * ((1 - pi) / (alpha + Ta) + pi / (alpha + txa))
        jac[:, 2] = digamma(a + b) - psi_abx + pi / a
        jac[:, 3] = digamma(b + xa) - digamma(b) + digamma(a + b) - psi_abx - pi / (b + np.maximum(xa, 1.0) - 1.0)
    return ll, jac


def p_alive(params: ParamsLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability that a customer with history ``(x, t_x, T)`` is still alive at ``T``.

    ``P(alive) = 1 / (1 + δ_{x>0} (a / (b+x-1)) ((α+T)/(α+t_x))^(r+x))`` (Fader, Hardie &
    Lee 2005, eq. 11), computed as a logistic of the log-odds. It is exactly 1 when
    ``x == 0``: in the BG/NBD model customers can only drop out right after a purchase,
    so a customer who never bought again cannot have dropped out.

    Examples
    --------
    >>> cdnow = (0.243, 4.414, 0.793, 2.426)
    >>> [round(float(v), 4) for v in p_alive(cdnow, [0, 2, 2], [0.0, 30.43, 5.0], 38.86)]
    [1.0, 0.7266, 0.1237]
    """
    r, alpha, a, b = _unpack(params)
    xa, txa, Ta = _arrays(x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_odds_dead = _log_dropout_term(r, alpha, a, b, xa, txa, Ta)
        p: FloatArray = np.where(xa > 0, expit(-log_odds_dead), 1.0)
    return p


def expected_purchases(params: ParamsLike, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Expected number of purchases in ``(T, T + t]`` of a customer with history ``(x, t_x, T)``.

    Fader, Hardie & Lee (2005, eq. 10):

    ``E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x)
    ₂F₁(r+x, b+x; a+b+x-1; t/(α+T+t))] / (1 + δ_{x>0} (a/(b+x-1)) ((α+T)/(α+t_x))^(r+x))``.

    The product ``(1-z)^(r+x) ₂F₁(r+x, b+x; a+b+x-1; z)`` with ``z = t/(α+T+t)`` is evaluated
    through Euler's transformation as ``(1-z)^(a-1) ₂F₁(a+b-1-r, a-1; a+b+x-1; z)``, the same
    value, whose series stays convergent at ``z → 1`` for frequent buyers (the untransformed
    ₂F₁ grows like ``(1-z)^(a-1-r-x)``). The denominator is ``1 / p_alive``. The formula
    needs ``a != 1``.

    Parameters
    ----------
    params
        ``BGNBDParams`` or ``(r, alpha, a, b)``.
    t
        Horizon(s) ``>= 0``, in the time unit of the data; broadcast with the customers.
    x, t_x, T
        Repeat purchases, recency and age of the customers.

    Examples
    --------
    >>> cdnow = (0.243, 4.414, 0.793, 2.426)
    >>> [round(float(v), 4) for v in expected_purchases(cdnow, [0, 10, 39], 2, 30.43, 38.86)]
    [0.0, 0.357, 1.226]
    """
    r, alpha, a, b = _unpack(params)
    ta, xa, txa, Ta = _arrays(t, x, t_x, T)
    z = ta / (alpha + Ta + ta)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        h = (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + xa - 1.0, z)
    scalar, h = np.ndim(h) == 0, np.atleast_1d(h)
    lost = (~np.isfinite(h) & (a > 1.0)).reshape(-1)
    if lost.any():  # large a and b: 0 * inf above; the same value as an expectation, a chunk at a time
        zb, xb, hf = np.broadcast_to(z, h.shape), np.broadcast_to(xa, h.shape), h.reshape(-1)
        for start in range(0, len(lost), QUADRATURE_CHUNK):
            at = start + np.flatnonzero(lost[start : start + QUADRATURE_CHUNK])
            if len(at):
                cell = np.unravel_index(at, h.shape)
                zc, xc = zb[cell], xb[cell]
                hf[at] = _beta_mean_of_power(a - 1.0, b + xc, zc / (1.0 - zc), r + xc)
    bracket = np.subtract(1.0, h, out=h)  # in place: h can be horizons x customers
    if scalar:
        bracket = bracket.reshape(())  # scalars in, a scalar out, as before
    out: FloatArray = (a + b + xa - 1.0) / (a - 1.0) * bracket * p_alive((r, alpha, a, b), xa, txa, Ta)
    return out + 0.0  # + 0.0 turns the -0.0 of t == 0 (when a < 1) into 0.0


def _beta_mean_of_power(A: float, B: FloatArray, c: FloatArray, k: FloatArray) -> FloatArray:
    """``E[(1 + c u)^-k]`` for ``u ~ Beta(A, B)``, ``c >= 0``: by Euler's integral, the
    ``(1-z)^(a-1) ₂F₁(a+b-1-r, a-1; a+b+x-1; z)`` of :func:`expected_purchases` with
    ``A = a-1, B = b+x, c = z/(1-z), k = r+x`` (Pfaff's transformation first).

    For the large ``a`` and ``b`` where scipy's ``hyp2f1`` overflows (a fit along the ridge
    of one dropout probability for everyone, ``a, b → ∞`` with ``a/(a+b)`` fixed) the Beta is
    concentrated: 64 Gauss-Legendre nodes over its mean ± 12 standard deviations (clipped
    to [0, 1]), the density in log space and normalised over the nodes.
    """
    n = A + B
    mean, sd = A / n, np.sqrt(A * B / (n * n * (n + 1.0)))
    lo, hi = np.maximum(mean - 12.0 * sd, 0.0), np.minimum(mean + 12.0 * sd, 1.0)
    u = lo[:, None] + (hi - lo)[:, None] * (1.0 + GL_NODES) / 2.0
    with np.errstate(divide="ignore"):
        log_density = (A - 1.0) * np.log(u) + (B[:, None] - 1.0) * np.log1p(-u)
    weights = np.exp(log_density - log_density.max(axis=1)[:, None]) * GL_WEIGHTS
    power = np.exp(-k[:, None] * np.log1p(c[:, None] * u))
    out: FloatArray = (weights * power).sum(axis=1) / weights.sum(axis=1)
    return out


def expected_purchases_new(params: ParamsLike, t: ArrayLike) -> FloatArray:
    """Expected number of repeat purchases ``E[X(t)]`` of a new customer in ``(0, t]``.

    Fader, Hardie & Lee (2005, eq. 9):
    ``E[X(t)] = (a+b-1)/(a-1) [1 - (α/(α+t))^r ₂F₁(r, b; a+b-1; t/(α+t))]`` (needs ``a != 1``).

    Examples
    --------
    >>> cdnow = (0.243, 4.414, 0.793, 2.426)
    >>> [round(float(v), 4) for v in expected_purchases_new(cdnow, [0, 39, 78])]
    [0.0, 1.1967, 1.8605]
    """
    r, alpha, a, b = _unpack(params)
    (ta,) = _arrays(t)
    z = ta / (alpha + ta)
    out: FloatArray = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + ta)) ** r * hyp2f1(r, b, a + b - 1.0, z))
    return out + 0.0  # + 0.0 turns the -0.0 of t == 0 (when a < 1) into 0.0


def simulate(
    n: int, r: float, alpha: float, a: float, b: float, T: float, seed: int | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Draw ``n`` customer histories ``(x, t_x, T)`` from the BG/NBD model over an age ``T``.

    Each customer draws ``λ ~ Gamma(r, rate α)`` and ``p ~ Beta(a, b)``, then buys at Poisson
    rate ``λ`` from time 0 (the first purchase, not counted) and, after every repeat purchase,
    drops out with probability ``p``. For tests and examples.

    Examples
    --------
    >>> x, t_x, T = simulate(3, 1.0, 1.0, 1.0, 1.0, T=10.0, seed=0)
    >>> bool(((0 <= t_x) & (t_x <= T)).all() and ((x > 0) | (t_x == 0)).all())
    True
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        now = 0.0
        while True:
            now += rng.exponential(1.0 / lam[i]) if lam[i] > 0 else np.inf
            if now > T:
                break
            x[i] += 1
            t_x[i] = now
            if rng.random() < p[i]:
                break
    return x, t_x, np.full(n, float(T))


class BGNBDFitter:
    """Maximum-likelihood fitter of the BG/NBD model.

    The negative mean (weighted) log-likelihood is minimised with ``scipy.optimize.minimize``
    over ``log(r, alpha, a, b)``, each bounded to ``[-log_bound, log_bound]``. A fit that
    fails or is degenerate is returned with ``converged=False`` rather than raising, so that
    a streaming caller can keep its previous parameters.

    Parameters
    ----------
    penalizer
        Weight of an L2 penalty on the log-parameters, ``penalizer * sum(log(θ)²)``, added to
        the mean negative log-likelihood (shrinks the parameters towards 1); 0 for plain ML.
    initial
        Starting values ``(r, alpha, a, b)`` (``alpha`` in the data's time unit).
    method
        ``"L-BFGS-B"`` (default) or ``"Nelder-Mead"``.
    tol
        Tolerance passed to ``scipy.optimize.minimize``.
    max_iter
        Iteration limit of the optimizer.
    log_bound
        Bound of the log-parameters searched; a fit ending within 0.001 of it is degenerate
        (the data do not pin that parameter down) and reported as not converged.
    restarts
        Further starting points. With ``restarts >= 1`` a fit from an ``initial`` other than
        the default ``(1, 1, 1, 1)`` is also fitted from the default (a warm start can stop on a
        worse optimum, or stay on a ridge it was left on), and, only when neither converges, the
        data-scaled ``(1, 1 / mean(x / T), 1, 1)`` (a unit-shape gamma of the observed
        purchase rate), then seeded draws around it (each parameter times
        ``exp(N(0, 1))``, seed 0); the converged fit of the best log-likelihood wins.

    Attributes
    ----------
    fitted : BGNBDParams | None
        Learned state: the last converged fit (unchanged by a fit that did not converge).
    last : BGNBDParams | None
        The result of the latest call to ``fit``, converged or not.
    reason : str
        Why the latest fit did not converge (``""`` if it did), e.g. ``"bound hit (b=3.269e+06)"``.

    Examples
    --------
    >>> x, t_x, T = simulate(5000, r=0.5, alpha=4.0, a=0.8, b=2.5, T=40.0, seed=7)
    >>> fitter = BGNBDFitter()
    >>> params = fitter.fit(x, t_x, T)
    >>> params.converged, params.n, fitter.fitted == params
    (True, 5000, True)
    >>> round(params.r, 1), round(params.alpha, 1), round(params.a, 1), round(params.b, 1)
    (0.5, 3.8, 0.9, 2.7)
    >>> fitter.fit([0, 0], [0, 0], [0, 0]).converged, fitter.fitted == params
    (False, True)
    """

    def __init__(
        self,
        penalizer: float = 0.0,
        initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
        method: str = "L-BFGS-B",
        tol: float = 1e-10,
        max_iter: int = 5000,
        log_bound: float = LOG_BOUND,
        restarts: int = 0,
    ) -> None:
        self.penalizer = penalizer
        self.restarts = restarts
        self.reason = ""
        self.initial = initial
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.log_bound = log_bound
        self.fitted: BGNBDParams | None = None
        self.last: BGNBDParams | None = None

    def fit(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> BGNBDParams:
        """Fit the model to customers' ``(x, t_x, T)``; ``weights`` counts each row (default 1).

        Returns the fitted parameters; ``converged`` is ``False`` (and ``fitted`` is left as
        it was) when the data are invalid (non-finite, negative, ``t_x > T``, no positive
        weight), contain no repeat purchase, or the optimisation fails or ends at a bound.

        Raises
        ------
        ValueError
            If the inputs do not have one common length.
        """
        xa, txa, Ta, w = history_arrays(x, t_x, T, weights)
        n = len(xa)
        result, self.reason = self._fit(xa, txa, Ta, w, n)
        self.last = result
        if result.converged:
            self.fitted = result
        return result

    def _fit(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray, n: int) -> tuple[BGNBDParams, str]:
        nan = float("nan")
        if problem := history_problem(x, t_x, T, w):
            return BGNBDParams(nan, nan, nan, nan, nan, n, False), problem
        starts, always = history_starts(x, T, w, self.initial, self.restarts)
        fit = fit_multistart(
            lambda p: bgnbd_log_likelihood(p, x, t_x, T), w, starts, always, method=self.method, tol=self.tol,
            max_iter=self.max_iter, log_bound=self.log_bound, penalizer=self.penalizer, names=("r", "alpha", "a", "b"),
            with_gradient=lambda p: bgnbd_log_likelihood_gradient(p, x, t_x, T),
        )  # fmt: skip
        r, alpha, a, b = fit.params
        return BGNBDParams(r, alpha, a, b, fit.log_likelihood, n, fit.converged), fit.reason
