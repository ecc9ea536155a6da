"""Gamma-Gamma model of spend per transaction, and customer lifetime value with BG/NBD.

Fader, Hardie & Lee (2005), "RFM and CLV: Using iso-value curves for customer base analysis",
Journal of Marketing Research 42(4), and Fader & Hardie (2013), "The Gamma-Gamma Model of
Monetary Value" (note). A customer's transaction values ``z_1, z_2, ...`` are i.i.d.
``Gamma(p, ν)`` (shape ``p``, rate ``ν``), so their mean is ``p / ν``; across customers
``ν ~ Gamma(q, γ)`` (shape ``q``, rate ``γ``, written ``v`` here). Spend is assumed
independent of the purchase process, so the model is fitted to the customers with at least
one repeat transaction, on

``x``
    the number of repeat transactions in the calibration period (``x > 0``), and
``m_x``
    the mean value of those ``x`` transactions (currency units).

``p`` and ``q`` are dimensionless; ``v`` is in the currency unit of ``m_x``.

Everything here is pure numpy/scipy, vectorised over customers, with no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from segstream.models.bgnbd import BGNBDParams, expected_purchases
from segstream.models.mle import fit_multistart, seeded_starts

__all__ = [
    "DAYS_PER_MONTH",
    "GammaGammaFitter",
    "GammaGammaParams",
    "clv",
    "expected_spend",
    "gammagamma_log_likelihood",
    "gammagamma_log_likelihood_gradient",
]

FloatArray = NDArray[np.float64]

DAYS_PER_MONTH: Final = 365.25 / 12
# Default bound of the log-parameters searched by the fitter; a parameter at a bound is degenerate.
LOG_BOUND: Final = 15.0


class GammaGammaParams(msgspec.Struct, frozen=True):
    """Fitted Gamma-Gamma parameters.

    Attributes
    ----------
    p
        Shape of the gamma distribution of a customer's transaction values.
    q, v
        Shape and rate (``γ`` in the papers, currency unit) of the gamma distribution of the
        per-customer rates ``ν``.
    log_likelihood
        Total (weighted) log-likelihood of the customers used, at these parameters.
    n
        Number of customers used by the fit (rows with ``x > 0`` and ``m_x > 0``).
    converged
        ``False`` when the fit failed or is degenerate (invalid data, no usable customer,
        optimizer failure, non-finite likelihood, a parameter at the search bounds); the
        parameters are then not to be used and a caller should keep its previous ones.
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    n: int
    converged: bool


GGParamsLike = GammaGammaParams | Sequence[float]
BGNBDParamsLike = BGNBDParams | Sequence[float]


def _unpack(params: GGParamsLike) -> tuple[float, float, float]:
    if isinstance(params, GammaGammaParams):
        return params.p, params.q, params.v
    p, q, v = params
    return float(p), float(q), float(v)


def gammagamma_log_likelihood(params: GGParamsLike, x: ArrayLike, m_x: ArrayLike) -> FloatArray:
    """Log-density of each customer's mean spend ``m_x`` over ``x`` repeat transactions.

    ``ln f(m_x | p, q, γ; x) = ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln m_x
    + px ln x - (px+q) ln(γ + x m_x)``

    (the sum of ``x`` values is ``Gamma(px, ν)``, so ``m_x`` is ``Gamma(px, xν)``; integrating
    ``ν ~ Gamma(q, γ)`` out gives this closed form).

    Parameters
    ----------
    params
        ``GammaGammaParams`` or a sequence ``(p, q, v)``, all positive.
    x, m_x
        Repeat transactions and their mean value (broadcast together).

    Returns
    -------
    numpy.ndarray
        Per-customer log-likelihoods; NaN (without a warning) for rows outside the model's
        domain (``x <= 0`` or ``m_x <= 0`` or NaN).

    Examples
    --------
    >>> ll = gammagamma_log_likelihood((6.25, 3.74, 15.44), [1, 4], [20.0, 35.5])
    >>> [round(float(v), 4) for v in ll]
    [-3.5942, -4.0743]
    """
    p, q, v = _unpack(params)
    xa = np.asarray(x, dtype=np.float64)
    ma = np.asarray(m_x, dtype=np.float64)
    ok = (xa > 0) & (ma > 0)
    xs = np.where(ok, xa, 1.0)
    ms = np.where(ok, ma, 1.0)
    px = p * xs
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(ms)
        + px * np.log(xs)
        - (px + q) * np.log(v + xs * ms)
    )
    out: FloatArray = np.where(ok, ll, np.nan)
    return out


def gammagamma_log_likelihood_gradient(
    params: GGParamsLike, x: ArrayLike, m_x: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """:func:`gammagamma_log_likelihood` and its derivatives by ``(p, q, v)``, per row:
    ``∂p: x [ψ(px+q) - ψ(px) + ln m_x + ln x - ln(γ + x m_x)]``,
    ``∂q: ψ(px+q) - ψ(q) + ln γ - ln(γ + x m_x)``, ``∂γ: q/γ - (px+q)/(γ + x m_x)``
    (NaN on rows outside the model's domain, as the log-likelihood).

    >>> p, x, m = (6.25, 3.74, 15.44), [1, 4], [20.0, 35.5]
    >>> ll, jac = gammagamma_log_likelihood_gradient(p, x, m)
    >>> h = 1e-6 * p[2]                            # central difference in γ
    >>> fd = (gammagamma_log_likelihood((*p[:2], p[2] + h), x, m)
    ...       - gammagamma_log_likelihood((*p[:2], p[2] - h), x, m)) / (2 * h)
    >>> bool(np.allclose(jac[:, 2], fd, rtol=1e-6)), [round(float(v), 4) for v in ll]
    (True, [-3.5942, -4.0743])
    """
    p, q, v = _unpack(params)
    xa, ma = (np.ravel(a) for a in np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, m_x))))
    ll = gammagamma_log_likelihood((p, q, v), xa, ma)
    ok = np.isfinite(ll)
    xs, ms = np.where(ok, xa, 1.0), np.where(ok, ma, 1.0)
    px, log_vxm = p * xs, np.log(v + xs * ms)
    psi_pxq = digamma(px + q)
    jac = np.column_stack(
        (
            xs * (psi_pxq - digamma(px) + np.log(ms) + np.log(xs) - log_vxm),
            psi_pxq - digamma(q) + np.log(v) - log_vxm,
            q / v - (px + q) / (v + xs * ms),
        )
    )
    return ll, np.where(ok[:, None], jac, np.nan)


def expected_spend(params: GGParamsLike, x: ArrayLike, m_x: ArrayLike) -> FloatArray:
    """Expected value of a customer's future transactions, ``E[Z | p, q, γ, m_x, x]``.

    ``(p (γ + x m_x)) / (p x + q - 1)``: a weighted mean of the population mean ``p γ / (q-1)``
    and the customer's own mean ``m_x``, the latter weighing more as ``x`` grows. For
    ``x == 0`` ``m_x`` is ignored (may be anything, NaN included) and the population mean is
    returned; that is only finite for ``q > 1``, NaN otherwise. Currency unit of ``m_x``.

    Examples
    --------
    >>> cdnow = (6.25, 3.74, 15.44)
    >>> [round(float(s), 2) for s in expected_spend(cdnow, [0, 1, 10], [float("nan"), 20.0, 20.0])]
    [35.22, 24.64, 20.64]
    """
    p, q, v = _unpack(params)
    xa = np.asarray(x, dtype=np.float64)
    ma = np.asarray(m_x, dtype=np.float64)
    own = xa * np.where(xa > 0, ma, 0.0)
    denominator = p * xa + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(denominator > 0, p * (v + own) / denominator, np.nan)
    return out


def clv(
    bgnbd_params: BGNBDParamsLike,
    gg_params: GGParamsLike,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
    months: int = 12,
    discount_rate_monthly: float = 0.01,
    time_unit_days: float = 7,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next ``months`` months.

    ``CLV = Σ_{i=1..months} (E[Y(i·M)] - E[Y((i-1)·M)]) · E[Z] / (1 + d)^i``

    with ``E[Y(t)]`` the BG/NBD conditional expectation of purchases in the next ``t``
    (``expected_purchases``), ``E[Z]`` the Gamma-Gamma expected spend (``expected_spend``),
    ``M`` one month in the BG/NBD time unit and ``d`` the monthly discount rate; month ``i``'s
    purchases are discounted as if paid at its end.

    Units
    -----
    ``x``
        repeat purchases (count); the same ``x`` feeds both models.
    ``t_x``, ``T``
        in the BG/NBD time unit, which is ``time_unit_days`` days long (7: weeks, as in the
        CDNOW fit; 1: days). A month is ``365.25 / 12 = 30.4375`` days, i.e.
        ``M = 30.4375 / time_unit_days`` time units (4.348 weeks).
    ``m_x``
        mean value of the repeat purchases, in a currency unit; the result is in that unit.
        Ignored for ``x == 0`` (the population mean spend is used).
    ``discount_rate_monthly``
        per month, e.g. 0.01 for 1 % a month (≈ 12.7 % a year).

    Returns
    -------
    numpy.ndarray
        CLV of each customer (broadcast shape of ``x, t_x, T, m_x``).

    Examples
    --------
    >>> bg, gg = (0.243, 4.414, 0.793, 2.426), (6.25, 3.74, 15.44)
    >>> [round(float(c), 2) for c in clv(bg, gg, [0, 2, 2], [0.0, 30.43, 5.0], 38.86, [0.0, 40.0, 40.0])]
    [8.37, 57.62, 9.81]
    """
    if months < 0:
        raise ValueError(f"months must be >= 0, got {months}")
    if time_unit_days <= 0:
        raise ValueError(f"time_unit_days must be > 0, got {time_unit_days}")
    xa, txa, Ta, ma = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (x, t_x, T, m_x)))
    month = DAYS_PER_MONTH / time_unit_days
    horizons = (month * np.arange(months + 1, dtype=np.float64)).reshape((-1,) + (1,) * xa.ndim)
    cumulative = expected_purchases(bgnbd_params, horizons, xa, txa, Ta)
    per_month = np.diff(cumulative, axis=0)
    discount = (1.0 + discount_rate_monthly) ** -np.arange(1, months + 1, dtype=np.float64)
    discounted = np.tensordot(discount, per_month, axes=(0, 0))
    out: FloatArray = discounted * expected_spend(gg_params, xa, ma)
    return out


class GammaGammaFitter:
    """Maximum-likelihood fitter of the Gamma-Gamma spend model.

    The negative mean (weighted) log-likelihood is minimised with ``scipy.optimize.minimize``
    over ``log(p, q, v)``, each bounded to ``[-log_bound, log_bound]``. Only customers with
    ``x > 0`` and ``m_x > 0`` are used (the others carry no spend information, e.g. one-time
    buyers, or all repeat purchases of value 0). A fit that fails or is degenerate is
    returned with ``converged=False`` rather than raising.

    Parameters
    ----------
    penalizer
        Weight of an L2 penalty on the log-parameters, ``penalizer * sum(log(θ)²)``, added to
        the mean negative log-likelihood; 0 for plain ML.
    initial
        Starting values ``(p, q, v)`` (``v`` in the currency unit of ``m_x``).
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
        the default ``(1, 1, 1)`` is also fitted from the default (a warm start can stop on a
        worse optimum, or stay on a ridge it was left on), and, only when neither converges, rough moments
        ``(1, q₀, (q₀ - 1) mean(m_x))`` with ``q₀ = 2 + 1 / CV²(m_x)`` (the inverse-gamma
        mean and CV of ``1/ν``, within-customer noise ignored), then seeded draws around it
        (each parameter times ``exp(N(0, 1))``, seed 0); the converged fit of the best
        log-likelihood wins.

    Attributes
    ----------
    fitted : GammaGammaParams | None
        Learned state: the last converged fit (unchanged by a fit that did not converge).
    last : GammaGammaParams | None
        The result of the latest call to ``fit``, converged or not.
    reason : str
        Why the latest fit did not converge (``""`` if it did), e.g. ``"bound hit (q=3.269e+06)"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> p, q, v, n = 6.0, 4.0, 15.0, 3000
    >>> x = rng.integers(1, 10, n)
    >>> nu = rng.gamma(q, 1 / v, n)                    # per-customer rate ν ~ Gamma(q, v)
    >>> m_x = rng.gamma(p * x, 1 / nu) / x             # mean of x transactions ~ Gamma(p, ν)
    >>> fitter = GammaGammaFitter()
    >>> params = fitter.fit(x, m_x)
    >>> params.converged, params.n, fitter.fitted == params
    (True, 3000, True)
    >>> round(params.p, 1), round(params.q, 1), round(params.v, 1)
    (6.5, 3.9, 13.9)
    >>> fitter.fit([1, 2], [float("nan"), 3.0]).converged, fitter.fitted == params
    (False, True)
    """

    def __init__(
        self,
        penalizer: float = 0.0,
        initial: tuple[float, float, float] = (1.0, 1.0, 1.0),
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
        self.fitted: GammaGammaParams | None = None
        self.last: GammaGammaParams | None = None

    def fit(self, x: ArrayLike, m_x: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaParams:
        """Fit the model to customers' ``(x, m_x)``; ``weights`` counts each row (default 1).

        Returns the fitted parameters; ``converged`` is ``False`` (and ``fitted`` is left as
        it was) when the data are invalid (non-finite, negative), no customer has ``x > 0``
        and ``m_x > 0`` with a positive weight, or the optimisation fails or ends at a bound.

        Raises
        ------
        ValueError
            If the inputs do not have one common length.
        """
        xa = np.ravel(np.asarray(x, dtype=np.float64))
        ma = np.ravel(np.asarray(m_x, dtype=np.float64))
        w = np.ones_like(xa) if weights is None else np.ravel(np.asarray(weights, dtype=np.float64))
        if not (len(xa) == len(ma) == len(w)):
            raise ValueError(f"x, m_x and weights must have one length, got {len(xa)}, {len(ma)}, {len(w)}")
        result, self.reason = self._fit(xa, ma, w)
        self.last = result
        if result.converged:
            self.fitted = result
        return result

    def _fit(self, x: FloatArray, m_x: FloatArray, w: FloatArray) -> tuple[GammaGammaParams, str]:
        nan = float("nan")
        failed = GammaGammaParams(nan, nan, nan, nan, 0, False)
        if not (np.isfinite(x).all() and np.isfinite(m_x).all() and np.isfinite(w).all()):
            return failed, "non-finite data"
        if (x < 0).any() or (m_x < 0).any() or (w < 0).any():
            return failed, "negative data"
        use = (x > 0) & (m_x > 0) & (w > 0)
        x, m_x, w = x[use], m_x[use], w[use]
        n = len(x)
        if n == 0:
            return failed, "no repeat buyers"
        cold = (1.0, 1.0, 1.0)
        mean = float(np.average(m_x, weights=w))
        cv2 = float(np.average((m_x - mean) ** 2, weights=w)) / mean**2
        q0 = 2.0 + 1.0 / cv2 if cv2 > 0 else 10.0
        moments = (1.0, q0, (q0 - 1.0) * mean)
        starts: list[tuple[float, ...]] = [self.initial, *([cold] if tuple(self.initial) != cold else []), moments]
        starts = (starts + seeded_starts(moments, self.restarts))[: 1 + self.restarts]
        always = 2 if self.restarts and tuple(self.initial) != cold else 1
        fit = fit_multistart(
            lambda p: gammagamma_log_likelihood(p, x, m_x), w, starts, always, method=self.method, tol=self.tol,
            max_iter=self.max_iter, log_bound=self.log_bound, penalizer=self.penalizer, names=("p", "q", "v"),
            with_gradient=lambda p: gammagamma_log_likelihood_gradient(p, x, m_x),
        )  # fmt: skip
        p, q, v = fit.params
        return GammaGammaParams(p, q, v, fit.log_likelihood, n, fit.converged), fit.reason
