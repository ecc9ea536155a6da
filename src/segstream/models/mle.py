"""Weighted maximum likelihood over log-parameters, shared by the purchase models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

FloatArray = NDArray[np.float64]

#: A log-parameter this close to its bound means the optimum lies outside the box.
AT_BOUND: Final = 1e-3
_DERIVATIVE_FREE: Final = frozenset({"Nelder-Mead", "Powell", "COBYLA", "COBYQA"})

#: Gauss-Legendre nodes and weights on [-1, 1] of the models' numerical integrals, and the
#: rows integrated at once: each temporary is rows x 64 floats (2 MB at 4,096), so memory
#: does not grow with the rows (120,000 Pareto/NBD rows at once: 271 MB).
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(64)
QUADRATURE_CHUNK: Final = 4096

#: ``params -> (per-row log-likelihoods, per-row derivatives by each parameter)``.
LikelihoodAndGradient = Callable[[Sequence[float]], tuple[FloatArray, FloatArray]]


class Fit(NamedTuple):
    params: tuple[float, ...]
    log_likelihood: float  # weighted total at ``params``
    converged: bool
    reason: str = ""  # why not converged ("" when converged)
    starts: int = 1  # starting points tried


def fit_log_params(
    log_likelihood: Callable[[Sequence[float]], FloatArray],
    weights: FloatArray,
    initial: Sequence[float],
    *,
    method: str,
    tol: float,
    max_iter: int,
    log_bound: float,
    penalizer: float,
    names: Sequence[str] = (),
    with_gradient: LikelihoodAndGradient | None = None,
) -> Fit:
    """Maximise ``sum(weights * log_likelihood(params))`` over positive parameters.

    The optimiser works on log-parameters boxed to ``±log_bound``; a non-finite objective
    counts as very bad. ``converged`` is false when the optimiser failed, the likelihood
    is not finite, or a parameter ended at the box (an optimum it could not reach);
    ``reason`` then says which (``names`` name the parameters in it).

    ``with_gradient(params)``, when given, returns the per-row log-likelihoods and their
    derivatives by each parameter (rows × parameters); a gradient-based ``method`` then
    uses them instead of finite differences (one evaluation per step instead of one per
    parameter and one more). ``log_likelihood`` still gives the reported total.

    >>> import numpy as np
    >>> fit = fit_log_params(lambda p: -((np.array([p[0]]) - 3.0) ** 2), np.ones(1), [1.0],
    ...                      method="L-BFGS-B", tol=1e-8, max_iter=200, log_bound=10, penalizer=0)
    >>> round(fit.params[0], 6), fit.converged, fit.reason
    (3.0, True, '')
    >>> fit_log_params(lambda p: -((np.array([p[0]]) - 3.0) ** 2), np.ones(1), [1.0], method="L-BFGS-B",
    ...                tol=1e-8, max_iter=200, log_bound=1, penalizer=0, names=["k"]).reason
    'bound hit (k=2.718)'
    """
    total = float(weights.sum())

    def objective(log_params: FloatArray) -> float:
        ll = log_likelihood(np.exp(log_params).tolist())
        value = -float(np.dot(weights, ll)) / total + penalizer * float(np.dot(log_params, log_params))
        return value if np.isfinite(value) else 1e10

    def objective_and_gradient(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        ll, jac = with_gradient(params.tolist())  # type: ignore[misc]
        value = -float(np.dot(weights, ll)) / total + penalizer * float(np.dot(log_params, log_params))
        grad = -(weights @ jac) * params / total + 2.0 * penalizer * log_params  # chain rule: d/d ln θ = θ d/dθ
        if not (np.isfinite(value) and np.isfinite(grad).all()):
            return 1e10, np.zeros_like(log_params)
        return value, np.asarray(grad, dtype=np.float64)

    start = np.log(np.asarray(initial, dtype=np.float64))
    options: dict[str, float | int] = {"maxiter": max_iter}
    if method == "Nelder-Mead":
        options |= {"xatol": tol, "fatol": tol}
    bounds = [(-log_bound, log_bound)] * len(start)
    if with_gradient is not None and method not in _DERIVATIVE_FREE:
        res = minimize(objective_and_gradient, start, method=method, jac=True, bounds=bounds, tol=tol, options=options)
    else:
        res = minimize(objective, start, method=method, bounds=bounds, tol=tol, options=options)
    log_params = np.asarray(res.x, dtype=np.float64)
    params = tuple(float(v) for v in np.exp(log_params))
    ll_total = float(np.dot(weights, log_likelihood(params)))
    at = np.abs(log_params) > log_bound - AT_BOUND
    labels = list(names) or [f"θ{i}" for i in range(len(params))]
    reason = ""
    if at.any():
        reason = "bound hit (" + ", ".join(f"{labels[i]}={params[i]:.4g}" for i in np.flatnonzero(at)) + ")"
    elif not np.isfinite(ll_total):
        reason = "log-likelihood not finite"
    elif not res.success:
        reason = f"optimizer failed: {str(res.message).rstrip(': ')}"
    return Fit(params, ll_total, not reason, reason)


def fit_multistart(
    log_likelihood: Callable[[Sequence[float]], FloatArray],
    weights: FloatArray,
    starts: Sequence[Sequence[float]],
    always: int = 1,
    **kwargs: object,
) -> Fit:
    """:func:`fit_log_params` from the first ``always`` starts; only if none of them
    converges, from every other start too; the converged fit of the best log-likelihood wins.

    A start can converge to a worse optimum than another (on CDNOW, BG/NBD from a start far
    away stops on a ridge towards ``a → 0``: log-likelihood −9763.7 against −9582.4), hence
    ``always = 2`` for a warm start followed by the default one. Both are always fitted,
    even when the warm start converges where it began: a previous fit on a ridge (BG/NBD's
    ``a → 0, b → ∞`` or Pareto/NBD's ``s, β → ∞``, one dropout rate for everyone, where fits
    on a few weeks of data end) is also a point where the optimizer stops at once on later
    data, and refits warm-started from it alone stayed there for months of the CDNOW master
    file (log-likelihood 349 and 228 below the default start's). With the default start
    always tried, a refit is never worse than a fit from scratch on the same data.

    When none converges, the result is the attempt of the best finite log-likelihood (the
    first one if none is finite) with ``reason`` ``"did not converge after K starts (…)"``.

    >>> import numpy as np
    >>> bowl = lambda p: -((np.log(np.array([p[0]])) - 1.0) ** 2)  # optimum at e
    >>> fit = fit_multistart(bowl, np.ones(1), [[1e-6], [1.0]], method="L-BFGS-B", tol=1e-10,
    ...                      max_iter=200, log_bound=10, penalizer=0, names=["k"])
    >>> round(fit.params[0], 4), fit.converged, fit.starts
    (2.7183, True, 2)
    """
    tried = [fit_log_params(log_likelihood, weights, s, **kwargs) for s in starts[:always]]  # type: ignore[arg-type]
    if not any(f.converged for f in tried):
        tried += [fit_log_params(log_likelihood, weights, s, **kwargs) for s in starts[always:]]  # type: ignore[arg-type]
    ok = [f for f in tried if f.converged]
    k = len(tried)
    if ok:
        return max(ok, key=lambda f: f.log_likelihood)._replace(starts=k)
    finite = [f for f in tried if np.isfinite(f.log_likelihood)]
    best = max(finite, key=lambda f: f.log_likelihood) if finite else tried[0]
    reason = best.reason if k == 1 else f"did not converge after {k} starts ({best.reason})"
    return best._replace(reason=reason, starts=k)


def seeded_starts(center: Sequence[float], n: int, seed: int = 0, spread: float = 1.0) -> list[tuple[float, ...]]:
    """``n`` reproducible starting points around ``center``: each parameter times
    ``exp(N(0, spread²))``.

    >>> [tuple(round(v, 3) for v in s) for s in seeded_starts((1.0, 2.0), 2, seed=1)]
    [(1.413, 4.548), (1.392, 0.543)]
    """
    rng = np.random.default_rng(seed)
    c = np.asarray(center, dtype=np.float64)
    return [tuple(float(v) for v in c * np.exp(rng.normal(0.0, spread, len(c)))) for _ in range(n)]


def history_arrays(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Repeat histories ``(x, t_x, T)`` and their row weights (default 1) as flat float arrays.

    Raises
    ------
    ValueError
        If they do not have one common length.
    """
    xa, txa, Ta = (np.ravel(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    w = np.ones_like(xa) if weights is None else np.ravel(np.asarray(weights, dtype=np.float64))
    if not (len(xa) == len(txa) == len(Ta) == len(w)):
        raise ValueError(f"x, t_x, T and weights must have one length, got {len(xa)}, {len(txa)}, {len(Ta)}, {len(w)}")
    return xa, txa, Ta, w


def history_problem(x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> str:
    """Why repeat histories cannot be fitted by BG/NBD or Pareto/NBD ("" when they can).

    >>> history_problem(*(np.array([v]) for v in (0.0, 0.0, 5.0, 1.0)))
    'no repeat purchases'
    """
    if len(x) == 0:
        return "no customers"
    if not all(np.isfinite(v).all() for v in (x, t_x, T, w)):
        return "non-finite data"
    if not ((x >= 0).all() and (t_x >= 0).all() and (t_x <= T).all() and (w >= 0).all() and w.sum() > 0):
        return "invalid data (negative, t_x > T or no positive weight)"
    if not (w[x > 0] > 0).any():  # nothing to learn dropout or rates from
        return "no repeat purchases"
    return ""


def history_starts(
    x: FloatArray, T: FloatArray, w: FloatArray, initial: Sequence[float], restarts: int
) -> tuple[list[tuple[float, ...]], int]:
    """Starting points of a four-parameter repeat-buying fit ``(r, alpha, ., .)`` and how
    many of them are always tried (see ``BGNBDFitter``'s ``restarts``): ``initial``, the
    default ``(1, 1, 1, 1)``, the data-scaled ``(1, 1 / mean(x / T), 1, 1)``, then seeded
    draws around it; ``1 + restarts`` in all."""
    cold = (1.0, 1.0, 1.0, 1.0)
    rate = float(np.average(x / np.maximum(T, 1e-9), weights=w))
    scaled = (1.0, 1.0 / rate, 1.0, 1.0)
    warm = tuple(initial) != cold
    starts: list[tuple[float, ...]] = [tuple(initial), *([cold] if warm else []), scaled]
    starts = (starts + seeded_starts(scaled, restarts))[: 1 + restarts]
    return starts, 2 if restarts and warm else 1
