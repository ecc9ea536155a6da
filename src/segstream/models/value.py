"""Customer value over time: the purchase models fitted together, and each customer's outlook.

One place at a time (the leader) fits BG/NBD and Gamma-Gamma on the customers' repeat
histories ``(x, t_x, T, m_x)`` as of the stream clock and publishes a
:class:`ValueSnapshot`; every worker scores its batches with the latest snapshot, all
customers of a batch at once (:func:`score_values`). A failed or degenerate fit keeps the
previous parameters and says why in ``status`` (and per model in ``bgnbd_status``,
``gammagamma_status``). Without Gamma-Gamma parameters the expected spend is the shrunk
log-normal of :mod:`segstream.models.spend_prior`.

Pure numpy/scipy: no I/O.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

from segstream.models.bgnbd import BGNBDFitter, BGNBDParams, expected_purchases, p_alive
from segstream.models.gammagamma import GammaGammaFitter, GammaGammaParams, clv, expected_spend
from segstream.models.paretonbd import ParetoNBDFitter, ParetoNBDParams
from segstream.models.paretonbd import p_no_purchase as pareto_no_purchase
from segstream.models.spend_prior import SpendPrior, fit_spend_prior, shrunk_spend, spend_cap

__all__ = ["TIERS", "ValueModel", "ValueScores", "ValueSnapshot", "fit_value", "score_values", "tier_of"]

FloatArray = NDArray[np.float64]

#: Value tiers, from the most valuable; the edges between them are CLV quantiles.
TIERS: Final = ("top", "high", "medium", "low")
#: The models the churn risk's P(no purchase in the horizon) may come from.
LAPSE_MODELS: Final = ("auto", "paretonbd", "bgnbd")
_SLICE: Final = 16_384  # customers scored at once for the tier edges: 13 CLV horizons x 16,384 floats, 1.7 MB


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
        CLV (major units) at ``tier_quantiles`` (ascending) of the customers with spend > 0
        (all customers when the fit was not given their spends).
    revenue_minor
        Total spend (minor units, uncapped) of the customers in the fit.
    status
        ``"ok"``, or why each model's latest fit was not used (its previous parameters
        stay) and which spend model is in use when it is not Gamma-Gamma.
    bgnbd_status, gammagamma_status
        ``"ok"`` or the reason for one model, e.g. ``"Gamma-Gamma: q ≤ 1 (q=0.83): mean
        spend undefined; no parameters yet"``.
    spend_prior
        The shrunk log-normal population, the expected spend when ``gammagamma`` is ``None``.
    spend_cap_minor, capped_revenue_minor
        The cap of one customer's spend in the revenue shares (:func:`spend_cap`, floored to
        a minor unit) and the total of the capped spends; 0: no cap (older snapshots:
        shares of ``revenue_minor``). See :meth:`contribution`.
    paretonbd, paretonbd_status
        Pareto/NBD parameters in use for the churn risk's P(no purchase) (``None``: not
        fitted yet, or the lapse model is BG/NBD) and the status of its latest fit
        (``"not used"`` when ``ValueModel.lapse_model`` is ``"bgnbd"``; fitted with
        ``"auto"`` and ``"paretonbd"``).
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
    bgnbd_status: str = "ok"
    gammagamma_status: str = "ok"
    spend_prior: SpendPrior | None = None
    spend_cap_minor: int = 0
    capped_revenue_minor: int = 0
    paretonbd: ParetoNBDParams | None = None
    paretonbd_status: str = "ok"

    def contribution(self, spend_minor: int) -> float | None:
        """A customer's share of revenue: ``min(spend, cap) / capped revenue`` (``spend /
        revenue_minor`` for a snapshot without a cap; ``None`` without revenue).

        >>> snap = ValueSnapshot(1, 0, "", 3, None, None, [], 10**9 + 300, spend_cap_minor=200,
        ...                      capped_revenue_minor=500)
        >>> snap.contribution(100), snap.contribution(10**9)
        (0.2, 0.4)
        """
        if self.spend_cap_minor and self.capped_revenue_minor:
            return min(spend_minor, self.spend_cap_minor) / self.capped_revenue_minor
        return spend_minor / self.revenue_minor if self.revenue_minor else None


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
    min_repeat_buyers
        Fewer repeat buyers (``x > 0``, ``m_x > 0``) than this: no Gamma-Gamma fit (three
        parameters from a handful of customers are noise).
    restarts
        Further starting points of a fit whose first start (the previous parameters, else
        the default) does not converge (see :class:`BGNBDFitter`).
    one_time_dropout
        P(no purchase in the horizon) of a one-time buyer (``x = 0``) lets it have dropped
        out after its first purchase, as the modified BG/NBD (MBG/NBD, Batislam et al. 2007)
        does, where BG/NBD keeps it alive for ever (a one-time buyer silent for months still
        expects purchases). Its survival is scaled by the evidence of its silence only:
        ``P_MBG(alive | T) / P_MBG(alive | 0) = (1 + a/b) / (1 + a/b ((alpha + T) / alpha) ** r)``
        (the likelihood ratio of staying silent for ``T``; the fitted BG/NBD parameters), so
        a new customer is scored as before (MBG/NBD's own P(alive) would give it the prior
        chance ``a / (a + b)`` of having dropped out at once) and a silent one tends to dead.
        Only that probability, the churn risk's ``purchase_lapse``, changes: P(alive),
        expected purchases and CLV stay BG/NBD's. Used only for the customers whose lapse
        is BG/NBD's (see ``lapse_model``).
    lapse_model
        The model of the churn risk's P(no purchase in the horizon), the ``purchase_lapse``
        driver: ``"bgnbd"``, ``"paretonbd"`` (Pareto/NBD, fitted beside BG/NBD: a customer
        may drop out at any time, so a silent one-time buyer's chance of another purchase
        keeps falling) or ``"auto"`` (the default): Pareto/NBD's for a customer whose only
        signal is its purchases, BG/NBD's for one that uses the product (``used`` of
        :func:`score_values`). On the CDNOW holdout, purchases only, Pareto/NBD ranks churn
        better than BG/NBD; for a customer who uses the product the lapse counts only as
        far as its use has gone quiet, and there Pareto/NBD's raised false alarms on the
        simulated population (docs/QUALITY.md). Until Pareto/NBD has parameters, or where it
        has no value, BG/NBD's is used. P(alive), expected purchases and CLV are BG/NBD's
        either way.

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
        min_repeat_buyers: int = 30,
        restarts: int = 4,
        one_time_dropout: bool = False,
        lapse_model: str = "auto",
    ) -> None:
        if horizon_days <= 0 or clv_months < 1 or discount_monthly < 0 or unit_days <= 0:
            raise ValueError("horizon_days, clv_months and unit_days must be positive, discount_monthly >= 0")
        if len(tier_quantiles) != len(TIERS) - 1 or list(tier_quantiles) != sorted(tier_quantiles):
            raise ValueError(f"tier_quantiles needs {len(TIERS) - 1} ascending values")
        if lapse_model not in LAPSE_MODELS:
            raise ValueError(f"lapse_model must be one of {', '.join(LAPSE_MODELS)}, got {lapse_model!r}")
        self.horizon_days = horizon_days
        self.clv_months = clv_months
        self.discount_monthly = discount_monthly
        self.tier_quantiles = tier_quantiles
        self.unit_days = unit_days
        self.min_customers = min_customers
        self.min_repeat_buyers = min_repeat_buyers
        self.restarts = restarts
        self.one_time_dropout = one_time_dropout
        self.lapse_model = lapse_model


def fit_value(
    model: ValueModel,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
    *,
    as_of_us: int,
    version: int,
    revenue_minor: int | None = None,
    spend_minor: ArrayLike | None = None,
    previous: ValueSnapshot | None = None,
    fitted_at: str = "",
) -> ValueSnapshot:
    """Fit BG/NBD on every customer, Pareto/NBD too when it may give the churn risk's lapse
    (``model.lapse_model`` not ``"bgnbd"``), and Gamma-Gamma on the repeat buyers; keep the previous
    parameters of a model whose fit fails and say why in its status.

    BG/NBD and Pareto/NBD are fitted on one row per distinct ``(x, t_x, T)``, weighted by
    its customers (the same likelihood; their parameters' ``n`` is the customers). Each fit
    starts from the previous parameters and from the default, and, if neither converges,
    from ``model.restarts`` further starts (the best converged one wins).
    Gamma-Gamma is not fitted on fewer than ``model.min_repeat_buyers`` repeat buyers and
    rejected when ``q <= 1`` (no finite mean spend). The shrunk log-normal spend prior is
    fitted every time (the previous one stays if it cannot be). ``spend_minor``: each
    customer's total spend (minor units), giving ``revenue_minor`` (then not to be passed),
    the spend cap of the revenue shares, and who counts in the tier edges (spend > 0).

    Raises
    ------
    ValueError
        If ``spend_minor`` does not have one entry per customer or disagrees with ``revenue_minor``.
    """
    xa, txa, Ta, ma = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T, m_x))
    n = len(xa)
    spend = None if spend_minor is None else np.ravel(np.asarray(spend_minor, dtype=np.int64))
    revenue, cap, capped = revenue_minor or 0, 0, 0
    if spend is not None:
        if len(spend) != n or (revenue_minor is not None and revenue_minor != int(spend.sum())):
            raise ValueError("spend_minor needs one entry per customer, summing to revenue_minor if given")
        revenue = int(spend.sum())
        limit = spend_cap(spend)
        cap = int(limit) if np.isfinite(limit) else 0
        capped = int(np.minimum(spend, cap).sum()) if cap else 0
    bg = previous.bgnbd if previous else None
    gg = previous.gammagamma if previous else None
    prior = previous.spend_prior if previous else None
    pareto = model.lapse_model != "bgnbd"
    pn = previous.paretonbd if previous and pareto else None
    keep = f"previous parameters kept (v{previous.version})" if previous else "no parameters yet"
    bg_status = gg_status = "ok"
    pn_status = "ok" if pareto else "not used"
    gg_short = ""  # why Gamma-Gamma is not fitted, in a few words
    if n < model.min_customers:
        bg_status = gg_status = f"{n} customers with purchases, fewer than {model.min_customers}: not fitted"
        gg_short = "not fitted"
        if pareto:
            pn_status = bg_status
    else:
        # one row per distinct history, weighted by its customers: the same likelihood, and
        # far fewer rows where times are whole days (CDNOW's 23,570 customers: 8,685 rows at
        # 1997-09-30, 1,730 of 16,622 at 1997-03-01; one-time buyers of one day are one row)
        hist, counts = np.unique(np.column_stack((xa, txa, Ta)), axis=0, return_counts=True)
        ux, utx, uT, w = hist[:, 0], hist[:, 1], hist[:, 2], counts.astype(np.float64)
        warm = (bg.r, bg.alpha, bg.a, bg.b) if bg else (1.0, 1.0, 1.0, 1.0)
        fitter = BGNBDFitter(initial=warm, restarts=model.restarts)
        fit = msgspec.structs.replace(fitter.fit(ux, utx, uT, w), n=n)
        if fit.converged and fit.a != 1.0:
            bg = fit
        else:
            bg_status = "BG/NBD: " + (fitter.reason or "a = 1: expected purchases undefined")
        if pareto:
            pwarm = (pn.r, pn.alpha, pn.s, pn.beta) if pn else (1.0, 1.0, 1.0, 1.0)
            pfitter = ParetoNBDFitter(initial=pwarm, restarts=model.restarts)
            pfit = msgspec.structs.replace(pfitter.fit(ux, utx, uT, w), n=n)
            if pfit.converged:
                pn = pfit
            else:
                pn_status = "Pareto/NBD: " + (pfitter.reason or "not converged")
        repeat = (xa > 0) & (ma > 0)
        buyers = int(repeat.sum())
        if buyers < model.min_repeat_buyers:
            gg_status = f"Gamma-Gamma: {buyers} repeat buyers, fewer than {model.min_repeat_buyers}: not fitted"
            gg_short = "too few repeat buyers"
        else:
            gwarm = (gg.p, gg.q, gg.v) if gg else (1.0, 1.0, 1.0)
            gfitter = GammaGammaFitter(initial=gwarm, restarts=model.restarts)
            gfit = gfitter.fit(xa[repeat], ma[repeat])
            if not gfit.converged:
                gg_status, gg_short = f"Gamma-Gamma: {gfitter.reason}", "not converged"
            elif gfit.q <= 1.0:
                gg_status, gg_short = f"Gamma-Gamma: q ≤ 1 (q={gfit.q:.3g}): mean spend undefined", "q ≤ 1"
            else:
                gg = gfit
        prior = fit_spend_prior(xa, ma) or prior
    if bg_status != "ok":
        bg_status += f"; {keep if bg else 'no parameters yet'}"
    if gg_status != "ok":
        gg_status += f"; {keep if gg else 'no parameters yet'}"
    if pn_status not in ("ok", "not used"):
        pn_status += f"; {keep if pn else 'no parameters yet'}"
    problems = list(dict.fromkeys(s for s in (bg_status, gg_status, pn_status) if s not in ("ok", "not used")))
    if pareto and pn is None and bg is not None:
        problems.append("purchase lapse: BG/NBD's until Pareto/NBD is fitted")
    if gg is None and gg_short and bg is not None:  # spend only matters once BG/NBD scores
        problems.append(
            f"spend: shrunk log-normal fallback (Gamma-Gamma {gg_short})"
            if prior
            else "spend: the customers' own mean (no spend prior yet)"
        )
    status = "; ".join(problems) or "ok"
    edges: list[float] = list(previous.tier_edges) if previous else []
    snap = ValueSnapshot(
        version, as_of_us, fitted_at, n, bg, gg, edges, revenue, status, bg_status, gg_status, prior, cap, capped,
        pn, pn_status,
    )  # fmt: skip
    if bg is not None and n:  # the tier edges: everyone's CLV, a slice at a time (13 horizons a customer)
        values = np.concatenate(
            [
                _spend_and_clv(model, snap, bg, *(v[i : i + _SLICE] for v in (xa, txa, Ta, ma)))[1]
                for i in range(0, n, _SLICE)
            ]
        )
        ranked = np.isfinite(values) & (spend > 0 if spend is not None else True)
        if ranked.any():
            edges = [float(q) for q in np.quantile(values[ranked], model.tier_quantiles)]
            snap = msgspec.structs.replace(snap, tier_edges=edges)
    return snap


def fit_now(snap: ValueSnapshot | None, customers: int, min_customers: int, last_try: int) -> bool:
    """Whether to fit before the refit interval comes round: there are no BG/NBD
    parameters yet, ``customers`` with purchases reach ``min_customers``, and they are a
    quarter more than at the last early try (``last_try``; a failing first fit is not
    retried at every snapshot).

    >>> fit_now(None, 49, 50, 0), fit_now(None, 50, 50, 0), fit_now(None, 60, 50, 50), fit_now(None, 63, 50, 50)
    (False, True, False, True)
    """
    if snap is not None and snap.bgnbd is not None:
        return False
    return customers >= min_customers and customers >= 1.25 * last_try


def score_values(
    model: ValueModel,
    snap: ValueSnapshot,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
    used: ArrayLike | None = None,
) -> ValueScores:
    """Score a batch of customers' repeat histories with the snapshot's parameters.

    ``used``: per customer, whether it has used the product (``None``: nobody has); with
    ``model.lapse_model == "auto"`` it picks each customer's P(no purchase) model.

    Without Gamma-Gamma parameters the expected spend is the shrunk log-normal one of the
    snapshot's ``spend_prior`` (:func:`shrunk_spend`), and without that either (snapshots
    before it) the customer's own mean transaction value (``m_x``). NaN everywhere when the
    snapshot has no BG/NBD parameters.
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
    if model.one_time_dropout:  # a one-time buyer may have dropped out (see ValueModel)
        odds = bg.a / bg.b
        survival = (1.0 + odds) / (1.0 + odds * ((bg.alpha + Ta) / bg.alpha) ** bg.r)
        p_none = np.where(xa == 0, 1.0 - survival * (1.0 - silent_if_alive), p_none)
    if model.lapse_model != "bgnbd" and snap.paretonbd is not None:
        take = np.ones(xa.shape, dtype=bool)
        if model.lapse_model == "auto" and used is not None:
            take = ~np.broadcast_to(np.asarray(used, dtype=bool), xa.shape)
        if take.any():  # only where it is used: most customers of a product with usage are users
            pareto = np.full(xa.shape, np.nan)
            with np.errstate(all="ignore"):
                pareto[take] = pareto_no_purchase(snap.paretonbd, h, xa[take], txa[take], Ta[take])
            p_none = np.where(np.isfinite(pareto), pareto, p_none)
    spend, value = _spend_and_clv(model, snap, bg, xa, txa, Ta, ma)
    return ValueScores(alive, purchases, p_none, spend, value)


def _spend_and_clv(
    model: ValueModel,
    snap: ValueSnapshot,
    bg: BGNBDParams,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    m: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Expected spend per purchase and CLV (``score_values``' last two)."""
    if snap.gammagamma is not None:
        spend = expected_spend(snap.gammagamma, x, m)
        return spend, clv(bg, snap.gammagamma, x, t_x, T, m, model.clv_months, model.discount_monthly, model.unit_days)
    spend = shrunk_spend(snap.spend_prior, x, m) if snap.spend_prior else m.copy()
    month = 365.25 / 12 / model.unit_days
    horizons = month * np.arange(model.clv_months + 1)
    per_month = np.diff(expected_purchases(bg, horizons[:, None], x, t_x, T), axis=0)
    discount = (1.0 + model.discount_monthly) ** -np.arange(1, model.clv_months + 1)
    return spend, (discount @ per_month) * spend


def tier_of(clv_value: float, edges: list[float], spend: float | None = None) -> str | None:
    """The value tier of a CLV given the population's tier edges (``None`` without edges).

    A customer whose ``spend`` (if given) is 0 is ``"low"`` whatever the CLV: the edges are
    CLV quantiles of the customers with spend > 0, and a customer who never paid is not
    ranked among them.

    >>> tier_of(25.0, [10.0, 20.0, 30.0]), tier_of(25.0, [10.0, 20.0, 30.0], spend=0)
    ('high', 'low')
    """
    if not edges or not np.isfinite(clv_value):
        return None
    if spend is not None and spend <= 0:
        return TIERS[-1]
    below = sum(clv_value > e for e in edges)  # 0: low .. 3: top
    return TIERS[len(TIERS) - 1 - below]
