"""Behaviour clusters across a change of the behaviour vector: the discount share joined the
six features of earlier releases (issue 18); a leader of today's release follows a
published six-feature snapshot with its ids kept."""

from __future__ import annotations

import msgspec
import numpy as np

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
