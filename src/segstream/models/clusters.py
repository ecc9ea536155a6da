"""Behavioural clusters: River incremental k-means, published as snapshots with stable ids.

One place at a time learns (the leader): a running standard scaler (River's arithmetic,
:mod:`segstream.models.scaler`) followed by River's ``KMeans``, fed customers' behaviour
vectors. Every worker assigns clusters with the last published snapshot (nearest centre,
vectorised with numpy). A new snapshot keeps each cluster's id by matching its centres to
the previous ones (Hungarian assignment); a centre that moved further than ``max_move`` is
reported as the retirement of the old cluster and the birth of a new one, and two old
clusters nearest the same new centre as a merge. A kept cluster's published centre moves at
most ``max_step`` standard units from one snapshot to the next (the learner keeps its own
centres; the published ones follow them over the next snapshots): customers between two
centres are not sent back and forth by a refinement that swings the centres while the
population is young (docs/SEGMENTS.md, "The clusters' speed limit").

The number of clusters is fixed (``n_clusters``) or chosen from the data within
``k_range`` (:mod:`segstream.models.cluster_count`: prediction strength, or silhouette, of
batch k-means over the recent vectors, changed only when clearly better). When it changes, the matching pairs
old and new centres as far as it can: an old cluster left without a partner retires, a
new one without a partner is born with a fresh id.

Why KMeans: on our machine River's KMeans learns and predicts in ~20 µs a vector, CluStream
in ~750 µs, DenStream predicts in up to 6.8 ms, and DBSTREAM's clusters were unstable
(figures from the issue, measured by its author); only KMeans keeps up with the stream and
gives a fixed number of clusters whose identity can be tracked.
"""

from __future__ import annotations

import collections
import math
from typing import Final

import numpy as np
from river import cluster
from scipy.optimize import linear_sum_assignment

from segstream.models.cluster_count import (
    CONFIRM,
    MARGIN,
    SPLITS,
    kmeanspp,
    lloyd,
    pick_by_strength,
    score_counts,
    standardise,
    strength_counts,
)
from segstream.models.cluster_snapshot import FEATURES, MAX_STEP, ClusterSnapshot, limit_steps, standouts
from segstream.models.scaler import StandardScaler
from segstream.scoring.catalogue import LANGUAGES, traits

__all__ = ["CRITERIA", "FEATURES", "MAX_STEP", "ClusterLearner", "ClusterSnapshot", "limit_steps", "standouts"]

#: How the number of clusters can be chosen from the data (:mod:`segstream.models.cluster_count`).
CRITERIA: Final = ("prediction_strength", "silhouette")


class ClusterLearner:
    """Incremental learner of behaviour clusters (the leader's side).

    Parameters
    ----------
    n_clusters
        Number of clusters; with ``k_range``, the number to start with (within the range).
    halflife
        Smallest River KMeans step towards a new vector. The step starts at 0.5 and
        shrinks as the learner sees more vectors (``1 / (1 + seen / (50 k))``), down to
        this floor, so centres settle instead of jittering between snapshots while still
        following slow drift.
    max_move
        Largest centre move (standard units) between snapshots that keeps a cluster's id.
    max_step
        Largest move (standard units) of a kept cluster's published centre from one
        snapshot to the next; a centre the learner moved further is published that far
        towards it, and the rest at the next snapshots (0: no limit). New clusters are
        published where the learner has them.
    seed
        Seed of River's initial centres.
    reservoir
        How many of the most recent (scaled) vectors the snapshot's batch refinement and
        the choice of the number of clusters work on.
    refine_iterations
        Lloyd iterations of the refinement.
    k_range
        ``(lo, hi)``: choose the number of clusters from the data, ``lo <= k <= hi``, at
        snapshot time (None: always ``n_clusters``), by ``criterion``.
    criterion
        ``"prediction_strength"`` (the largest count whose clusters are reproducible,
        :func:`segstream.models.cluster_count.pick_by_strength`) or ``"silhouette"`` (the
        first choice takes the best count; later ones change it only for a count whose
        silhouette beats the current count's, fitted the same way, by ``margin``).
    margin
        With the silhouette: how much higher another count must score to replace the current one.
    k_every
        Choose the count at every ``k_every``-th snapshot (the others only refine).
    confirm
        After the first choice, a new count replaces the current one only when this many
        consecutive choices picked it. Every choice scores the counts on the reservoir
        standardised afresh (its own mean and spread, not the running scaler's).

    Attributes
    ----------
    k
        The current number of clusters.
    k_score
        Prediction strength of the current count, or silhouette of the centres last
        published (0.0 until a count is chosen from the data).
    k_scores
        The score of each count at the last choice.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> learner = ClusterLearner(n_clusters=2, seed=1)
    >>> blobs = np.vstack([rng.normal(0, 0.1, (200, 7)), rng.normal(5, 0.1, (200, 7))])
    >>> for x in rng.permutation(blobs):
    ...     learner.learn_one(dict(zip(FEATURES, x)))
    >>> snap, events = learner.snapshot(None)
    >>> sorted(set(snap.assign(blobs[:200]))) != sorted(set(snap.assign(blobs[200:])))
    True
    >>> again, events = learner.snapshot(snap)
    >>> again.ids == snap.ids, events
    (True, [])
    """

    def __init__(
        self,
        n_clusters: int = 5,
        halflife: float = 0.01,
        max_move: float = 3.0,
        seed: int = 42,
        max_step: float = MAX_STEP,
        reservoir: int = 5000,
        refine_iterations: int = 10,
        k_range: tuple[int, int] | None = None,
        margin: float = MARGIN,
        k_every: int = 1,
        criterion: str = "prediction_strength",
        confirm: int = CONFIRM,
    ) -> None:
        if k_range is not None and not 2 <= k_range[0] <= n_clusters <= k_range[1]:
            raise ValueError(f"need 2 <= k_range[0] <= n_clusters <= k_range[1], got {n_clusters} and {k_range}")
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
        self.n_clusters = n_clusters
        self.halflife = halflife
        self.max_move = max_move
        self.seed = seed
        self.max_step = max_step
        self.reservoir = reservoir
        self.refine_iterations = refine_iterations
        self.k_range = k_range
        self.margin = margin
        self.k_every = k_every
        self.criterion = criterion
        self.confirm = confirm
        self.k = n_clusters
        self.k_score = 0.0
        self.k_scores: dict[int, float] = {}
        self._chosen = False
        self._pending = (n_clusters, 0)  # a new count picked, and by how many consecutive choices
        self._snapshots = 0
        self._scaler = StandardScaler()
        self._kmeans = cluster.KMeans(n_clusters=n_clusters, halflife=halflife, sigma=1.0, seed=seed)
        self._seen: list[dict[str, float]] = []
        self._recent: collections.deque[list[float]] = collections.deque(maxlen=reservoir)
        self.learned = 0

    def learn_one(self, x: dict[str, float]) -> None:
        self._scaler.learn_one(x)
        z = self._scaler.transform_one(x)
        self._recent.append([z.get(f, 0.0) for f in FEATURES])
        if len(self._seen) < self.n_clusters * 20:  # seed the centres from data, spread out
            self._seen.append(z)
            if len(self._seen) == self.n_clusters * 20:
                self._init_centers()
        else:
            # the step shrinks as the learner sees more vectors, down to the floor
            self._kmeans.halflife = max(self.halflife, 1 / (1 + self.learned / (50 * self.k)))
            self._kmeans.learn_one(z)  # type: ignore[no-untyped-call]
        self.learned += 1

    def _init_centers(self) -> None:
        pts = np.array([[z.get(f, 0.0) for f in FEATURES] for z in self._seen])
        chosen = [0]
        for _ in range(1, self.n_clusters):  # farthest-point initialisation
            d = ((pts[:, None, :] - pts[chosen][None, :, :]) ** 2).sum(axis=2).min(axis=1)
            chosen.append(int(d.argmax()))
        for k, i in enumerate(chosen):
            self._kmeans.centers[k].clear()
            self._kmeans.centers[k].update(dict(zip(FEATURES, pts[i], strict=True)))

    def refine(self) -> None:
        """A few Lloyd iterations over the most recent vectors, starting from River's
        centres (mini-batch refinement): it pulls the online centres towards the batch
        optimum without changing which centre is which."""
        if len(self._recent) < self.k * 20:
            return
        pts = np.asarray(self._recent)
        c, inertia = lloyd(pts, self._centers(), self.refine_iterations)
        # a restart from k-means++ seeds escapes a poor local optimum of the online centres;
        # it is taken only when clearly better (ids are then re-matched by the snapshot)
        rng = np.random.default_rng(self.seed + self.learned)
        for _ in range(3):
            alt, alt_inertia = lloyd(pts, kmeanspp(pts, self.k, rng, trials=1), self.refine_iterations)
            if alt_inertia < 0.95 * inertia:
                c, inertia = alt, alt_inertia
        for k in range(self.k):
            self._kmeans.centers[k].update(dict(zip(FEATURES, c[k], strict=True)))

    def choose_count(self) -> bool:
        """Choose the number of clusters from the recent vectors (needs ``k_range``, the
        initial centres and ``20 * hi`` recent vectors); True when it changed. A new count
        starts River's KMeans again from that count's batch centres."""
        if self.k_range is None or len(self._seen) < self.n_clusters * 20:
            return False
        lo, hi = self.k_range
        if len(self._recent) < hi * 20:
            return False
        pts = np.asarray(self._recent)
        # scored on the reservoir's own spread: the running scaler's spans the whole history
        # (young customers' vectors too), in a replay twice the population's on spend
        z, mu, sd = standardise(pts)
        seed = self.seed + self.learned
        if self.criterion == "prediction_strength":
            fits = strength_counts(z, range(lo, hi + 1), seed=seed, fit_sample=len(z), splits=SPLITS)
            strengths = {f.k: f.score for f in fits}
            pick, current_score = pick_by_strength(strengths, self.k if self._chosen else None), strengths[self.k]
        else:
            *fits, current = score_counts(
                z, range(lo, hi + 1), seed=seed, restarts=5, current=(self._centers() - mu) / sd
            )
            best = max(fits, key=lambda f: f.score)  # the smallest of equal scores
            # every count fitted the same way: the current centres may hold an emptied cluster
            baseline = next(f.score for f in fits if f.k == self.k)
            better = not self._chosen or best.score >= baseline + self.margin
            pick, current_score = best.k if better else self.k, current.score
        self.k_scores = {f.k: round(f.score, 4) for f in fits}
        pick = self._confirmed(pick)
        if pick == self.k:
            self.k_score = current_score
            return False
        chosen = next(f for f in fits if f.k == pick)
        centers, _ = lloyd(pts, chosen.centers * sd + mu, self.refine_iterations)  # the whole reservoir
        self.k, self.k_score = chosen.k, chosen.score
        self._kmeans = cluster.KMeans(n_clusters=self.k, halflife=self.halflife, sigma=1.0, seed=self.seed)
        for k in range(self.k):
            self._kmeans.centers[k].clear()
            self._kmeans.centers[k].update(dict(zip(FEATURES, centers[k], strict=True)))
        return True

    def _confirmed(self, pick: int) -> int:
        """The count to use: the first choice's at once; afterwards a new count only once
        ``confirm`` consecutive choices picked it."""
        first, self._chosen = not self._chosen, True
        if first or pick == self.k:
            self._pending = (pick, 0)
            return pick
        streak = self._pending[1] + 1 if self._pending[0] == pick else 1
        self._pending = (pick, streak)
        return pick if streak >= self.confirm else self.k

    @property
    def recent(self) -> np.ndarray:
        """The reservoir: the most recent vectors, scaled as they were learned (rows)."""
        return np.asarray(self._recent, dtype=float).reshape(-1, len(FEATURES))

    def _centers(self) -> np.ndarray:
        return np.array([[self._kmeans.centers[k][f] for f in FEATURES] for k in range(self.k)])

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean = np.array([self._scaler.means.get(f, 0.0) for f in FEATURES])
        std = np.array([math.sqrt(self._scaler.vars.get(f, 0.0)) or 1.0 for f in FEATURES])
        return mean, std, self._centers()

    def snapshot(
        self, previous: ClusterSnapshot | None, version: int | None = None, choose: bool = False
    ) -> tuple[ClusterSnapshot, list[dict[str, object]]]:
        """A snapshot whose ids follow ``previous``; and the births, merges and retirements.

        With ``k_range``, every ``k_every``-th snapshot (and any with ``choose``) also
        chooses the number of clusters (:meth:`choose_count`); old and new centres are then
        matched as far as their numbers allow: unmatched old clusters retire, unmatched new
        ones are born."""
        self.refine()
        if self.k_range is not None and (choose or self._snapshots % self.k_every == 0):
            self.choose_count()
        self._snapshots += 1
        mean, std, centers = self._state()
        events: list[dict[str, object]] = []
        if previous is None:
            ids = list(range(1, self.k + 1))
            next_id = self.k + 1
            events = [{"event": "birth", "cluster": i} for i in ids]
        else:
            # compare in raw units: the scaling itself moves as it learns; a previous
            # snapshot on fewer features (an older release's) on the features it has
            d = len(previous.mean)
            old = np.asarray(previous.centers) * np.asarray(previous.std) + np.asarray(previous.mean)
            new = (centers * std + mean)[:, :d]
            cost = (((old[:, None, :] - new[None, :, :]) / std[:d]) ** 2).sum(axis=2) ** 0.5
            rows, cols = linear_sum_assignment(cost)  # rectangular when the count changed
            ids = [0] * self.k
            next_id = previous.next_id
            partner = dict(zip(rows.tolist(), cols.tolist(), strict=True))
            kept: list[tuple[int, int]] = []  # (new row, old row) of each cluster that keeps its id
            for r in range(len(previous.ids)):
                if r in partner and cost[r, partner[r]] <= self.max_move:
                    ids[partner[r]] = previous.ids[r]
                    kept.append((partner[r], r))
                else:  # moved too far, or left without a partner by a smaller count
                    events.append({"event": "retirement", "cluster": previous.ids[r]})
            nearest = cost.argmin(axis=1)
            for c in range(self.k):
                if not ids[c]:
                    ids[c] = next_id
                    next_id += 1
                    merged = [previous.ids[r] for r in range(len(previous.ids)) if nearest[r] == c]
                    events.append({"event": "merge" if len(merged) > 1 else "birth", "cluster": ids[c], "from": merged})
            if self.max_step > 0:
                centers = limit_steps(centers, mean, std, old, kept, self.max_step)
        # named when learned, from the catalogue's words: every worker shows the same names
        descriptions = {lang: [traits(standouts(c), lang) for c in centers] for lang in LANGUAGES}
        version = version if version is not None else (previous.version + 1 if previous else 1)
        rebuilt = previous.rebuilt if previous else 0
        if previous and self.k != (previous.k or len(previous.ids)):
            rebuilt = version  # the published count changed: chosen anew, or a new leader's or setting's
        snap = ClusterSnapshot(
            version=version,
            ids=ids,
            centers=centers.tolist(),
            mean=mean.tolist(),
            std=std.tolist(),
            descriptions=descriptions,
            next_id=next_id,
            learned=self.learned,
            k=self.k,
            k_score=round(self.k_score, 4),
            k_method="fixed" if self.k_range is None else self.criterion,
            rebuilt=rebuilt,
        )
        for e in events:
            cid = e["cluster"]
            if e["event"] != "retirement" and cid in ids:
                e["description"] = descriptions["en"][ids.index(cid)]  # type: ignore[arg-type]
        return snap, events
