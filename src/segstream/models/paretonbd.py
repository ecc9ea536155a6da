"""Pareto/NBD model of repeat buying: how many purchases a customer will make, and whether alive.

The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987), "Counting your customers: who
are they and what will they do next?", Management Science 33(1), 1-24, in the notation of
Fader & Hardie (2005), "A note on deriving the Pareto/NBD model and related expressions".
While alive, a customer buys as a Poisson process of rate ``λ``; independently, they drop out
for good at an exponential time of rate ``μ``, at any moment (not only right after a purchase,
as in the BG/NBD model). Across customers ``λ ~ Gamma(r, α)`` and ``μ ~ Gamma(s, β)``
(shapes ``r``, ``s``; rates ``α``, ``β``), independently.

A customer's history is ``(x, t_x, T)`` as in :mod:`segstream.models.bgnbd`: repeat purchases,
time of the last one from the first purchase (0 when ``x == 0``) and age, in one time unit
(weeks for CDNOW); ``α`` and ``β`` are in that unit, ``r`` and ``s`` dimensionless.

Everything here is pure numpy/scipy, vectorised over customers, with no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, gammaln, hyp2f1

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
    "ParetoNBDFitter",
    "ParetoNBDParams",
    "expected_purchases",
    "p_alive",
    "p_no_purchase",
    "paretonbd_log_likelihood",
]

FloatArray = NDArray[np.float64]

# Default bound of the log-parameters searched by the fitter (as in bgnbd).
LOG_BOUND: Final = 15.0
#: Rows with ``r + s + x`` above this use the quadrature: scipy's ``hyp2f1(a, b; a + 1; z)``
#: returns inf/NaN from about ``a = 100`` on (for ``z < -1`` or ``z`` near 1).
CLOSED_FORM_MAX_SHAPE: Final = 80.0
#: Rows with ``z`` above this use the quadrature too: scipy's ``hyp2f1(k, q; k + 1; z)`` slows
#: from ~0.2 µs a row to 3–17 µs as ``z`` nears 1 (non-integer ``q``), the 64-node quadrature
#: costs ~1.2 µs. Far from the optimum most rows can have ``z > 0.9`` (CDNOW master file at
#: ``(0.01, 0.01, 10, 100)``: 61%), which made a likelihood evaluation ~30 times slower and a
#: warm-started refit of 23,570 customers take 28.7 s instead of 1.6 s.
CLOSED_FORM_MAX_Z: Final = 0.9


class ParetoNBDParams(msgspec.Struct, frozen=True):
    """Fitted Pareto/NBD parameters.

    Attributes
    ----------
    r, alpha
        Shape and rate of the gamma distribution of purchase rates (``alpha`` in the data's
        time unit).
    s, beta
        Shape and rate of the gamma distribution of dropout rates (``beta`` in the time unit).
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
    s: float
    beta: float
    log_likelihood: float
    n: int
    converged: bool


ParamsLike = ParetoNBDParams | Sequence[float]


def _unpack(params: ParamsLike) -> tuple[float, float, float, float]:
    if isinstance(params, ParetoNBDParams):
        values = (params.r, params.alpha, params.s, params.beta)
    else:
        values = tuple(float(v) for v in params)  # type: ignore[assignment]
    if len(values) != 4 or not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"Pareto/NBD parameters (r, alpha, s, beta) must be 4 finite positive numbers, got {values}")
    r, alpha, s, beta = values
    return r, alpha, s, beta


def _arrays(*values: ArrayLike) -> list[FloatArray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def _log_integral(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray, method: str
) -> FloatArray:
    """``ln ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ`` for 1-d arrays ``x, t_x, T`` of one length.

    Let ``a`` be the larger of ``α, β``, ``p`` its exponent, ``b`` and ``q`` the other rate and
    exponent, ``k = p + q - 1 = r+s+x``, ``ρ = ((a+t_x)/(a+T))^k`` and ``z = (a-b)/(a+t_x) ∈ [0, 1)``.
    Then the integral is ``(a+t_x)^-k J / k`` with ``J = ∫_ρ^1 (1 - z y^(1/k))^-q dy``
    (``y = ((a+t_x)/(a+τ))^k``), whose integrand increases with ``y``: ``J`` lies between ``1 - ρ``
    times its values at ``ρ`` and at 1. In closed form (Euler's integral, the two branches of
    Fader & Hardie's note) ``J = H(z) - ρ H(z (a+t_x)/(a+T))``, ``H(z) = ₂F₁(k, q; k+1; z)``.

    Numerically, with ``w = ln((a+τ)/(a+t_x))`` the integrand is ``(a+t_x)^-k e^(-k w)
    (1 - z e^(-w))^-q``, decreasing and below ``e^-40`` of its start past ``w = 40/k``, where it
    is cut; 64 Gauss-Legendre nodes are put at ``w = W u³`` (``u`` on [0, 1]), dense near ``w = 0``
    where it is steepest and where ``1 - z e^(-w)`` nears 0 when ``z → 1``.

    ``method="auto"`` integrates numerically the rows where ``k > CLOSED_FORM_MAX_SHAPE``,
    ``z > CLOSED_FORM_MAX_Z`` (where ``hyp2f1`` is slow), ``hyp2f1`` is not finite,
    or ``J`` is out of its bounds (cancellation when ``t_x`` nears ``T``).
    """
    k = r + s + x
    a, b, q = (alpha, beta, np.full(x.shape, s + 1.0)) if alpha >= beta else (beta, alpha, r + x)
    z = (a - b) / (a + t_x)
    log_rho = k * (np.log(a + t_x) - np.log(a + T))
    out = np.where(t_x == T, -np.inf, np.nan)
    todo = np.full(x.shape, method == "quadrature")
    if method != "quadrature":
        rho = np.exp(log_rho)
        lo, hi = (-np.expm1(log_rho) * np.exp(-q * np.log1p(-z * v)) for v in (np.exp(log_rho / k), 1.0))
        closed = (k <= CLOSED_FORM_MAX_SHAPE) & ((z <= CLOSED_FORM_MAX_Z) | (method == "closed"))
        kc = np.where(closed, k, np.nan)  # NaN: hyp2f1 skips the row
        j = hyp2f1(kc, q, kc + 1.0, z) - rho * hyp2f1(kc, q, kc + 1.0, z * (a + t_x) / (a + T))
        good = np.isfinite(j) & (j >= lo * (1 - 1e-9)) & (j <= hi * (1 + 1e-9)) & (t_x < T)
        out = np.where(good, np.log(np.clip(j, lo, hi)) - k * np.log(a + t_x) - np.log(k), out)
        todo = ~good & (method == "auto")
    todo &= t_x < T
    rows = np.flatnonzero(todo)
    for i in range(0, len(rows), QUADRATURE_CHUNK):  # rows x nodes temporaries, a chunk at a time
        at = rows[i : i + QUADRATURE_CHUNK]
        kc, qc, zc, tc = k[at], q[at], z[at], t_x[at]
        span = np.minimum(np.log1p((T[at] - tc) / (a + tc)), 40.0 / kc)
        u = (1.0 + GL_NODES) / 2.0
        w = span[:, None] * u**3
        log_f = -kc[:, None] * w - qc[:, None] * np.log1p(-zc[:, None] * np.exp(-w)) + np.log(3.0 * u**2)
        peak = log_f.max(axis=1)
        total = np.exp(log_f - peak[:, None]) @ GL_WEIGHTS
        out[at] = -kc * np.log(a + tc) + peak + np.log(total * span / 2.0)
    return out


def _log_terms(
    params: ParamsLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, method: str = "auto"
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(head, alive, dead)``: ``ln L = head + logaddexp(alive, dead)``, alive/dead at ``T``."""
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got {method!r}")
    r, alpha, s, beta = _unpack(params)
    xa, txa, Ta = np.broadcast_arrays(*_arrays(x, t_x, T))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        head = gammaln(r + xa) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + xa) * np.log(alpha + Ta) - s * np.log(beta + Ta)
        valid = (xa >= 0) & (txa >= 0) & (txa <= Ta) & ((xa > 0) | (txa == 0))
        xf, txf, Tf = (np.where(valid, v, np.nan).ravel() for v in (xa, txa, Ta))
        dead = np.log(s) + _log_integral(r, alpha, s, beta, xf, txf, Tf, method).reshape(xa.shape)
        dead = np.where(valid, dead, np.nan)
    return head, alive, dead


def paretonbd_log_likelihood(
    params: ParamsLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, method: str = "auto"
) -> FloatArray:
    """Log-likelihood of each customer's ``(x, t_x, T)`` under the Pareto/NBD model.

    Fader & Hardie (2005 note, eq. 19 ff.):

    ``L = Γ(r+x)/Γ(r) α^r β^s [(α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ]``,

    the first term for a customer still alive at ``T``, the second for one who dropped out at
    some ``τ`` between the last purchase and ``T``. The integral is
    ``s/(r+s+x) [F(t_x) - F(T)]`` with ``F(u) = ₂F₁(r+s+x, s+1; r+s+x+1; (α-β)/(α+u)) / (α+u)^(r+s+x)``
    when ``α ≥ β`` (else the same with ``α, β`` and ``s+1, r+x`` swapped); the two
    terms are combined in log space. Rows where that closed form loses precision (frequent
    buyers, ``t_x`` close to ``T``, an ``hyp2f1`` out of its range) are integrated numerically
    instead, with fixed Gauss-Legendre nodes after a substitution that makes the integrand smooth.

    Parameters
    ----------
    params
        ``ParetoNBDParams`` or a sequence ``(r, alpha, s, beta)``, all positive.
    x, t_x, T
        Repeat purchases, recency and age (broadcast together), ``0 <= t_x <= T``.
    method
        ``"auto"`` (default), or ``"closed"`` / ``"quadrature"`` to force one evaluation
        (``"closed"`` gives NaN where the closed form is out of its bounds).

    Returns
    -------
    numpy.ndarray
        Per-customer log-likelihoods; their sum is the sample's. Inputs outside the domain
        give NaN.

    Raises
    ------
    ValueError
        If the parameters are not four finite positive numbers, or ``method`` is unknown.

    Examples
    --------
    >>> cdnow = (0.55, 10.58, 0.61, 11.67)
    >>> ll = paretonbd_log_likelihood(cdnow, [0, 2], [0.0, 30.43], [38.86, 38.86])
    >>> [round(float(v), 4) for v in ll]
    [-0.517, -9.562]
    """
    head, alive, dead = _log_terms(params, x, t_x, T, method)
    with np.errstate(invalid="ignore"):
        ll: FloatArray = head + np.logaddexp(alive, dead)
    return ll


def p_alive(params: ParamsLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability that a customer with history ``(x, t_x, T)`` is still alive at ``T``.

    The alive term's share of the likelihood: ``P(alive) = Γ(r+x)/Γ(r) α^r β^s (α+T)^-(r+x)
    (β+T)^-s / L(x, t_x, T)`` (Fader & Hardie 2005 note, eq. 18), a logistic of the log-ratio
    of the two terms. Unlike the BG/NBD model's, it is below 1 also when ``x == 0``.

    Examples
    --------
    >>> cdnow = (0.55, 10.58, 0.61, 11.67)
    >>> [round(float(v), 4) for v in p_alive(cdnow, [0, 2, 2], [0.0, 30.43, 5.0], 38.86)]
    [0.2938, 0.8684, 0.1294]
    """
    _, alive, dead = _log_terms(params, x, t_x, T)
    p: FloatArray = expit(alive - dead)
    return p


def expected_purchases(params: ParamsLike, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Expected number of purchases in ``(T, T + t]`` of a customer with history ``(x, t_x, T)``.

    Schmittlein, Morrison & Colombo (1987, eq. 22); Fader & Hardie (2005 note, eq. 20):

    ``E[Y(t) | x, t_x, T] = P(alive) (r+x)(β+T) / ((α+T)(s-1)) [1 - ((β+T)/(β+T+t))^(s-1)]``,

    computed with ``expm1``/``log1p`` so that it holds through ``s = 1``, where it becomes
    ``P(alive) (r+x)(β+T)/(α+T) ln(1 + t/(β+T))``. It is finite for every ``t`` but grows
    without bound with ``t`` when ``s <= 1``.

    Parameters
    ----------
    params
        ``ParetoNBDParams`` or ``(r, alpha, s, beta)``.
    t
        Horizon(s) ``>= 0``, in the time unit of the data; broadcast with the customers.
    x, t_x, T
        Repeat purchases, recency and age of the customers.

    Examples
    --------
    >>> cdnow = (0.55, 10.58, 0.61, 11.67)
    >>> [round(float(v), 4) for v in expected_purchases(cdnow, [0, 10, 39], 2, 30.43, 38.86)]
    [0.0, 0.4234, 1.4504]
    """
    r, alpha, s, beta = _unpack(params)
    ta, xa, _, Ta = _arrays(t, x, t_x, T)
    log_growth = np.log1p(ta / (beta + Ta))  # ln((β+T+t)/(β+T))
    horizon = log_growth if s == 1.0 else -np.expm1(-(s - 1.0) * log_growth) / (s - 1.0)
    out: FloatArray = p_alive(params, x, t_x, T) * (r + xa) * (beta + Ta) / (alpha + Ta) * horizon
    return out


def p_no_purchase(params: ParamsLike, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability of no purchase in ``(T, T + t]`` for a customer with history ``(x, t_x, T)``.

    ``P = L(x, t_x, T + t) / L(x, t_x, T) = exp(ll(x, t_x, T + t) - ll(x, t_x, T))``. The
    likelihood ``L(x, t_x, T)`` is the density of the observed purchases *and no purchase in
    (t_x, T]*; the model's purchase and dropout process does not depend on when observation
    stops, so ``L(x, t_x, T + t)`` is the density of the same purchases and no purchase in
    ``(t_x, T + t]``, and their ratio is the conditional probability of the extra silence
    ``(T, T + t]``. It equals ``(1 - P(alive)) + P(alive) P(no purchase | alive at T)`` and is 1
    for ``t = 0``.

    Examples
    --------
    >>> cdnow = (0.55, 10.58, 0.61, 11.67)
    >>> [round(float(v), 4) for v in p_no_purchase(cdnow, [0, 13, 39], 2, 30.43, 38.86)]
    [1.0, 0.6339, 0.4094]
    """
    (ta,) = _arrays(t)
    _, alive, dead = _log_terms(params, x, t_x, T)
    _, alive_t, dead_t = _log_terms(params, x, t_x, np.asarray(T, dtype=np.float64) + ta)
    with np.errstate(invalid="ignore"):
        p: FloatArray = np.exp(np.logaddexp(alive_t, dead_t) - np.logaddexp(alive, dead))
    return p


class ParetoNBDFitter:
    """Maximum-likelihood fitter of the Pareto/NBD model, as ``BGNBDFitter`` for the BG/NBD.

    The negative mean (weighted) log-likelihood is minimised with ``scipy.optimize.minimize``
    over ``log(r, alpha, s, beta)``, each bounded to ``[-log_bound, log_bound]``, through
    :func:`segstream.models.mle.fit_multistart`. A fit that fails or is degenerate is returned
    with ``converged=False`` rather than raising, so that a streaming caller can keep its
    previous parameters.

    Parameters
    ----------
    penalizer
        Weight of an L2 penalty on the log-parameters, ``penalizer * sum(log(θ)²)``, added to
        the mean negative log-likelihood; 0 for plain ML.
    initial
        Starting values ``(r, alpha, s, beta)`` (``alpha`` and ``beta`` in the data's time unit).
    method
        ``"L-BFGS-B"`` (default) or ``"Nelder-Mead"``.
    tol
        Tolerance passed to ``scipy.optimize.minimize``.
    max_iter
        Iteration limit of the optimizer.
    log_bound
        Bound of the log-parameters searched; a fit ending within 0.001 of it is reported as
        not converged.
    restarts
        Further starting points, as in ``BGNBDFitter``: the default ``(1, 1, 1, 1)`` after any
        warm ``initial``, and, only when none converges, the data-scaled
        ``(1, 1 / mean(x / T), 1, 1)`` and seeded draws around it.

    Attributes
    ----------
    fitted : ParetoNBDParams | None
        Learned state: the last converged fit (unchanged by a fit that did not converge).
    last : ParetoNBDParams | None
        The result of the latest call to ``fit``, converged or not.
    reason : str
        Why the latest fit did not converge (``""`` if it did), e.g. ``"bound hit (s=3.269e+06)"``.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> lam, mu = rng.gamma(0.5, 1 / 4.0, 4000), rng.gamma(0.8, 1 / 20.0, 4000)
    >>> end = np.minimum(rng.exponential(1 / mu), 40.0)  # dropout, or the end of observation
    >>> x = rng.poisson(lam * end)
    >>> t_x = np.where(x > 0, end * rng.beta(np.maximum(x, 1), 1), 0.0)  # the last of x uniform times
    >>> fitter = ParetoNBDFitter()
    >>> params = fitter.fit(x, t_x, np.full(4000, 40.0))
    >>> params.converged, params.n, fitter.fitted == params
    (True, 4000, True)
    >>> round(params.r, 1), round(params.alpha, 1), round(params.s, 1), round(params.beta)  # truth 0.5, 4, 0.8, 20
    (0.5, 4.1, 0.7, 14)
    >>> fitter.fit([0, 0], [0, 0], [5, 5]).converged, fitter.reason, fitter.fitted == params
    (False, 'no repeat purchases', True)
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
        self.initial = initial
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.log_bound = log_bound
        self.restarts = restarts
        self.reason = ""
        self.fitted: ParetoNBDParams | None = None
        self.last: ParetoNBDParams | None = None

    def fit(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> ParetoNBDParams:
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
        result, self.reason = self._fit(xa, txa, Ta, w)
        self.last = result
        if result.converged:
            self.fitted = result
        return result

    def _fit(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> tuple[ParetoNBDParams, str]:
        n, nan = len(x), float("nan")
        if problem := history_problem(x, t_x, T, w):
            return ParetoNBDParams(nan, nan, nan, nan, nan, n, False), problem
        starts, always = history_starts(x, T, w, self.initial, self.restarts)
        fit = fit_multistart(
            lambda p: paretonbd_log_likelihood(p, x, t_x, T), w, starts, always, method=self.method, tol=self.tol,
            max_iter=self.max_iter, log_bound=self.log_bound, penalizer=self.penalizer,
            names=("r", "alpha", "s", "beta"),
        )  # fmt: skip
        r, alpha, s, beta = fit.params
        return ParetoNBDParams(r, alpha, s, beta, fit.log_likelihood, n, fit.converged), fit.reason
