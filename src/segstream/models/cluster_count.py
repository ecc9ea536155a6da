"""How many behavioural clusters: batch k-means over the learner's reservoir, scored by
prediction strength (the default) or by silhouette.

The leader's :class:`segstream.models.clusters.ClusterLearner` keeps the most recent scaled
behaviour vectors (its reservoir). Given a range of counts, every count in it is fitted on
a seeded subsample of the reservoir (k-means++ then Lloyd, the best of a few restarts by
inertia) and scored:

- **prediction strength** (Tibshirani & Walther, 2005, :func:`prediction_strength`): how
  well clusters learned on one half of the subsample predict which points of the other
  half belong together. The count chosen is the largest whose strength is at least
  :data:`THRESHOLD` (the paper's 0.8): the most clusters that are still reproducible.
  It changes only when the current count's strength falls clearly below the threshold or
  a larger count's rises clearly above it, and then up only to a count clearly above it
  (:data:`STRENGTH_MARGIN`, :func:`pick_by_strength`);
- **silhouette** (:func:`silhouette`, on one fixed-size part of the subsample: it needs
  all pairwise distances): the highest mean silhouette; a count replaces the current one
  only when it scores higher by :data:`MARGIN`. It favours coarse structure: groups much
  closer to each other than to the rest are merged (docs/QUALITY.md).

Pure numpy; scikit-learn (test extra) is the independent reference of :func:`silhouette`.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np

#: A count replaces the current one only when its silhouette is higher by at least this
#: much (absolute; silhouettes lie in [-1, 1]). Between two snapshots of the same
#: population the silhouettes of one count vary by ~0.01 (subsample and restarts).
MARGIN: Final = 0.02
#: Prediction strength a count needs to be chosen (Tibshirani & Walther's recommendation: 0.8-0.9).
THRESHOLD: Final = 0.8
#: How far the current count's strength must fall below :data:`THRESHOLD`, or a larger
#: count's rise above it, before the count changes. Not tuned: in a pure replay of a
#: simulated population one count's strength moved by up to 0.15 between choices
#: (docs/QUALITY.md), more than this margin absorbs.
STRENGTH_MARGIN: Final = 0.05
#: Random halvings the leader averages the prediction strength over, on its whole reservoir:
#: with 5 halvings of a 2,000-vector subsample the strengths of 4 and 5 clusters on one
#: replay's reservoir varied with the seed by a standard deviation of up to 0.12; with 10 of
#: all 5,000 vectors, up to 0.05 (docs/QUALITY.md).
SPLITS: Final = 10
#: Consecutive choices that must pick the same new count before it replaces the current one
#: (the first choice is taken at once): a count moves only when the data keep asking for it.
CONFIRM: Final = 3


def standardise(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pts`` on their own mean and standard deviation per column (a column without
    spread only centred), with that mean and deviation: ``pts == z * sd + mean``.

    >>> z, mean, sd = standardise(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> z.tolist(), mean.tolist(), sd.tolist()
    ([[-1.0, 0.0], [1.0, 0.0]], [1.0, 5.0], [1.0, 1.0])
    """
    mean = pts.mean(axis=0)
    sd = pts.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (pts - mean) / sd, mean, sd


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


def kmeanspp(pts: np.ndarray, k: int, rng: np.random.Generator, trials: int | None = None) -> np.ndarray:
    """``k`` greedy k-means++ seeds drawn from ``pts``: for each next seed, ``trials``
    (by default ``2 + ln k``) candidates are drawn with probability proportional to their
    squared distance from the seeds so far, and the one that leaves the smallest sum of
    those distances is kept (Arthur & Vassilvitskii's k-means++ as scikit-learn's
    ``kmeans_plusplus`` does it: of 300 seedings of three blobs 12 and 25 apart, a single
    draw per seed left a blob without a seed 54 times, this never;
    tests/unit/models/test_clusters_count.py). ``trials=1``: the original, single draw.

    >>> pts = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0]])
    >>> sorted(kmeanspp(pts, 2, np.random.default_rng(0))[:, 0].round().tolist())
    [0.0, 10.0]
    """
    trials = trials or 2 + int(np.log(k))
    chosen = [pts[rng.integers(len(pts))]]
    d = ((pts - chosen[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d.sum()
        if total <= 0:
            chosen.append(pts[rng.integers(len(pts))])
            continue
        candidates = rng.choice(len(pts), size=trials, p=d / total)
        # each candidate's distances, kept to the nearest seed so far: the best lowers their sum most
        dc = np.minimum(d[None, :], ((pts[None, :, :] - pts[candidates][:, None, :]) ** 2).sum(axis=2))
        best = int(dc.sum(axis=1).argmin())
        chosen.append(pts[candidates[best]])
        d = dc[best]
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
        centers = fit_count(fit, k, rng, restarts, iterations)
        out.append(CountScore(k, subsample_score(sub, d, centers), centers))
    if current is not None:
        out.append(CountScore(len(current), subsample_score(sub, d, current), current, fitted=False))
    return out


def subsample_score(sub: np.ndarray, d: np.ndarray, centers: np.ndarray) -> float:
    """Silhouette of the partition of ``sub`` (pairwise distances ``d``) by nearest centre;
    -1 if it has fewer than 2 parts."""
    labels = nearest(sub, centers)
    return silhouette_of_distances(d, labels) if 2 <= len(np.unique(labels)) <= len(sub) - 1 else -1.0


def fit_count(pts: np.ndarray, k: int, rng: np.random.Generator, restarts: int = 3, iterations: int = 10) -> np.ndarray:
    """The centres of ``k`` clusters of ``pts``: the best of ``restarts`` k-means++ + Lloyd fits by inertia."""
    fits = [lloyd(pts, kmeanspp(pts, k, rng), iterations) for _ in range(restarts)]
    return min(fits, key=lambda f: f[1])[0]


def prediction_strength(
    pts: np.ndarray, k: int, rng: np.random.Generator, splits: int = 5, restarts: int = 3, iterations: int = 10
) -> float:
    """Prediction strength of ``k`` clusters (Tibshirani & Walther, 2005), the mean over
    ``splits`` random halvings of ``pts``.

    Each halving clusters both halves alone; the training half's centres then label the
    test half. For each cluster of the test half's own clustering (of at least 2 points),
    the share of its pairs of points that the training centres put in one cluster; the
    strength of the halving is the smallest such share. Clusters that are really there are
    found again from either half (strength near 1); a group split in two, or groups the
    two halves merge differently, are not reproducible (0.4 to 0.7 in docs/QUALITY.md's runs).

    Parameters
    ----------
    pts
        Points, one a row (at least ``2 * k``).
    k
        Number of clusters.
    rng
        Draws the halvings and the k-means++ seeds.
    splits
        How many random halvings to average.
    restarts, iterations
        Of each k-means fit (:func:`fit_count`).

    Returns
    -------
    float
        In [0, 1]; 1 when every test cluster is kept whole by the training centres.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.vstack([rng.normal(m, 0.3, (100, 2)) for m in (0, 5, 10)])
    >>> [round(prediction_strength(blobs, k, np.random.default_rng(1)), 2) for k in (2, 3, 4)]
    [0.5, 1.0, 0.49]
    """
    half = len(pts) // 2
    strengths = []
    for _ in range(splits):
        order = rng.permutation(len(pts))
        train, test = pts[order[:half]], pts[order[half:]]
        predicted = nearest(test, fit_count(train, k, rng, restarts, iterations))
        own = nearest(test, fit_count(test, k, rng, restarts, iterations))
        worst = 1.0
        for j in range(k):
            members = predicted[own == j]
            m = len(members)
            if m >= 2:
                together = np.bincount(members, minlength=k).astype(float)
                worst = min(worst, float((together * (together - 1.0)).sum() / (m * (m - 1.0))))
        strengths.append(worst)
    return float(np.mean(strengths))


def strength_counts(
    pts: np.ndarray,
    ks: range,
    seed: int,
    fit_sample: int = 2000,
    splits: int = 5,
    restarts: int = 3,
    iterations: int = 10,
) -> list[CountScore]:
    """Fit each count ``k`` in ``ks`` on a seeded subsample of ``pts`` (``fit_sample``
    rows) and score it by its :func:`prediction_strength` on that subsample; one
    :class:`CountScore` per count, in the order of ``ks``.

    >>> rng = np.random.default_rng(0)
    >>> blobs = np.vstack([rng.normal(m, 0.2, (100, 2)) for m in (0, 4, 8)])
    >>> scores = strength_counts(blobs, range(2, 6), seed=1)
    >>> pick_by_strength({s.k: s.score for s in scores}, None)
    3
    """
    rng = np.random.default_rng(seed)
    fit = pts[rng.permutation(len(pts))[:fit_sample]]
    out = []
    for k in ks:
        strength = prediction_strength(fit, k, rng, splits, restarts, iterations)
        out.append(CountScore(k, strength, fit_count(fit, k, rng, restarts, iterations)))
    return out


def pick_by_strength(
    strengths: dict[int, float], current: int | None, threshold: float = THRESHOLD, margin: float = STRENGTH_MARGIN
) -> int:
    """The count to use, from each count's prediction strength.

    Without a current count (``None``): the largest count whose strength is at least
    ``threshold``, else the strongest (the smallest of equal ones). With one: if its
    strength fell below ``threshold - margin``, the choice is made afresh; else it moves
    up only to the largest count whose strength reached ``threshold + margin`` (a count
    that is only just reproducible does not replace one that still is); else it is kept.

    >>> s = {2: 0.99, 3: 0.95, 4: 0.82, 5: 0.6}
    >>> pick_by_strength(s, None), pick_by_strength(s, 3), pick_by_strength(s, 5)
    (4, 3, 4)
    >>> pick_by_strength({2: 0.99, 3: 0.9, 4: 0.86, 5: 0.82}, 3)
    4
    >>> pick_by_strength({2: 0.5, 3: 0.7}, None)
    3
    """
    fresh = max((k for k, v in strengths.items() if v >= threshold), default=None)
    if fresh is None:
        fresh = max(sorted(strengths), key=lambda k: strengths[k])
    if current is None or current not in strengths:
        return fresh
    if strengths[current] < threshold - margin:
        return fresh
    return max((k for k, v in strengths.items() if k > current and v >= threshold + margin), default=current)
