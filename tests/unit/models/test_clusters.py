"""Behaviour clusters across a change of the behaviour vector: the discount share joined the
six features of earlier releases (issue 18); a leader of today's release follows a
published six-feature snapshot with its ids kept."""

from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest

from segstream.models.clusters import FEATURES, ClusterLearner


def test_a_seven_feature_snapshot_keeps_the_ids_of_a_six_feature_previous_one() -> None:
    rng = np.random.default_rng(4)
    centres = np.array([[0.0, 6.0] * 3 + [0.1], [6.0, 0.0] * 3 + [0.8]])  # the discount share apart, too
    x = np.vstack([c + rng.normal(0, 0.2, (300, len(FEATURES))) for c in centres])
    learner = ClusterLearner(n_clusters=2, seed=3)
    for row in rng.permutation(x):
        learner.learn_one(dict(zip(FEATURES, row, strict=True)))
    today, _ = learner.snapshot(None)
    # the snapshot an earlier release published: the same clusters on six features, ids 7 and 9
    low = int(today.assign(centres[:1])[0])
    order = [today.ids.index(low), 1 - today.ids.index(low)]
    old = msgspec.structs.replace(
        today, ids=[7, 9], next_id=10, mean=today.mean[:6], std=today.std[:6],
        centers=[today.centers[i][:6] for i in order],
    )  # fmt: skip
    new, events = learner.snapshot(old)
    assert len(new.mean) == len(FEATURES) == 7
    assert new.assign(centres).tolist() == [7, 9]  # each cluster keeps its id
    assert events == []
    moved = msgspec.structs.replace(old, centers=[[9.0] * 6, [-9.0] * 6])  # far on the six it has
    again, events = learner.snapshot(moved)
    assert sorted(e["cluster"] for e in events if e["event"] == "retirement") == [7, 9]
    assert not {7, 9} & set(again.ids)


def test_the_learners_default_speed_limit_is_the_settings_default() -> None:
    from segstream.config import Settings
    from segstream.models.clusters import MAX_STEP

    assert Settings.model_fields["cluster_max_step"].default == MAX_STEP == ClusterLearner().max_step


def test_the_learners_default_confirmation_is_the_settings_default() -> None:
    from segstream.config import Settings
    from segstream.models.cluster_count import CONFIRM

    assert Settings.model_fields["clusters_confirm"].default == CONFIRM == ClusterLearner().confirm == 3


def _two_blobs(learner: ClusterLearner, at: float, rng: np.random.Generator) -> None:
    for row in rng.permutation(np.vstack([rng.normal(c, 0.05, (400, len(FEATURES))) for c in (0.0, at)])):
        learner.learn_one(dict(zip(FEATURES, row, strict=True)))


def _raw(snap: object, cid: int) -> np.ndarray:
    i = snap.ids.index(cid)  # type: ignore[attr-defined]
    return np.asarray(snap.centers[i]) * snap.std + snap.mean  # type: ignore[attr-defined]


def test_a_published_centre_moves_at_most_max_step_a_snapshot_and_then_catches_up() -> None:
    rng = np.random.default_rng(5)
    learner = ClusterLearner(n_clusters=2, seed=3, max_step=0.5)
    _two_blobs(learner, 4.0, rng)
    first, _ = learner.snapshot(None)
    far = int(first.assign(np.full((1, len(FEATURES)), 4.0))[0])
    start = _raw(first, far)
    _two_blobs(learner, 5.0, rng)  # the far blob moved by 1 on each of the 7 features
    snaps = [first]
    for _ in range(8):
        snap, events = learner.snapshot(snaps[-1])
        assert events == [] and snap.ids == first.ids
        snaps.append(snap)
    steps = [float(np.sqrt((((_raw(b, far) - _raw(a, far)) / b.std) ** 2).sum())) for a, b in itertools.pairwise(snaps)]
    assert max(steps) <= 0.5 + 1e-9
    assert steps[0] == pytest.approx(0.5)  # the learner's centre is further than one step
    assert steps[-1] < 0.5  # ... and reached
    unlimited = ClusterLearner(n_clusters=2, seed=3, max_step=0.0)
    rng = np.random.default_rng(5)
    _two_blobs(unlimited, 4.0, rng)
    base, _ = unlimited.snapshot(None)
    _two_blobs(unlimited, 5.0, rng)
    jump, _ = unlimited.snapshot(base)
    moved = _raw(jump, far) - _raw(base, far)
    assert float(np.sqrt(((moved / jump.std) ** 2).sum())) > 1.0  # without the limit, in one snapshot
    assert np.allclose(_raw(snaps[-1], far), _raw(jump, far), atol=0.05)  # and the limited one got there too
    assert np.linalg.norm(_raw(snaps[-1], far) - start) > 2.0


def test_limit_steps_by_hand() -> None:
    from segstream.models.clusters import limit_steps

    centers = np.array([[3.0, 4.0], [10.0, 0.0]])  # scaled: raw = 2 z + 1
    mean, std = np.array([1.0, 1.0]), np.array([2.0, 2.0])
    old = np.array([[1.0, 1.0], [1.0, 1.0]])  # raw; the first new centre is 5 sd from its old one (raw 7, 9)
    out = limit_steps(centers, mean, std, old, [(0, 0)], 1.0)  # the second is not kept: where it is
    # raw 1 + 2 x (0.6, 0.8): one sd along the way
    assert np.allclose(out, [[0.6, 0.8], [10.0, 0.0]], rtol=0, atol=1e-12)
    assert limit_steps(centers, mean, std, old, [(0, 0)], 6.0).tolist() == centers.tolist()
