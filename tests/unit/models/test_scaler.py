"""The behaviour vectors' scaler equals River's StandardScaler bit for bit (River is the
independent reference: the scaler repeats its arithmetic to avoid its imports)."""

from __future__ import annotations

import random

from river.preprocessing import StandardScaler as RiverScaler

from segstream.models.scaler import StandardScaler


def test_learned_statistics_and_scaled_values_equal_rivers_exactly() -> None:
    rng = random.Random(3)
    ours, river = StandardScaler(), RiverScaler()
    names = ["spend", "visits", "recency", "flat"]
    for n in range(3000):
        # features come and go (a customer without usage has no usage features), one is constant
        x = {f: rng.lognormvariate(0, 2) * (k + 1) for k, f in enumerate(names[:3]) if rng.random() < 0.8}
        x["flat"] = 7.0
        if n % 3 == 0:
            probe = {f: rng.uniform(-5, 50) for f in [*names, "never_learned"]}
            assert ours.transform_one(probe) == river.transform_one(probe)
        ours.learn_one(x)
        river.learn_one(x)
    assert ours.counts == dict(river.counts)
    assert ours.means == {f: river.means[f] for f in ours.means}
    assert ours.vars == {f: river.vars[f] for f in ours.vars}
    assert ours.vars["flat"] == 0.0 and ours.transform_one({"flat": 9.0}) == {"flat": 0.0}


def test_mean_and_population_variance_by_hand() -> None:
    s = StandardScaler()
    for v in (2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0):  # mean 5, population variance 4
        s.learn_one({"x": v})
    assert s.counts == {"x": 8}
    assert abs(s.means["x"] - 5.0) < 1e-12 and abs(s.vars["x"] - 4.0) < 1e-12
    assert abs(s.transform_one({"x": 9.0})["x"] - 2.0) < 1e-12
