from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from segstream.models.quantiles import bucket
from segstream.models.rfm import (
    CN8_SEGMENTS,
    RFM_METRICS,
    RFM_SEGMENTS,
    US_PER_DAY,
    FixedRFMScorer,
    MeanRFMScorer,
    PurchaseSummary,
    QuintileRFMScorer,
    RFMSnapshot,
    segment_of,
)


def summary(*purchases: tuple[float, int]) -> PurchaseSummary:
    s = PurchaseSummary()
    for day, cents in purchases:
        s = s.add(int(day * US_PER_DAY), cents)
    return s


def test_summary_counts_sums_and_keeps_first_and_last_time() -> None:
    s = summary((3, 1000), (1, 250), (7, 5))
    assert (s.count, s.spend_minor) == (3, 1255)
    assert (s.first_us, s.last_us) == (1 * US_PER_DAY, 7 * US_PER_DAY)


def test_summary_is_order_independent() -> None:
    events = [(5, 100), (2, 200), (9, 300), (1, 400)]
    results = {summary(*perm) for perm in itertools.permutations(events)}
    assert len(results) == 1


def test_rfm_score_drops_as_recency_grows() -> None:
    scorer = FixedRFMScorer()
    s = summary((0, 1000))
    rs = [scorer.score_one(s, int(d * US_PER_DAY)).r for d in (0, 30, 30.01, 60, 61, 120, 121, 240, 241, 5000)]
    assert rs == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


@pytest.mark.parametrize(("count", "f"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (50, 5)])
def test_frequency_score_thresholds(count: int, f: int) -> None:
    s = summary(*[(0, 1)] * count)
    assert FixedRFMScorer().score_one(s, 0).f == f


@pytest.mark.parametrize(
    ("cents", "m"), [(0, 1), (4_999, 1), (5_000, 2), (10_000, 3), (25_000, 4), (49_999, 4), (50_000, 5)]
)
def test_monetary_score_thresholds(cents: int, m: int) -> None:
    assert FixedRFMScorer().score_one(summary((0, cents)), 0).m == m


def test_every_score_pair_has_exactly_one_segment_and_all_eleven_are_used() -> None:
    used = {segment_of(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert used == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 11


@pytest.mark.parametrize(
    ("r", "fm", "segment"),
    [
        (5, 5, "champions"),
        (4, 4, "champions"),
        (5, 3, "loyal"),
        (3, 3, "loyal"),
        (3, 5, "loyal"),
        (5, 2, "potential_loyalist"),
        (4, 2, "potential_loyalist"),
        (5, 1, "new"),
        (4, 1, "promising"),
        (3, 2, "need_attention"),
        (3, 1, "about_to_sleep"),
        (2, 3, "at_risk"),
        (2, 5, "at_risk"),
        (1, 3, "at_risk"),
        (1, 4, "cannot_lose_them"),
        (1, 5, "cannot_lose_them"),
        (2, 2, "hibernating"),
        (2, 1, "hibernating"),
        (1, 2, "lost"),
        (1, 1, "lost"),
    ],
)
def test_segment_boundaries(r: int, fm: int, segment: str) -> None:
    assert segment_of(r, fm) == segment


@pytest.mark.parametrize(("r", "fm"), [(0, 3), (6, 3), (3, 0), (3, 6)])
def test_segment_of_rejects_scores_outside_one_to_five(r: int, fm: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        segment_of(r, fm)


def test_scorer_rejects_unsorted_thresholds_and_customers_without_purchases() -> None:
    with pytest.raises(ValueError, match="ascending"):
        FixedRFMScorer(recency_days=(60, 30, 120, 240))
    with pytest.raises(ValueError, match="without purchases"):
        FixedRFMScorer().score_one(PurchaseSummary(), 0)


# ----------------------------------------------------------------- population-relative scoring

NOW_DAY = 20_000  # "now" is midnight of this day (days since the epoch)


def population(seed: int, n: int) -> list[PurchaseSummary]:
    """``n`` customers with whole-day purchase times, few ties and spend in the exact range."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        last_day = NOW_DAY - rng.randint(0, 400)
        count = rng.randint(1, 60)
        first_day = last_day - rng.randint(0, 300) if count > 1 else last_day
        spend = rng.randint(100, 999_999)
        out.append(PurchaseSummary(first_day * US_PER_DAY, last_day * US_PER_DAY, count, spend))
    return out


def histograms(summaries: list[PurchaseSummary]) -> dict[str, dict[int, int]]:
    hists: dict[str, dict[int, int]] = {name: {} for name, _ in RFM_METRICS}
    exact = dict(RFM_METRICS)
    for s in summaries:
        values = {"l": s.last_us // US_PER_DAY, "f": s.count, "m": s.spend_minor}
        for name, value in values.items():
            b = bucket(value, exact[name])
            hists[name][b] = hists[name].get(b, 0) + 1
    return hists


def snapshot_of(summaries: list[PurchaseSummary]) -> RFMSnapshot:
    return RFMSnapshot.from_histograms(1, histograms(summaries))


@pytest.mark.parametrize(("seed", "n"), [(1, 20), (2, 101), (3, 137), (4, 500), (5, 1000)])
def test_quintile_scores_equal_pandas_qcut_of_the_population(seed: int, n: int) -> None:
    summaries = population(seed, n)
    scorer = QuintileRFMScorer(snapshot_of(summaries))
    recency = [NOW_DAY - s.last_us // US_PER_DAY for s in summaries]
    expected_r = pd.qcut(recency, 5, labels=[5, 4, 3, 2, 1]).astype(int)
    expected_f = pd.qcut([s.count for s in summaries], 5, labels=[1, 2, 3, 4, 5]).astype(int)
    expected_m = pd.qcut([s.spend_minor for s in summaries], 5, labels=[1, 2, 3, 4, 5]).astype(int)
    scores = [scorer.score_one(s, NOW_DAY * US_PER_DAY) for s in summaries]
    assert [sc.r for sc in scores] == list(expected_r)
    assert [sc.f for sc in scores] == list(expected_f)
    assert [sc.m for sc in scores] == list(expected_m)
    for sc in scores:
        assert sc.segment == segment_of(sc.r, (sc.f + sc.m + 1) // 2)


def test_quintile_scores_use_all_five_scores_on_a_spread_population() -> None:
    scorer = QuintileRFMScorer(snapshot_of(population(6, 300)))
    scores = [scorer.score_one(s, NOW_DAY * US_PER_DAY) for s in population(6, 300)]
    for attr in ("r", "f", "m"):
        assert Counter(getattr(sc, attr) for sc in scores).keys() == {1, 2, 3, 4, 5}


def test_snapshot_from_histograms_has_the_population_quantiles_and_means() -> None:
    summaries = population(7, 250)
    snap = snapshot_of(summaries)
    last_days = [s.last_us // US_PER_DAY for s in summaries]
    counts = [s.count for s in summaries]
    spends = [s.spend_minor for s in summaries]
    assert (snap.version, snap.customers) == (1, 250)
    assert snap.last_day_cuts == pytest.approx(list(np.quantile(last_days, [0.8, 0.6, 0.4, 0.2])), rel=1e-12)
    assert snap.f_edges == pytest.approx(list(np.quantile(counts, [0.2, 0.4, 0.6, 0.8])), rel=1e-12)
    assert snap.m_edges == pytest.approx(list(np.quantile(spends, [0.2, 0.4, 0.6, 0.8])), rel=1e-12)
    assert snap.mean_last_day == pytest.approx(float(np.mean(last_days)), rel=1e-12)
    assert snap.mean_f == pytest.approx(float(np.mean(counts)), rel=1e-12)
    assert snap.mean_m == pytest.approx(float(np.mean(spends)), rel=1e-12)


def test_snapshot_of_an_empty_population_has_no_customers_and_nan_boundaries() -> None:
    snap = RFMSnapshot.from_histograms(3, {})
    assert (snap.version, snap.customers) == (3, 0)
    assert all(math.isnan(v) for v in [*snap.last_day_cuts, *snap.f_edges, *snap.m_edges, snap.mean_f])


def hand_snapshot() -> RFMSnapshot:
    return RFMSnapshot(
        version=1,
        customers=100,
        last_day_cuts=[50, 40, 30, 20],
        f_edges=[1, 2, 3, 5],
        m_edges=[1000, 2000, 5000, 9000],
        mean_last_day=35,
        mean_f=3,
        mean_m=4000,
    )


@pytest.mark.parametrize(("last_day", "r"), [(60, 5), (50, 5), (49, 4), (40, 4), (39, 3), (30, 3), (20, 2), (19, 1)])
def test_quintile_recency_score_is_five_from_the_most_recent_cut_and_drops_below_each(last_day: int, r: int) -> None:
    s = summary((last_day, 100))
    assert QuintileRFMScorer(hand_snapshot()).score_one(s, 70 * US_PER_DAY).r == r


def test_quintile_recency_is_scored_by_the_day_of_the_last_purchase() -> None:
    scorer = QuintileRFMScorer(hand_snapshot())
    assert scorer.score_one(summary((49.99, 100)), 70 * US_PER_DAY).r == 4
    assert scorer.score_one(summary((50.0, 100)), 70 * US_PER_DAY).r == 5
    assert scorer.score_one(summary((50.99, 100)), 70 * US_PER_DAY).r == 5


@pytest.mark.parametrize(("count", "f"), [(1, 1), (2, 2), (3, 3), (4, 4), (5, 4), (6, 5)])
def test_quintile_frequency_bins_are_right_closed_like_qcut(count: int, f: int) -> None:
    s = summary(*[(10, 1)] * count)
    assert QuintileRFMScorer(hand_snapshot()).score_one(s, 70 * US_PER_DAY).f == f


@pytest.mark.parametrize(("cents", "m"), [(0, 1), (1000, 1), (1001, 2), (2000, 2), (5000, 3), (9000, 4), (9001, 5)])
def test_quintile_monetary_bins_are_right_closed_like_qcut(cents: int, m: int) -> None:
    assert QuintileRFMScorer(hand_snapshot()).score_one(summary((10, cents)), 70 * US_PER_DAY).m == m


def test_population_scorers_reject_customers_without_purchases() -> None:
    for scorer in (QuintileRFMScorer(hand_snapshot()), MeanRFMScorer(hand_snapshot())):
        with pytest.raises(ValueError, match="without purchases"):
            scorer.score_one(PurchaseSummary(), 0)


@pytest.mark.parametrize(
    ("last_day", "count", "cents", "rfm", "segment"),
    [
        (36, 4, 4001, (1, 1, 1), "important_value"),
        (36, 3, 4001, (1, 0, 1), "important_development"),
        (35, 4, 4001, (0, 1, 1), "important_retention"),
        (35, 3, 4001, (0, 0, 1), "important_winback"),
        (36, 4, 4000, (1, 1, 0), "general_value"),
        (36, 3, 4000, (1, 0, 0), "general_development"),
        (35, 4, 4000, (0, 1, 0), "general_retention"),
        (35, 3, 4000, (0, 0, 0), "general_winback"),
    ],
)
def test_cn8_segment_of_each_high_low_combination_against_the_population_mean(
    last_day: int, count: int, cents: int, rfm: tuple[int, int, int], segment: str
) -> None:
    # means: last day 35, 3 purchases, 4000 cents; equal to the mean is low
    amounts = [cents] + [0] * (count - 1)
    s = summary(*[(last_day, a) for a in amounts])
    score = MeanRFMScorer(hand_snapshot()).score_one(s, 70 * US_PER_DAY)
    assert ((score.r, score.f, score.m), score.segment) == (rfm, segment)


def test_cn8_scores_agree_with_the_means_of_a_population() -> None:
    summaries = population(8, 300)
    scorer = MeanRFMScorer(snapshot_of(summaries))
    mean_day = np.mean([s.last_us // US_PER_DAY for s in summaries])
    mean_f, mean_m = np.mean([s.count for s in summaries]), np.mean([s.spend_minor for s in summaries])
    for s in summaries:
        score = scorer.score_one(s, NOW_DAY * US_PER_DAY)
        expected = (int(s.last_us // US_PER_DAY > mean_day), int(s.count > mean_f), int(s.spend_minor > mean_m))
        assert (score.r, score.f, score.m) == expected
        assert score.segment == CN8_SEGMENTS[expected]


def test_cn8_has_eight_segments() -> None:
    assert len(CN8_SEGMENTS) == 8
    assert set(CN8_SEGMENTS) == set(itertools.product((0, 1), repeat=3))
    assert len(set(CN8_SEGMENTS.values())) == 8
