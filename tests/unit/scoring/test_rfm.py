"""The columnar RFM naming rules at their boundaries (hand-picked days)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from segstream.models.rfm import CN8_SEGMENTS, FixedRFMScorer, MeanRFMScorer, QuintileRFMScorer, RFMSnapshot
from segstream.scoring.rfm import keep_within_margins, recency_band, score_range, score_rfm, segment_codes

DAY = 86_400_000_000


def test_a_purchase_exactly_churn_days_ago_is_named_with_r_1_and_one_at_risk_days_ago_with_at_most_2() -> None:
    # at_risk 45, churn 90: days since the last purchase 44.99, 45, 89.99, 90 and 120
    now = 200 * DAY
    last = now - np.array([44.99 * DAY, 45 * DAY, 89.99 * DAY, 90 * DAY, 120 * DAY], dtype=np.int64)
    c = SimpleNamespace(now=np.full(5, now), p_last=last)
    assert recency_band(c, np.array([1, 5, 5, 5, 5]), at_risk_days=45, churn_days=90).tolist() == [3, 2, 2, 1, 1]
    assert recency_band(c, np.array([1, 1, 1, 1, 1]), 45, 90, binary=True).tolist() == [1, 1, 1, 0, 0]


def cols(days_since_epoch: list[float], counts: list[int], spend: list[int], now_day: float = 100.0) -> SimpleNamespace:
    last = np.array([round(d * DAY) for d in days_since_epoch], dtype=np.int64)
    return SimpleNamespace(
        now=np.full(len(last), round(now_day * DAY), dtype=np.int64),
        p_last=last,
        p_count=np.array(counts, dtype=np.int64),
        p_spend=np.array(spend, dtype=np.int64),
    )


SNAP = RFMSnapshot(
    version=1, customers=100, last_day_cuts=[10.0, 20.0, 30.5, 40.0], f_edges=[1.0, 2.0, 4.0, 8.0],
    m_edges=[100.0, 200.0, 400.0, 800.0], mean_last_day=50.0, mean_f=3.0, mean_m=300.0,
)  # fmt: skip


def test_quintile_score_ranges_move_each_edge_by_the_margin_against_and_for_the_customer() -> None:
    # last purchase on day 27.8 (day 27 counted), 3 and 5 purchases, spend 450; margins 3 days and 25%:
    # R: cuts + 3 = 13, 23, 33.5, 43 -> two above 27 -> R 3; cuts - 3 = 7, 17, 27.5, 37 -> two -> R 3
    # F (count > edge), edges x 1.25 = 1.25, 2.5, 5, 10: 3 and 5 pass two (5 > 5 is not) -> F 3, 3;
    #   x 0.75 = 0.75, 1.5, 3, 6: 3 passes two (3 > 3 is not) -> F 3, 5 passes three -> F 4
    # M: x 1.25 = 125, 250, 500, 1000 -> 450: M 3; x 0.75 = 75, 150, 300, 600 -> M 4
    c = cols([27.8, 27.8], [3, 5], [450, 450])
    r_lo, r_hi, f_lo, f_hi, m_lo, m_hi = score_range(c, QuintileRFMScorer(SNAP), margin=0.25, margin_days=3.0)
    assert (r_lo.tolist(), r_hi.tolist()) == ([3, 3], [3, 3])
    assert (f_lo.tolist(), f_hi.tolist()) == ([3, 3], [3, 4])
    assert (m_lo.tolist(), m_hi.tolist()) == ([3, 3], [4, 4])
    # day 28: cuts - 3 leaves only 37 above it -> R 4 at best
    r_lo, r_hi, *_ = score_range(cols([28.0], [1], [1]), QuintileRFMScorer(SNAP), margin=0.25, margin_days=3.0)
    assert (r_lo.tolist(), r_hi.tolist()) == ([3], [4])


def test_mean_score_ranges_are_strictly_above_the_mean_moved_by_the_margin() -> None:
    # mean last day 50 +- 3: above 53 at worst, above 47 at best; days 47, 50 and 53.9 (53 counted)
    c = cols([47.0, 50.0, 53.9], [4, 3, 2], [380, 300, 220])
    r_lo, r_hi, f_lo, f_hi, m_lo, m_hi = score_range(c, MeanRFMScorer(SNAP), margin=0.25, margin_days=3.0)
    assert (r_lo.tolist(), r_hi.tolist()) == ([0, 0, 0], [0, 1, 1])
    # count > 3 x 1.25 = 3.75 at worst, > 2.25 at best; spend > 375 at worst, > 225 at best
    assert (f_lo.tolist(), f_hi.tolist()) == ([1, 0, 0], [1, 1, 0])
    assert (m_lo.tolist(), m_hi.tolist()) == ([1, 0, 0], [1, 1, 0])


def test_fixed_score_ranges_move_the_recency_days_and_the_thresholds() -> None:
    # 55 days since the last purchase against 30, 60, 120, 240 days: at worst (each 10 days
    # sooner: 20, 50, 110, 230) two passed -> R 3; at best (40, 70, 130, 250) one -> R 4.
    # 4 purchases (count >= threshold) against 2, 3, 5, 10: x 1.25 = 2.5, 3.75, ... -> F 3;
    # x 0.75 = 1.5, 2.25, 3.75, 7.5 -> F 4
    scorer = FixedRFMScorer(recency_days=(30, 60, 120, 240), frequency=(2, 3, 5, 10), monetary=(100, 200, 400, 800))
    c = cols([45.0], [4], [400])
    r_lo, r_hi, f_lo, f_hi, m_lo, m_hi = score_range(c, scorer, margin=0.25, margin_days=10.0)
    assert (r_lo.tolist(), r_hi.tolist(), f_lo.tolist(), f_hi.tolist()) == ([3], [4], [3], [4])
    assert (m_lo.tolist(), m_hi.tolist()) == ([3], [4])  # 400 >= 125, 250 but not 500; >= 75, 150, 300


def test_a_stored_segment_any_corner_still_names_is_kept() -> None:
    new = np.array(["loyal", "loyal"], dtype=object)
    stored = np.array(["champions", "champions"], dtype=object)
    corners = [np.array(["champions", "loyal"], dtype=object), np.array(["loyal", "loyal"], dtype=object)]
    assert keep_within_margins(new, stored, corners).tolist() == ["champions", "loyal"]


def test_segment_codes_are_the_eleven_segment_table_unless_binary() -> None:
    one = np.array([5]), np.array([5]), np.array([5])
    assert segment_codes(*one).tolist() == ["champions"]
    assert segment_codes(np.array([1]), np.array([1]), np.array([1]), binary=True).tolist() == [CN8_SEGMENTS[(1, 1, 1)]]


def test_scores_count_whole_days_and_the_mean_scorer_needs_strictly_more_than_the_mean() -> None:
    # last purchase on day 30.7: day 30 is below the cut 30.5, so two cuts (30.5, 40) are
    # above it -> R 3 (day 30.7 itself would pass 30.5 -> R 4)
    r, _, _, _ = score_rfm(cols([30.7], [1], [1]), QuintileRFMScorer(SNAP))
    assert r.tolist() == [3]
    # cn8 against the means (last day 50, 3 purchases, 300 spend): day 50.5 counts as day 50,
    # exactly the mean is not above it -> (0, 0, 0); one more of each -> (1, 1, 1)
    r, f, m, seg = score_rfm(cols([50.5, 51.0], [3, 4], [300, 301]), MeanRFMScorer(SNAP))
    assert (r.tolist(), f.tolist(), m.tolist()) == ([0, 1], [0, 1], [0, 1])
    assert seg.tolist() == [CN8_SEGMENTS[(0, 0, 0)], CN8_SEGMENTS[(1, 1, 1)]]
