"""The number of behavioural clusters chosen from the data (prediction strength or
silhouette, with hysteresis), and cluster ids kept through a change of that number.

Expected values come from scikit-learn (``silhouette_score``, ``KMeans``,
``adjusted_rand_score``) or from how the data were built, never from the module."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from segstream.models.cluster_count import kmeanspp, nearest, pick_by_strength, prediction_strength, silhouette
from segstream.models.clusters import CRITERIA, FEATURES, ClusterLearner, ClusterSnapshot

D = len(FEATURES)
AXES = np.eye(D) * 8.0  # blob centres 8 standard deviations out on distinct axes: equally far apart


def draw(centres: list[np.ndarray], n: int, rng: np.random.Generator, sd: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(len(centres), size=n)
    return np.asarray(centres)[y] + rng.normal(0.0, sd, (n, D)), y


def learn(learner: ClusterLearner, x: np.ndarray) -> None:
    for row in x:
        learner.learn_one(dict(zip(FEATURES, row, strict=True)))


def personas(n: int, rng: np.random.Generator, discount: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Six persona-like groups in behaviour-vector units (log1p order value, log1p purchases
    per 30 days, log1p days since the last purchase, log1p usage rate, usage trend,
    satisfaction; the share of orders on a discount: 0, no one bought on a discount, or with
    ``discount`` about the simulator's personas' shares), overlapping: sklearn's KMeans told
    k = 6 recovers them with ARI ~1."""
    means = np.array([
        [4.8, 2.2, 1.4, 1.1, 0.0, 0.9, 0.05],    # champion
        [4.1, 1.5, 2.3, 0.7, 0.0, 0.8, 0.15],    # loyal
        [3.0, 1.2, 2.6, 0.34, 0.0, 0.6, 0.7],    # bargain hunter
        [3.8, 0.45, 3.8, 0.1, 0.0, 0.7, 0.2],    # occasional
        [3.9, 0.7, 4.6, 0.5, -1.5, 0.35, 0.2],   # churner
        [3.3, 0.3, 3.9, 1.4, 0.6, 0.6, 0.15],    # heavy user, rare buyer
    ])  # fmt: skip
    sd = np.array([0.3, 0.2, 0.35, 0.15, 0.35, 0.08, 0.12]) * 0.85
    y = rng.choice(6, size=n, p=[0.1, 0.2, 0.2, 0.2, 0.15, 0.15])
    x = means[y] + rng.normal(size=(n, D)) * sd
    if not discount:
        x[:, FEATURES.index("discount")] = 0.0
    return x, y


@pytest.mark.parametrize(("n", "k", "seed"), [(50, 2, 0), (300, 5, 1), (1000, 7, 2)])
def test_silhouette_equals_sklearns(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    labels = rng.integers(k, size=n)
    labels[0] = 99  # a cluster of one point scores 0
    assert silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-12)


def test_silhouette_refuses_one_cluster() -> None:
    with pytest.raises(ValueError, match="2 to n - 1 clusters"):
        silhouette(np.zeros((5, 2)), np.zeros(5))


@pytest.mark.parametrize("k_true", [3, 4, 6])
def test_the_count_of_well_separated_blobs_is_found(k_true: int) -> None:
    rng = np.random.default_rng(k_true)
    x, truth = draw(list(AXES[:k_true]), 4000, rng)
    learner = ClusterLearner(n_clusters=5, k_range=(2, 10), criterion="silhouette")
    learn(learner, x)
    snap, events = learner.snapshot(None)
    assert (snap.k, len(snap.ids), snap.k_method) == (k_true, k_true, "silhouette")
    assert snap.k_score == pytest.approx(silhouette_score(learner.recent, truth), abs=0.02)  # on a subsample
    assert [e["event"] for e in events] == ["birth"] * k_true
    assert adjusted_rand_score(truth, snap.assign(x)) >= 0.85


@pytest.mark.parametrize("criterion", CRITERIA)
def test_six_overlapping_personas_are_found_without_being_told_how_many(criterion: str) -> None:
    rng = np.random.default_rng(7)
    x, truth = personas(6000, rng)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    told = KMeans(n_clusters=6, n_init=10, random_state=0).fit_predict(z)
    assert adjusted_rand_score(truth, told) >= 0.95  # the data: six groups a batch k-means separates
    learner = ClusterLearner(n_clusters=5, k_range=(2, 10), criterion=criterion)
    learn(learner, x)
    snap, _ = learner.snapshot(None)
    assert snap.k == 6
    assert adjusted_rand_score(truth, snap.assign(x)) >= 0.85


@pytest.mark.parametrize("criterion", CRITERIA)
def test_ids_survive_a_change_of_count_births_and_retirements_are_reported(criterion: str) -> None:
    rng = np.random.default_rng(3)
    learner = ClusterLearner(n_clusters=2, k_range=(2, 6), reservoir=1500, criterion=criterion, confirm=1)
    three, _ = draw(list(AXES[:3]), 1500, rng)
    learn(learner, three)
    s1, events = learner.snapshot(None)
    assert s1.k == 3 and s1.ids == [1, 2, 3]
    probes = [AXES[i] + rng.normal(0, 0.3, (20, D)) for i in range(4)]

    def label(snap: ClusterSnapshot, i: int) -> int:
        ids = set(snap.assign(probes[i]).tolist())
        assert len(ids) == 1
        return ids.pop()

    # a fourth group appears: the three old clusters keep their ids, one is born
    learn(learner, draw(list(AXES[:4]), 1500, rng)[0])
    s2, events = learner.snapshot(s1)
    assert s2.k == 4
    assert [label(s2, i) for i in range(3)] == [label(s1, i) for i in range(3)]
    assert label(s2, 3) == 4 and s2.next_id == 5
    assert [(e["event"], e["cluster"]) for e in events] == [("birth", 4)]
    # the third group goes: its cluster retires, the others keep their ids
    gone = label(s2, 2)
    learn(learner, draw([AXES[0], AXES[1], AXES[3]], 1500, rng)[0])
    s3, events = learner.snapshot(s2)
    assert s3.k == 3 and gone not in s3.ids
    assert [label(s3, i) for i in (0, 1, 3)] == [label(s2, i) for i in (0, 1, 3)]
    assert [(e["event"], e["cluster"]) for e in events] == [("retirement", gone)]


def test_a_change_of_count_is_stamped_on_its_snapshot_and_carried_until_the_next() -> None:
    rng = np.random.default_rng(3)
    learner = ClusterLearner(n_clusters=2, k_range=(2, 6), reservoir=1500, confirm=1)
    learn(learner, draw(list(AXES[:3]), 1500, rng)[0])
    s1, _ = learner.snapshot(None)
    learn(learner, draw(list(AXES[:3]), 1500, rng)[0])
    s2, _ = learner.snapshot(s1)
    assert (s1.k, s1.rebuilt, s2.k, s2.rebuilt) == (3, 0, 3, 0)  # the first count: no one was placed before it
    learn(learner, draw(list(AXES[:4]), 1500, rng)[0])
    s3, _ = learner.snapshot(s2)
    learn(learner, draw(list(AXES[:4]), 1500, rng)[0])
    s4, _ = learner.snapshot(s3)
    assert (s3.k, s3.version, s3.rebuilt) == (4, 3, 3)
    assert (s4.k, s4.rebuilt) == (4, 3)
    fixed = ClusterLearner(n_clusters=3)
    learn(fixed, draw(list(AXES[:4]), 1500, rng)[0])
    assert fixed.snapshot(fixed.snapshot(None)[0])[0].rebuilt == 0
    # a new leader (or a new setting) publishing another count than the snapshot before it
    assert fixed.snapshot(s4)[0].rebuilt == s4.version + 1
    same = ClusterLearner(n_clusters=4)
    learn(same, draw(list(AXES[:4]), 1500, rng)[0])
    assert same.snapshot(s4)[0].rebuilt == 3  # the same count: the change stays the one of version 3


@pytest.mark.parametrize(("margin", "k_after"), [(0.02, 3), (0.0, 4)])
def test_a_count_better_by_less_than_the_margin_does_not_replace_the_current_one(margin: float, k_after: int) -> None:
    rng = np.random.default_rng(0)
    learner = ClusterLearner(
        n_clusters=3, k_range=(2, 6), reservoir=1500, seed=1, margin=margin, criterion="silhouette", confirm=1
    )
    learn(learner, draw(list(AXES[:3]), 1500, rng)[0])
    s1, _ = learner.snapshot(None)
    assert s1.k == 3
    # the third group splits in two, 2 x 2.3 standard deviations apart: four groups score
    # a little better than three (sklearn, on the very vectors the learner holds, standardised
    # afresh as the learner scores them)
    split = [AXES[0], AXES[1], AXES[2] + 2.3 * np.eye(D)[3], AXES[2] - 2.3 * np.eye(D)[3]]
    learn(learner, draw(split, 1500, rng)[0])
    r = zscored(learner.recent)
    sk = {k: silhouette_score(r, KMeans(k, n_init=10, random_state=0).fit_predict(r)) for k in (3, 4)}
    assert 0 < sk[4] - sk[3] < 0.01
    s2, _ = learner.snapshot(s1)
    assert learner.k == s2.k == len(s2.ids) == k_after


@pytest.mark.parametrize("criterion", CRITERIA)
def test_a_new_count_is_taken_only_once_three_choices_in_a_row_picked_it(criterion: str) -> None:
    rng = np.random.default_rng(4)
    learner = ClusterLearner(n_clusters=2, k_range=(2, 6), reservoir=1500, criterion=criterion)
    three, four = list(AXES[:3]), list(AXES[:4])
    ks = []
    snap = None
    # each round refills the reservoir: three groups, then four, then three once, then four
    for groups in (three, four, four, three, four, four, four):
        learn(learner, draw(groups, 1500, rng)[0])
        snap, _ = learner.snapshot(snap)
        ks.append(snap.k)
    # the first choice at once; four groups picked twice, then the current count again: the
    # streak starts over; the third of three picks in a row changes the count
    assert ks == [3, 3, 3, 3, 3, 3, 4]
    assert learner.k_scores and max(learner.k_scores, key=learner.k_scores.__getitem__) in (3, 4)


@pytest.mark.parametrize("seed", [6, 7])
def test_the_count_is_chosen_on_the_reservoirs_own_spread_not_the_whole_historys(seed: int) -> None:
    """Four groups at the corners of a square 6 wide (0.3 around each corner), noise of 1 on
    a third feature. The learner's running scaler has also seen an older population 10 wide
    on the first feature and 3 on the second: in its units the corners of the first feature
    lie closer than the noise, and the reproducible count is 2. Standardised on the
    reservoir alone (the vectors the count is chosen for), the four corners stand out.
    (The clusters themselves are still learned in the running scaler's units, where
    k-means may split the noise instead of the corners: docs/QUALITY.md.)"""
    rng = np.random.default_rng(seed)
    learner = ClusterLearner(n_clusters=2, k_range=(2, 6), reservoir=1500, criterion="prediction_strength")
    history = np.zeros((3000, D))
    for j, spread in enumerate((10.0, 3.0, 1.0)):
        history[:, j] = rng.normal(0.0, spread, 3000)
    learn(learner, history)
    corner = rng.integers(4, size=1500)
    x = np.zeros((1500, D))
    x[:, 0] = np.where(corner % 2, 3.0, -3.0) + rng.normal(0.0, 0.3, 1500)
    x[:, 1] = np.where(corner // 2, 3.0, -3.0) + rng.normal(0.0, 0.3, 1500)
    x[:, 2] = rng.normal(0.0, 1.0, 1500)
    learn(learner, x)
    snap, _ = learner.snapshot(None)
    assert snap.k == 4
    assert learner.k_scores[4] >= 0.9


@pytest.mark.parametrize(("k", "centres", "at_least"), [
    (3, [np.zeros(D), np.eye(D)[0] * 12, np.eye(D)[1] * 25], 300),
    (6, list(AXES[:6]), 255),
])  # fmt: skip
def test_greedy_kmeanspp_puts_a_seed_in_every_separate_group(k: int, centres: list[np.ndarray], at_least: int) -> None:
    """Of 300 seedings, how many put one seed in each group: all of three groups 12 and 25
    apart, at least 85% of six equidistant ones (a single draw per seed: 82% and 41%)."""
    x, _ = draw(centres, 3000, np.random.default_rng(1))
    rng = np.random.default_rng(0)
    hits = sum(len(set(nearest(kmeanspp(x, k, rng), np.asarray(centres)).tolist())) == k for _ in range(300))
    assert hits >= at_least


def test_one_trial_a_seed_is_the_original_single_draw_kmeanspp() -> None:
    """``trials=1`` (the learner's restarts) draws each next seed once, with probability
    proportional to its squared distance from the nearest seed so far: the same seeds as
    that rule written out, from the same random stream."""
    x, _ = draw(list(AXES[:4]), 500, np.random.default_rng(2))

    def single_draw(rng: np.random.Generator, k: int) -> np.ndarray:
        chosen = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d = ((x[:, None, :] - np.asarray(chosen)[None, :, :]) ** 2).sum(axis=2).min(axis=1)
            chosen.append(x[rng.choice(len(x), p=d / d.sum())])
        return np.asarray(chosen)

    for seed in range(5):
        ours = kmeanspp(x, 4, np.random.default_rng(seed), trials=1)
        assert np.array_equal(ours, single_draw(np.random.default_rng(seed), 4))


def test_a_fixed_count_never_changes() -> None:
    rng = np.random.default_rng(1)
    learner = ClusterLearner(n_clusters=3, seed=1, reservoir=1500)
    snap = None
    for groups in (2, 6, 4):
        learn(learner, draw(list(AXES[:groups]), 1500, rng)[0])
        snap, _ = learner.snapshot(snap)
        assert (snap.k, len(snap.ids), snap.k_method, snap.k_score) == (3, 3, "fixed", 0.0)
    assert learner.k == 3 and learner.k_scores == {}


def test_a_count_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="k_range"):
        ClusterLearner(n_clusters=5, k_range=(6, 10))
    with pytest.raises(ValueError, match="k_range"):
        ClusterLearner(n_clusters=2, k_range=(1, 4))
    with pytest.raises(ValueError, match="criterion must be one of prediction_strength, silhouette, got 'gap'"):
        ClusterLearner(n_clusters=5, k_range=(2, 10), criterion="gap")


@pytest.mark.parametrize("criterion", CRITERIA)
def test_choosing_every_second_snapshot(criterion: str) -> None:
    rng = np.random.default_rng(2)
    learner = ClusterLearner(n_clusters=2, k_range=(2, 6), reservoir=1500, k_every=2, criterion=criterion, confirm=1)
    learn(learner, draw(list(AXES[:3]), 1500, rng)[0])
    s1, _ = learner.snapshot(None)  # snapshot 0 chooses
    learn(learner, draw(list(AXES[:4]), 1500, rng)[0])
    s2, _ = learner.snapshot(s1)  # snapshot 1 does not
    s3, _ = learner.snapshot(s2)  # snapshot 2 does
    assert (s1.k, s2.k, s3.k) == (3, 3, 4)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_a_snapshot_told_to_choose_chooses_between_the_every_kth(criterion: str) -> None:
    rng = np.random.default_rng(2)
    learner = ClusterLearner(
        n_clusters=2, k_range=(2, 6), reservoir=1500, k_every=5, criterion=criterion, confirm=1
    )  # fmt: skip
    learn(learner, draw(list(AXES[:3]), 1500, rng)[0])
    s1, _ = learner.snapshot(None)  # snapshot 0 chooses
    learn(learner, draw(list(AXES[:4]), 1500, rng)[0])
    s2, _ = learner.snapshot(s1)  # snapshot 1 does not
    s3, _ = learner.snapshot(s2, choose=True)  # snapshot 2 is told to (an event-time epoch's)
    assert (s1.k, s2.k, s3.k) == (3, 3, 4)


def noisier(x: np.ndarray, truth: np.ndarray, factor: float) -> np.ndarray:
    """Each point moved ``factor`` times as far from its group's mean: the same groups, more noise."""
    means = np.array([x[truth == g].mean(axis=0) for g in range(truth.max() + 1)])
    return means[truth] + (x - means[truth]) * factor


def zscored(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def chosen(x: np.ndarray, criterion: str) -> tuple[ClusterSnapshot, ClusterLearner]:
    learner = ClusterLearner(n_clusters=5, k_range=(2, 10), criterion=criterion)
    learn(learner, x)
    return learner.snapshot(None)[0], learner


def test_prediction_strength_finds_the_groups_the_silhouette_merges() -> None:
    """Two populations where the silhouette can pick too few clusters (docs/QUALITY.md): six
    groups with 1.41 times their noise (it picks 5), and three blobs of which two are 12 sd
    apart and the third 25 sd from the first (2 or 3, with the subsample). sklearn's KMeans
    told the true count separates both."""
    rng = np.random.default_rng(7)
    x6, t6 = personas(6000, rng)
    x6 = zscored(noisier(x6, t6, 1.41))
    x3, t3 = draw([np.zeros(D), np.eye(D)[0] * 12, np.eye(D)[1] * 25], 4000, np.random.default_rng(1))
    for x, truth, k_true in ((x6, t6, 6), (x3, t3, 3)):
        told = KMeans(n_clusters=k_true, n_init=10, random_state=0).fit_predict(x)
        assert adjusted_rand_score(truth, told) >= 0.95
        by_strength, learner = chosen(x, "prediction_strength")
        assert (by_strength.k, by_strength.k_method) == (k_true, "prediction_strength")
        assert by_strength.k_score == learner.k_scores[k_true] >= 0.8
        assert all(v < 0.8 for k, v in learner.k_scores.items() if k > k_true)  # the largest count above 0.8
        assert adjusted_rand_score(truth, by_strength.assign(x)) >= 0.9
    by_silhouette, _ = chosen(x6, "silhouette")
    assert by_silhouette.k == 5


@pytest.mark.parametrize("k_true", [3, 4, 6])
def test_well_separated_blobs_are_predicted_whole_and_a_split_one_is_not(k_true: int) -> None:
    """Blobs 8 sd apart: clusters learned on one half put every pair of a blob of the other
    half together (strength 1); one cluster more splits some blob at random."""
    x, _ = draw(list(AXES[:k_true]), 2000, np.random.default_rng(k_true))
    assert prediction_strength(x, k_true, np.random.default_rng(0)) == 1.0
    assert prediction_strength(x, k_true + 1, np.random.default_rng(0)) < 0.8


@pytest.mark.parametrize(
    ("strengths", "current", "expected"),
    [
        ({2: 0.99, 3: 0.95, 4: 0.82, 5: 0.6}, None, 4),  # the largest count at 0.8 or above
        ({2: 0.99, 3: 0.95, 4: 0.82, 5: 0.6}, 3, 3),  # 4 is above 0.8 but not by the margin: 3 stays
        ({2: 0.99, 3: 0.95, 4: 0.86, 5: 0.6}, 3, 4),  # 4 is 0.06 above: it replaces 3
        ({2: 0.99, 3: 0.95, 4: 0.86, 5: 0.82}, 3, 4),  # up only to a count clearly above: not 5
        ({2: 0.99, 3: 0.95, 4: 0.86, 5: 0.9}, 3, 5),  # 5 clearly above too: the largest of them
        ({2: 0.99, 3: 0.95, 4: 0.76, 5: 0.6}, 4, 4),  # 4 fell below 0.8 by less than the margin: stays
        ({2: 0.99, 3: 0.95, 4: 0.74, 5: 0.6}, 4, 3),  # by more: the largest above 0.8
        ({2: 0.5, 3: 0.7, 4: 0.7}, None, 3),  # none reaches 0.8: the strongest, the smallest of equals
        ({2: 0.99, 3: 0.9}, 6, 3),  # a current count outside the scored ones: chosen afresh
    ],
)
def test_the_count_follows_the_strengths_with_hysteresis(
    strengths: dict[int, float], current: int | None, expected: int
) -> None:
    assert pick_by_strength(strengths, current) == expected
