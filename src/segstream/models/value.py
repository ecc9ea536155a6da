"""Customer value over time: the purchase models fitted together, and each customer's outlook.

One place at a time (the leader) fits BG/NBD and Gamma-Gamma on the customers' repeat
histories ``(x, t_x, T, m_x)`` as of the stream clock and publishes a
:class:`ValueSnapshot`; every worker scores its batches with the latest snapshot, all
customers of a batch at once (:func:`score_values`). A failed or degenerate fit keeps the
previous parameters and says so in ``status``.

Pure numpy/scipy: no I/O.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

from segstream.models.bgnbd import BGNBDFitter, BGNBDParams, expected_purchases, p_alive
from segstream.models.gammagamma import GammaGammaFitter, GammaGammaParams, clv, expected_spend

__all__ = ["TIERS", "ValueModel", "ValueScores", "ValueSnapshot", "fit_value", "score_values", "tier_of"]

FloatArray = NDArray[np.float64]

#: Value tiers, from the most valuable; the edges between them are CLV quantiles.
TIERS: Final = ("top", "high", "medium", "low")


class ValueSnapshot(msgspec.Struct, frozen=True):
    """Fitted purchase models every worker scores with.

    Attributes
    ----------
    version
        Increases by one with every published fit (failed ones included: ``status`` says).
    as_of_us
        Stream clock (event time, µs) the customers' histories were taken at.
    fitted_at
        Wall-clock time of the fit (ISO 8601, UTC).
    customers
        Customers with purchases the fit was given (the sample size).
    bgnbd, gammagamma
        Parameters in use (the last converged ones), ``None`` before the first success.
    tier_edges
        CLV (major units) at the population's ``tier_quantiles`` (ascending).
    revenue_minor
        Total spend of the customers in the fit, for each customer's share of revenue.
    status
        ``"ok"``, or why the latest fit was not used (the previous parameters stay).
    """

    version: int
    as_of_us: int
    fitted_at: str
    customers: int
    bgnbd: BGNBDParams | None
    gammagamma: GammaGammaParams | None
    tier_edges: list[float]
    revenue_minor: int
    status: str = "ok"


class ValueScores(NamedTuple):
    """Per customer, arrays of: P(alive), expected purchases in the horizon, P(no purchase
    in the horizon), expected spend per purchase (major units) and discounted CLV."""

    p_alive: FloatArray
    expected_purchases: FloatArray
    p_no_purchase: FloatArray
    expected_spend: FloatArray
    clv: FloatArray


class ValueModel:
    """How customer value is computed: horizon, CLV months, discounting and tiers.

    Parameters
    ----------
    horizon_days
        Horizon of the expected purchases and of P(no purchase).
    clv_months
        Months of expected purchases the CLV sums.
    discount_monthly
        Monthly discount rate of the CLV (0.01 is about 12.7% a year).
    tier_quantiles
        CLV quantiles separating low | medium | high | top (ascending, in (0, 1)).
    unit_days
        Time unit of the fits (7: weeks, as in the literature; changes ``alpha`` only).
    min_customers
        Fewer customers with purchases than this: no fit.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> from segstream.models.bgnbd import simulate
    >>> x, t_x, T = simulate(2000, r=0.5, alpha=4.0, a=0.8, b=2.5, T=40.0, seed=3)
    >>> m_x = np.where(x > 0, rng.gamma(6.0, 5.0, len(x)), 0.0)
    >>> model = ValueModel()
    >>> snap = fit_value(model, x, t_x, T, m_x, as_of_us=0, version=1, revenue_minor=10**6)
    >>> snap.status, snap.bgnbd is not None, snap.gammagamma is not None, len(snap.tier_edges)
    ('ok', True, True, 3)
    >>> s = score_values(model, snap, [0, 5, 5], [0.0, 39.0, 5.0], [40.0, 40.0, 40.0], [0.0, 30.0, 30.0])
    >>> bool(s.p_alive[1] > s.p_alive[2]), bool(s.clv[1] > s.clv[2]), bool(s.p_no_purchase[2] > s.p_no_purchase[1])
    (True, True, True)
    >>> tier_of(float(s.clv[1]), snap.tier_edges), tier_of(0.0, snap.tier_edges)
    ('high', 'low')
    """

    def __init__(
        self,
        horizon_days: float = 90.0,
        clv_months: int = 12,
        discount_monthly: float = 0.01,
        tier_quantiles: tuple[float, ...] = (0.5, 0.8, 0.95),
        unit_days: float = 7.0,
        min_customers: int = 50,
    ) -> None:
        if horizon_days <= 0 or clv_months < 1 or discount_monthly < 0 or unit_days <= 0:
            raise ValueError("horizon_days, clv_months and unit_days must be positive, discount_monthly >= 0")
        if len(tier_quantiles) != len(TIERS) - 1 or list(tier_quantiles) != sorted(tier_quantiles):
            raise ValueError(f"tier_quantiles needs {len(TIERS) - 1} ascending values")
        self.horizon_days = horizon_days
        self.clv_months = clv_months
        self.discount_monthly = discount_monthly
        self.tier_quantiles = tier_quantiles
        self.unit_days = unit_days
        self.min_customers = min_customers


def fit_value(
    model: ValueModel,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
    *,
    as_of_us: int,
    version: int,
    revenue_minor: int,
    previous: ValueSnapshot | None = None,
    fitted_at: str = "",
) -> ValueSnapshot:
    """Fit BG/NBD on every customer and Gamma-Gamma on the repeat buyers; keep the previous
    parameters of a model whose fit fails (and say so in ``status``)."""
    xa, txa, Ta, ma = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T, m_x))
    bg = previous.bgnbd if previous else None
    gg = previous.gammagamma if previous else None
    problems: list[str] = []
    if len(xa) < model.min_customers:
        problems.append(f"{len(xa)} customers with purchases, fewer than {model.min_customers}: not fitted")
    else:
        start = (bg.r, bg.alpha, bg.a, bg.b) if bg else (1.0, 1.0, 1.0, 1.0)
        fit = BGNBDFitter(initial=start).fit(xa, txa, Ta)
        if fit.converged and fit.a != 1.0:
            bg = fit
        else:
            problems.append(f"BG/NBD fit on {len(xa)} customers did not converge")
        repeat = (xa > 0) & (ma > 0)
        gfit = GammaGammaFitter().fit(xa[repeat], ma[repeat])
        if gfit.converged and gfit.q > 1.0:
            gg = gfit
        else:
            problems.append(f"Gamma-Gamma fit on {int(repeat.sum())} repeat buyers did not converge")
    status = "ok"
    if problems:
        kept = f"; previous parameters kept (v{previous.version})" if previous else "; no parameters yet"
        status = "; ".join(problems) + kept
    edges: list[float] = list(previous.tier_edges) if previous else []
    snap = ValueSnapshot(version, as_of_us, fitted_at, len(xa), bg, gg, edges, revenue_minor, status)
    if bg is not None and len(xa):
        values = score_values(model, snap, xa, txa, Ta, ma).clv
        finite = values[np.isfinite(values)]
        if len(finite):
            snap = msgspec.structs.replace(
                snap, tier_edges=[float(q) for q in np.quantile(finite, model.tier_quantiles)]
            )
    return snap


def score_values(
    model: ValueModel, snap: ValueSnapshot, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, m_x: ArrayLike
) -> ValueScores:
    """Score a batch of customers' repeat histories with the snapshot's parameters.

    Without Gamma-Gamma parameters the expected spend is the customer's own mean
    transaction value (``m_x``). NaN everywhere when the snapshot has no BG/NBD parameters.
    """
    xa, txa, Ta, ma = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, t_x, T, m_x)))
    if snap.bgnbd is None:
        nan = np.full(xa.shape, np.nan)
        return ValueScores(nan, nan, nan, nan, nan)
    bg = snap.bgnbd
    h = model.horizon_days / model.unit_days
    alive = p_alive(bg, xa, txa, Ta)
    purchases = expected_purchases(bg, h, xa, txa, Ta)
    # P(no purchase in (T, T+h]) = P(dead) + P(alive) * E[exp(-λh)], with λ | alive ~ Gamma(r+x, α+T)
    silent_if_alive = ((bg.alpha + Ta) / (bg.alpha + Ta + h)) ** (bg.r + xa)
    p_none = (1.0 - alive) + alive * silent_if_alive
    if snap.gammagamma is not None:
        spend = expected_spend(snap.gammagamma, xa, ma)
        value = clv(bg, snap.gammagamma, xa, txa, Ta, ma, model.clv_months, model.discount_monthly, model.unit_days)
    else:
        spend = ma.copy()
        month = 365.25 / 12 / model.unit_days
        horizons = month * np.arange(model.clv_months + 1)
        per_month = np.diff(expected_purchases(bg, horizons[:, None], xa, txa, Ta), axis=0)
        discount = (1.0 + model.discount_monthly) ** -np.arange(1, model.clv_months + 1)
        value = (discount @ per_month) * spend
    return ValueScores(alive, purchases, p_none, spend, value)


def tier_of(clv_value: float, edges: list[float]) -> str | None:
    """The value tier of a CLV given the population's tier edges (``None`` without edges)."""
    if not edges or not np.isfinite(clv_value):
        return None
    below = sum(clv_value > e for e in edges)  # 0: low .. 3: top
    return TIERS[len(TIERS) - 1 - below]
