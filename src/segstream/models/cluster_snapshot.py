"""What every worker assigns clusters with: a published snapshot of the leader's centres
(:class:`ClusterSnapshot`), with how far a kept centre may move between two snapshots
(:func:`limit_steps`) and what a centre stands out on (:func:`standouts`). The learner that
writes them is :class:`segstream.models.clusters.ClusterLearner`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np

#: The behaviour features, in the order of a vector (scoring/behaviour.py builds them). New
#: ones are appended: a snapshot learned on the first ``d`` of them reads only those
#: (:meth:`ClusterSnapshot.assign`), so snapshots published before ``discount`` (the share
#: of orders on a discount or coupon, issue 18) still assign.
FEATURES: Final = ("spend", "frequency", "recency", "usage_rate", "usage_trend", "satisfaction", "discount")
#: How far (standard units) a kept cluster's published centre moves at most from one snapshot
#: to the next, by default (``SEGSTREAM_CLUSTER_MAX_STEP``'s default; a test keeps them equal).
MAX_STEP: Final = 0.5


class ClusterSnapshot(msgspec.Struct, frozen=True, omit_defaults=True):
    """What workers need to assign clusters: scaling, centres (scaled), ids, descriptions;
    and how the number of clusters was chosen: ``k`` clusters, ``k_method`` ``"fixed"``
    (the setting), ``"prediction_strength"`` or ``"silhouette"`` (from the data), ``k_score``
    the prediction strength of ``k`` clusters, or the silhouette of these centres, on the
    learner's recent vectors (0.0: not scored); ``rebuilt``, the version at which the count
    last changed (:meth:`assign`). Snapshots written before
    these fields decode with their defaults (``k`` 0: unknown, ``len(ids)`` tells);
    defaults are not written, so such a snapshot encodes to the same bytes as before.
    """

    version: int
    ids: list[int]
    centers: list[list[float]]
    mean: list[float]
    std: list[float]
    descriptions: dict[str, list[str]]
    next_id: int
    learned: int
    k: int = 0
    k_score: float = 0.0
    k_method: str = "fixed"
    rebuilt: int = 0  # the version whose count last changed (0: none since the first)

    def assign(
        self, x: np.ndarray, current: np.ndarray | None = None, margin: float = 0.0, under: np.ndarray | None = None
    ) -> np.ndarray:
        """Cluster id of each row of ``x`` (n x len(FEATURES), raw units), vectorised. A
        snapshot learned on fewer features (an older release's) reads the first ones only.

        ``current``: each row's cluster id so far (0: none); a row stays in it unless the
        nearest centre is nearer by more than ``margin`` (a share of the distance), so that
        customers between two centres do not move back and forth as the centres drift.
        ``under``: the ``rebuilt`` of the snapshot each row's ``current`` was given under; a
        row given its cluster before the count last changed (``under < rebuilt``) is placed
        afresh, in its nearest centre: the margin holds customers between centres that
        drift, not in the partition of a count the learner left.

        >>> snap = ClusterSnapshot(1, [3, 4], [[0.0] * 6, [2.0] + [0.0] * 5], [0.0] * 6, [1.0] * 6, {}, 5, 0)
        >>> x = np.array([[1.05] + [0.0] * 5, [1.5] + [0.0] * 5])
        >>> snap.assign(x).tolist(), snap.assign(x, np.array([3, 3]), margin=0.1).tolist()
        ([4, 4], [3, 4])
        >>> rebuilt = msgspec.structs.replace(snap, version=2, rebuilt=2)
        >>> rebuilt.assign(x, np.array([3, 3]), margin=0.1, under=np.array([0, 2])).tolist()
        [4, 4]
        """
        z = (x[:, : len(self.mean)] - np.asarray(self.mean)) / np.asarray(self.std)
        c = np.asarray(self.centers)
        d = ((z[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        best = d.argmin(axis=1)
        if current is not None and margin > 0:
            column = {cid: j for j, cid in enumerate(self.ids)}
            cur = np.array([column.get(int(k), -1) for k in current], dtype=np.int64)
            rows = np.arange(len(best))
            stay = (cur >= 0) & (d[rows, best] >= (1 - margin) ** 2 * d[rows, np.maximum(cur, 0)])
            if under is not None:
                stay &= np.asarray(under) >= self.rebuilt
            best = np.where(stay, cur, best)
        ids: np.ndarray = np.asarray(self.ids)[best]
        return ids

    def description(self, cluster_id: int, language: str) -> str:
        return self.descriptions[language][self.ids.index(cluster_id)]


def limit_steps(
    centers: np.ndarray, mean: np.ndarray, std: np.ndarray, old: np.ndarray, kept: list[tuple[int, int]], step: float
) -> np.ndarray:
    """``centers`` (scaled by ``mean`` and ``std``) with each kept one, ``(new row, old
    row)`` in ``kept``, moved at most ``step`` standard units from its old centre (``old``,
    raw units, on the first ``old.shape[1]`` features), along the way to where it was.

    >>> new = limit_steps(np.array([[3.0, 4.0]]), np.zeros(2), np.ones(2), np.zeros((1, 2)), [(0, 0)], 1.0)
    >>> new.round(6).tolist()
    [[0.6, 0.8]]
    """
    raw = centers * std + mean
    d = old.shape[1]
    for c, r in kept:
        delta = (raw[c, :d] - old[r]) / std[:d]
        length = float(np.sqrt((delta**2).sum()))
        if length > step:
            raw[c, :d] = old[r] + delta * (step / length) * std[:d]
    limited: np.ndarray = (raw - mean) / std
    return limited


def standouts(center: Sequence[float], words: int = 3) -> list[tuple[str, int]]:
    """The features a centre (in standard units, z-scores) stands out on, strongest first:
    ``(feature, 1 if above the population else 0)``, at most ``words`` of them, each at
    least 0.25 standard deviations from the mean (named by :func:`segstream.scoring.catalogue.traits`).

    >>> standouts([1.2, 0.9, -0.8, 0.1, 0.0, 0.3, -1.0])
    [('spend', 1), ('discount', 0), ('frequency', 1)]
    """
    ranked = sorted(range(len(center)), key=lambda i: -abs(center[i]))
    return [(FEATURES[i], int(center[i] > 0)) for i in ranked[:words] if abs(center[i]) >= 0.25]
