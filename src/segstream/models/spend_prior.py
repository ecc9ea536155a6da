"""Spend without Gamma-Gamma, and the cap of a customer's share of revenue.

**Shrunk log-normal spend** (the fallback when Gamma-Gamma is unavailable: ``q <= 1``, too
few repeat buyers, no convergence). Empirical Bayes normal-normal shrinkage on the log of
the customers' mean repeat-order value. For a repeat buyer (``x >= 1``, ``m_x > 0``) let
``y = log m_x`` and take

``y | θ ~ N(θ, σ² / x)``, ``θ ~ N(μ, τ²)``

(``θ`` the customer's typical log order value, ``σ²`` the within-customer variance of one
order's log value, ``τ²`` the between-customer variance). ``m_x`` is the mean of the ``x``
repeat transactions (``PurchaseSummary.repeat_history``), not of their logs: ``log m_x``
stands in for the mean log value, an approximation (by Jensen's inequality ``log m_x`` is
at least the mean log, by up to ``σ²/2`` for large ``x``). The population is fitted by
moments: ``μ`` is the mean of ``y``; since ``E[(y - μ)²] = τ² + σ² / x``, the squared
deviations (times ``n / (n - 1)``) are regressed by least squares on ``[1, 1/x]``,
intercept ``τ²`` and slope ``σ²``. A negative estimate is set to 0 and the other refitted
alone (``τ² = 0``: slope through the origin; ``σ² = 0``: ``τ²`` the mean squared
deviation). With one distinct ``x`` only the sum ``τ² + σ²/x`` is identified; it is split
in half. A customer's expected spend per transaction is then

``exp((x τ² y + σ² μ) / (x τ² + σ²))``

the exponential of the posterior mean of ``θ``: the weight on the customer's own mean is
``x τ² / (x τ² + σ²)``. Customers with ``x = 0`` (or whose repeat orders were worth 0) get
``exp(μ)``. This is the posterior median of the customer's typical order value, not its
mean (``exp(θ + σ²/2)``), i.e. conservative.

**Spend cap.** One customer's purchase of 1e12 made every other customer's share of
revenue about 0. Shares are computed on capped spends: ``cap = max(P99.5, exp(med + 3 ·
1.4826 · MAD))`` over the log spends of the customers with spend > 0 (``med``, ``MAD``:
median and median absolute deviation of the log spends; ``1.4826 · MAD`` estimates a
standard deviation, robustly). A customer is capped only if in the top 0.5% *and* more
than three robust standard deviations above the median on the log scale (for log-normal
spends, at most the top 0.13%: P(Z > 3)).

Pure numpy: no I/O.
"""

from __future__ import annotations

from typing import Final

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CAP_MADS", "CAP_QUANTILE", "SpendPrior", "fit_spend_prior", "shrunk_spend", "spend_cap"]

FloatArray = NDArray[np.float64]

#: Capped spends: only above the population's 99.5th percentile ...
CAP_QUANTILE: Final = 0.995
#: ... and above exp(median + 3 robust standard deviations) of the log spends.
CAP_MADS: Final = 3.0


class SpendPrior(msgspec.Struct, frozen=True):
    """Population of log order values: ``θ ~ N(mu, tau2)``, one order's log value ``N(θ, sigma2)``.

    ``mu`` is in log major units; ``n`` is the number of repeat buyers it was fitted on.
    """

    mu: float
    tau2: float
    sigma2: float
    n: int


def fit_spend_prior(x: ArrayLike, m_x: ArrayLike) -> SpendPrior | None:
    """Fit ``μ, τ², σ²`` by moments on the repeat buyers (``None`` with fewer than 2).

    Examples
    --------
    >>> prior = fit_spend_prior([1, 1, 2, 2, 0], [10.0, 40.0, 20.0, 25.0, 0.0])
    >>> round(prior.mu, 4), round(prior.tau2, 4), round(prior.sigma2, 4), prior.n
    (3.0515, 0.0, 0.5241, 4)
    """
    xa = np.ravel(np.asarray(x, dtype=np.float64))
    ma = np.ravel(np.asarray(m_x, dtype=np.float64))
    use = (xa > 0) & (ma > 0) & np.isfinite(ma)
    n = int(use.sum())
    if n < 2:
        return None
    y, inv = np.log(ma[use]), 1.0 / xa[use]
    mu = float(y.mean())
    d2 = (y - mu) ** 2 * n / (n - 1)
    if np.ptp(inv) == 0:  # one x: only τ² + σ²/x is known
        total = float(d2.mean())
        return SpendPrior(mu, total / 2, total / 2 / float(inv[0]), n)
    design = np.column_stack([np.ones(n), inv])
    tau2, sigma2 = (float(v) for v in np.linalg.lstsq(design, d2, rcond=None)[0])
    if tau2 < 0:
        tau2, sigma2 = 0.0, float(inv @ d2 / (inv @ inv))
    elif sigma2 < 0:
        tau2, sigma2 = float(d2.mean()), 0.0
    return SpendPrior(mu, tau2, sigma2, n)


def shrunk_spend(prior: SpendPrior, x: ArrayLike, m_x: ArrayLike) -> FloatArray:
    """Each customer's expected spend per transaction under the shrunk log-normal model.

    Examples
    --------
    >>> prior = SpendPrior(mu=3.0, tau2=0.5, sigma2=1.0, n=100)
    >>> [round(float(s), 3) for s in shrunk_spend(prior, [0, 1, 4], [0.0, 100.0, 100.0])]
    [20.086, 34.297, 58.564]
    """
    xa = np.asarray(x, dtype=np.float64)
    ma = np.asarray(m_x, dtype=np.float64)
    own = (xa > 0) & (ma > 0)
    y = np.log(np.where(own, ma, 1.0))
    precision = np.where(own, xa, 0.0) * prior.tau2
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(precision > 0, precision / (precision + prior.sigma2), 0.0)
    out: FloatArray = np.exp(weight * y + (1.0 - weight) * prior.mu)
    return out


def spend_cap(spend: ArrayLike) -> float:
    """The cap of a customer's spend in the revenue shares (``inf`` without any spend).

    Examples
    --------
    >>> spend = np.r_[np.full(500, 100.0), np.full(499, 300.0), 1e12]
    >>> round(spend_cap(spend))  # exp(median + 3 · 1.4826 · log(3)/2) = 173.2 · 11.5
    1994
    """
    s = np.ravel(np.asarray(spend, dtype=np.float64))
    logs = np.log(s[s > 0])
    if not len(logs):
        return float("inf")
    med = float(np.median(logs))
    robust = med + CAP_MADS * 1.4826 * float(np.median(np.abs(logs - med)))
    return float(max(np.exp(robust), np.quantile(s[s > 0], CAP_QUANTILE)))
