"""How many behavioural clusters: batch k-means over the learner's reservoir, scored by silhouette.

The leader's :class:`segstream.models.clusters.ClusterLearner` keeps the most recent scaled
behaviour vectors (its reservoir). Given a range of counts, every count in it is fitted on
the reservoir (seeded k-means++ then Lloyd, the best of a few restarts by inertia) and
scored by the mean silhouette on one fixed-size seeded subsample of the reservoir (the
silhouette needs all pairwise distances: on the subsample it stays cheap). The learner
changes its count only when another one scores clearly better (:data:`MARGIN`), so that the
count does not flap between snapshots.

Pure numpy; scikit-learn (test extra) is the independent reference of :func:`silhouette`.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np

#: A count replaces the current one only when its silhouette is higher by at least this
#: much (absolute; silhouettes lie in [-1, 1]). Between two snapshots of the same
#: population the silhouettes of one count vary by ~0.01 (subsample and restarts).
MARGIN: Final = 0.02


def nearest(pts: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre (squared Euclidean distance, by the dot product)."""
    d = (centers * centers).sum(axis=1)[None, :] - 2.0 * (pts @ centers.T)
    labels: np.ndarray = d.argmin(axis=1)
    return labels


def lloyd(pts: np.ndarray, centers: np.ndarray, iterations: int = 10) -> tuple[np.ndarray, float]:
    """At most ``iterations`` Lloyd iterations from ``centers``, fewer once no point
    changes cluster (a centre left without points stays where it is); the centres and
    their inertia (sum of squared distances to the nearest centre).

    >>> pts = np.array([[0.0], [1.0], [9.0], [11.0]])
    >>> c, inertia = lloyd(pts, np.array([[0.0], [5.0]]))
    >>> c.ravel().tolist(), inertia
    ([0.5, 10.0], 2.5)
    """
    c = centers.astype(float)
    k = len(c)
    labels = nearest(pts, c)
    for _ in range(iterations):
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, weights=pts[:, j], minlength=k) for j in range(pts.shape[1])], axis=1)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
        new = nearest(pts, c)
        if np.array_equal(new, labels):
            break
        labels = new
    return c, float(((pts - c[labels]) ** 2).sum())


def kmeanspp(pts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` k-means++ seeds drawn from ``pts`` (each next seed with probability
    proportional to its squared distance from the seeds so far).

    >>> pts = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0]])
    >>> sorted(kmeanspp(pts, 2, np.random.default_rng(0))[:, 0].round().tolist())
    [0.0, 10.0]
    """
    chosen = [pts[rng.integers(len(pts))]]
    d = ((pts - chosen[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d.sum()
        chosen.append(pts[rng.choice(len(pts), p=d / total)] if total > 0 else pts[rng.integers(len(pts))])
        d = np.minimum(d, ((pts - chosen[-1]) ** 2).sum(axis=1))
    return np.asarray(chosen)


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of a labelling (Euclidean), as scikit-learn's
    ``silhouette_score``: for each point, ``(b - a) / max(a, b)`` with ``a`` its mean
    distance to the other members of its cluster and ``b`` its mean distance to the
    members of the nearest other cluster; 0 for a point alone in its cluster.

    Parameters
    ----------
    x
        Points, one a row (n x d). Memory: an n x n matrix of distances.
    labels
        Cluster of each point; at least 2 and at most n - 1 distinct values.

    Returns
    -------
    float
        In [-1, 1]; higher is a better separated partition.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(3, 0.1, (50, 2))])
    >>> round(silhouette(x, np.repeat([0, 1], 50)), 2)
    0.96
    >>> silhouette(x, np.zeros(100))
    Traceback (most recent call last):
    ...
    ValueError: the silhouette needs 2 to n - 1 clusters, got 1 for 100 points
    """
    return silhouette_of_distances(distances(np.asarray(x, dtype=float)), labels)


def distances(x: np.ndarray) -> np.ndarray:
    """All pairwise Euclidean distances between the rows of ``x`` (n x n)."""
    sq = (x * x).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    d: np.ndarray = np.sqrt(d2, out=d2)
    return d


def silhouette_of_distances(d: np.ndarray, labels: np.ndarray) -> float:
    """:func:`silhouette` from the points' pairwise distances (computed once, used for every count)."""
    names, lab = np.unique(np.asarray(labels), return_inverse=True)
    n, k = len(d), len(names)
    if not 2 <= k <= n - 1:
        raise ValueError(f"the silhouette needs 2 to n - 1 clusters, got {k} for {n} points")
    onehot = np.zeros((n, k))
    rows = np.arange(n)
    onehot[rows, lab] = 1.0
    sums = d @ onehot  # n x k: each point's total distance to each cluster
    counts = onehot.sum(axis=0)
    own = counts[lab]
    a = sums[rows, lab] / np.maximum(own - 1.0, 1.0)
    means = sums / counts
    means[rows, lab] = np.inf
    b = means.min(axis=1)
    top = np.maximum(a, b)
    s = np.where((own > 1) & (top > 0), (b - a) / np.where(top > 0, top, 1.0), 0.0)
    return float(s.mean())


class CountScore(NamedTuple):
    """One count fitted on the reservoir (or, ``fitted`` false, given): its silhouette and centres."""

    k: int
    score: float
    centers: np.ndarray
    fitted: bool = True


def score_counts(
    pts: np.ndarray,
    ks: range,
    seed: int,
    fit_sample: int = 2000,
    sample: int = 1000,
    restarts: int = 3,
    iterations: int = 10,
    current: np.ndarray | None = None,
) -> list[CountScore]:
    """Fit each count ``k`` in ``ks`` on ``pts`` and score it by silhouette.

    Parameters
    ----------
    pts
        The vectors (scaled), one a row.
    ks
        The counts to try, e.g. ``range(2, 11)``.
    seed
        Seed of the subsamples and of the k-means++ seeds: the same inputs, the same scores.
    fit_sample
        Size of the seeded subsample of ``pts`` the counts are fitted on (all if fewer).
    sample
        Size of the part of that subsample the silhouette is computed on.
    restarts
        k-means++ restarts per count; the one of least inertia is kept.
    iterations
        Lloyd iterations per restart.
    current
        Centres in use (optional): scored as they are, on the same subsample.

    Returns
    -------
    list of CountScore
        One per count, in the order of ``ks``, then ``current``'s (``fitted`` false) if
        given; centres that label the subsample with fewer than 2 clusters score -1.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.vstack([rng.normal(m, 0.2, (100, 2)) for m in (0, 4, 8)])
    >>> best = max(score_counts(blobs, range(2, 6), seed=1), key=lambda s: s.score)
    >>> best.k, sorted(best.centers[:, 0].round().astype(int).tolist())
    (3, [0, 4, 8])
    """
    rng = np.random.default_rng(seed)
    fit = pts[rng.permutation(len(pts))[:fit_sample]]
    sub = fit[:sample]
    d = distances(sub)  # once: the silhouette of every count reads the same distances
    out = []
    for k in ks:
        fits = [lloyd(fit, kmeanspp(fit, k, rng), iterations) for _ in range(restarts)]
        centers = min(fits, key=lambda f: f[1])[0]
        out.append(CountScore(k, subsample_score(sub, d, centers), centers))
    if current is not None:
        out.append(CountScore(len(current), subsample_score(sub, d, current), current, fitted=False))
    return out


def subsample_score(sub: np.ndarray, d: np.ndarray, centers: np.ndarray) -> float:
    """Silhouette of the partition of ``sub`` (pairwise distances ``d``) by nearest centre;
    -1 if it has fewer than 2 parts."""
    labels = nearest(sub, centers)
    return silhouette_of_distances(d, labels) if 2 <= len(np.unique(labels)) <= len(sub) - 1 else -1.0
