"""Running standardisation of the behaviour vectors the clusters learn on.

River's ``preprocessing.StandardScaler`` does this job, but importing ``river.preprocessing``
loads pandas, pyarrow, scikit-learn and ``scipy.stats`` with it: about 140 MB of every
worker's resident memory for eight lines of arithmetic (docs/DEPENDENCIES.md). This class
repeats River's arithmetic operation for operation, so its numbers are River's to the last
bit (``tests/unit/models/test_scaler.py`` compares the two on random streams).
"""

from __future__ import annotations


class StandardScaler:
    """Per-feature running mean and population variance (Welford's update), and the
    standardised value ``(x - mean) / sqrt(var)`` (0.0 while a feature has no variance).

    Attributes
    ----------
    counts, means, vars
        Per feature: the values learned, their running mean and population variance.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> scaler = StandardScaler()
    >>> for _ in range(1000):
    ...     scaler.learn_one({"spend": rng.gauss(50.0, 10.0)})
    >>> round(scaler.means["spend"], 1), round(scaler.vars["spend"] ** 0.5, 1)
    (49.8, 10.2)
    >>> round(scaler.transform_one({"spend": 60.0})["spend"], 2)
    1.0
    >>> scaler.transform_one({"visits": 3.0})  # never learned: no variance
    {'visits': 0.0}
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.means: dict[str, float] = {}
        self.vars: dict[str, float] = {}

    def learn_one(self, x: dict[str, float]) -> None:
        counts, means, vars_ = self.counts, self.means, self.vars
        for i, xi in x.items():
            n = counts[i] = counts.get(i, 0) + 1
            old_mean = means.get(i, 0.0)
            mean = means[i] = old_mean + (xi - old_mean) / n
            v = vars_.get(i, 0.0)
            vars_[i] = v + ((xi - old_mean) * (xi - mean) - v) / n

    def transform_one(self, x: dict[str, float]) -> dict[str, float]:
        means, vars_ = self.means, self.vars
        out = {}
        for i, xi in x.items():
            v = vars_.get(i, 0.0)
            out[i] = (xi - means.get(i, 0.0)) / v**0.5 if v else 0.0
        return out
