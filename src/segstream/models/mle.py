"""Weighted maximum likelihood over log-parameters, shared by the purchase models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

FloatArray = NDArray[np.float64]

#: A log-parameter this close to its bound means the optimum lies outside the box.
AT_BOUND: Final = 1e-3


class Fit(NamedTuple):
    params: tuple[float, ...]
    log_likelihood: float  # weighted total at ``params``
    converged: bool


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
) -> Fit:
    """Maximise ``sum(weights * log_likelihood(params))`` over positive parameters.

    The optimiser works on log-parameters boxed to ``±log_bound``; a non-finite objective
    counts as very bad. ``converged`` is false when the optimiser failed, the likelihood
    is not finite, or a parameter ended at the box (an optimum it could not reach).

    >>> import numpy as np
    >>> fit = fit_log_params(lambda p: -((np.array([p[0]]) - 3.0) ** 2), np.ones(1), [1.0],
    ...                      method="L-BFGS-B", tol=1e-8, max_iter=200, log_bound=10, penalizer=0)
    >>> round(fit.params[0], 6), fit.converged
    (3.0, True)
    """
    total = float(weights.sum())

    def objective(log_params: FloatArray) -> float:
        ll = log_likelihood(np.exp(log_params).tolist())
        value = -float(np.dot(weights, ll)) / total + penalizer * float(np.dot(log_params, log_params))
        return value if np.isfinite(value) else 1e10

    start = np.log(np.asarray(initial, dtype=np.float64))
    options: dict[str, float | int] = {"maxiter": max_iter}
    if method == "Nelder-Mead":
        options |= {"xatol": tol, "fatol": tol}
    bounds = [(-log_bound, log_bound)] * len(start)
    res = minimize(objective, start, method=method, bounds=bounds, tol=tol, options=options)
    log_params = np.asarray(res.x, dtype=np.float64)
    params = tuple(float(v) for v in np.exp(log_params))
    ll_total = float(np.dot(weights, log_likelihood(params)))
    at_bound = bool((np.abs(log_params) > log_bound - AT_BOUND).any())
    return Fit(params, ll_total, bool(res.success) and np.isfinite(ll_total) and not at_bound)
