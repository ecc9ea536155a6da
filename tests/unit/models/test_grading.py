"""Self-graded scores: labels from the stream, bounded memory, and the grades against a batch
computation (pandas, and segstream.evaluation.auc) over the same synthetic event log."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pandas as pd
import pytest

from segstream import evaluation
from segstream.models.decay import US_PER_DAY
from segstream.models.grading import ChurnGrader, Decile, Grades, auc, deciles

D = US_PER_DAY
H = 90 * D


def churn_of(grader: ChurnGrader, version: int = 1):  # type: ignore[no-untyped-def]
    return next(v for v in grader.report().versions if v.version == version).churn


def labels_by_hand(grader: ChurnGrader) -> list[tuple[float, int]]:
    """(score, label) of the graded predictions of version 1, from the deciles of one each."""
    return [(d.predicted, int(d.observed)) for d in churn_of(grader).deciles]


# --- labels -------------------------------------------------------------------------------


def test_active_at_half_horizon_is_0_silent_through_horizon_is_1() -> None:
    g = ChurnGrader(seed=1)
    assert g.record("active", 10 * D, 0.2, version=1)
    assert g.record("silent", 10 * D, 0.7, version=1)
    g.observe("active", 10 * D + H // 2)
    g.advance(10 * D + H + 1)
    assert sorted(labels_by_hand(g)) == [(0.2, 0), (0.7, 1)]
    c = churn_of(g)
    assert (c.n, c.positives, c.auc, c.graded_total) == (2, 1, 1.0, 2)


def test_window_is_open_left_closed_right() -> None:
    g = ChurnGrader(seed=1)
    for name in ("at_t", "at_end", "past_end"):
        score = {"at_t": 0.1, "at_end": 0.2, "past_end": 0.3}[name]
        assert g.record(name, 0, score, version=1, expected_purchases=1.0, expected_spend_minor=10.0)
    g.observe("at_t", 0, spend_minor=1)  # the event the score was made at: not after
    g.observe("at_end", H, spend_minor=20)  # t + H itself is in (t, t + H]
    g.observe("past_end", H + 1, spend_minor=300)
    g.advance(H)  # the window has not passed yet: t + H < now is needed
    assert g.report().versions == [] and g.pending == 3
    g.advance(H + 2)
    assert sorted(labels_by_hand(g)) == [(0.1, 1), (0.2, 0), (0.3, 1)]
    value = g.report().versions[0].value
    assert (value.predicted_minor, value.realised_minor, value.mae_minor) == (30.0, 20, 10.0)


def test_unresolved_predictions_are_not_counted() -> None:
    g = ChurnGrader(seed=1)
    g.record("early", 0, 0.5, version=1)
    g.record("late", 50 * D, 0.5, version=1)
    g.advance(H + D)
    assert churn_of(g).n == 1 and g.pending == 1
    g.advance(50 * D + H + D)
    assert churn_of(g).n == 2 and g.pending == 0


def test_out_of_order_activity_before_the_prediction_is_not_after() -> None:
    g = ChurnGrader(seed=1)
    g.record("c", 30 * D, 0.4, version=1)
    g.observe("c", 20 * D, spend_minor=500)  # an event older than the prediction, arriving late
    g.advance(30 * D + H + 1)
    assert labels_by_hand(g) == [(0.4, 1)]
    assert g.report().versions[0].value.n == 0  # no value predicted


def test_inactive_events_add_spend_but_not_activity() -> None:
    g = ChurnGrader(seed=1)
    g.record("c", 0, 0.4, version=1, expected_purchases=1.0, expected_spend_minor=300.0)
    g.observe("c", 5 * D, spend_minor=100, active=False)
    g.advance(H + 1)
    v = g.report().versions[0]
    assert labels_by_hand(g) == [(0.4, 1)]
    assert (v.value.n, v.value.predicted_minor, v.value.realised_minor, v.value.mae_minor) == (1, 300.0, 100, 200.0)
    assert v.value.ratio == pytest.approx(1 / 3)


def test_one_pending_prediction_per_customer_per_sample_interval() -> None:
    g = ChurnGrader(sample_every_days=7, seed=1)
    kept = [g.record("c", day * D, 0.5, version=1) for day in (0, 3, 7, 10, 13, 14, 6)]
    assert kept == [True, False, True, False, False, True, False]
    assert g.pending == 3
    with pytest.raises(ValueError, match="score"):
        g.record("d", 0, 1.5, version=1)
    g.advance(200 * D)
    assert not g.record("e", 100 * D, 0.5, version=1)  # its window has already passed


def test_versions_are_graded_apart_and_the_oldest_dropped() -> None:
    g = ChurnGrader(max_versions=2, seed=1)
    for i in range(20):
        g.record(f"a{i}", 0, 0.9 if i % 2 else 0.1, version=1)  # perfect ranking
        g.record(f"b{i}", 0, 0.1 if i % 2 else 0.9, version=2)  # reversed
        for c in (f"a{i}", f"b{i}"):
            if i % 2 == 0:
                g.observe(c, D)
    g.advance(H + 2)
    grades = {v.version: v.churn for v in g.report().versions}
    assert (grades[1].n, grades[1].auc, grades[2].n, grades[2].auc) == (20, 1.0, 20, 0.0)
    g.record("c", H + 2, 0.5, version=3)
    g.advance(2 * H + 3)
    assert [v.version for v in g.report().versions] == [2, 3]


def test_window_keeps_the_last_graded_predictions() -> None:
    g = ChurnGrader(window=3, seed=1)
    for i in range(5):
        g.record(f"c{i}", i * D, 0.1 * (i + 1), version=1)
    g.advance(10 * D + H)
    c = churn_of(g)
    assert (c.n, c.graded_total) == (3, 5)
    assert [d.predicted for d in c.deciles] == pytest.approx([0.3, 0.4, 0.5])


# --- bounded memory and persistence ---------------------------------------------------------


def test_memory_stays_bounded_on_100k_customers() -> None:
    g = ChurnGrader(max_pending=1000, seed=3)
    largest = 0
    for i in range(100_000):
        g.record(f"customer-{i}", i * 1000, 0.5, version=1)
        if i % 1000 == 0:
            largest = max(largest, g.pending)
    assert max(largest, g.pending) <= 1000 and g.pending > 250
    assert 1000 / 100_000 / 2 <= g.sample_rate <= 1000 / 100_000 * 2
    assert all(g._u(c) < g.sample_rate for c in g._by_customer)  # only sampled customers pending
    g.advance(100_000 * 1000 + H + 1)
    assert g.pending == 0 and churn_of(g).n <= 1000 and g.sample_rate > 1000 / 100_000


def test_sampled_customers_are_followed_through() -> None:
    """A customer kept stays kept (the same hash), so its later predictions are recorded too."""
    g = ChurnGrader(max_pending=50, sample_every_days=1, seed=5)
    customers = [f"c{i}" for i in range(200)]
    for day in range(3):
        for c in customers:
            g.record(c, day * D, 0.5, version=1)
    counts = [len(ps) for ps in g._by_customer.values()]
    assert g.pending <= 50 and counts and min(counts) >= 2
    tiny = ChurnGrader(max_pending=3, seed=5)
    for c in customers:
        tiny.record(c, 0, 0.5, version=1)  # the one that makes the rate halve may fall outside
        assert tiny.pending <= 3 and all(tiny._u(k) < tiny.sample_rate for k in tiny._by_customer)


def test_round_trip_gives_the_same_report_and_carries_on() -> None:
    g = ChurnGrader(horizon_days=30, max_pending=300, window=500, seed=9)
    rng = np.random.default_rng(9)
    events = sorted((int(rng.uniform(0, 120) * D), f"c{rng.integers(400)}", rng.uniform()) for _ in range(3000))
    half = len(events) // 2
    for t, c, u in events[:half]:
        g.advance(t)
        g.record(c, t, u, version=1 + t // (40 * D), expected_purchases=u, expected_spend_minor=1000.0)
        g.observe(c, t, spend_minor=int(u * 500), active=u > 0.3)
    restored = ChurnGrader.from_bytes(g.to_bytes())
    assert restored.report() == g.report() and restored.pending == g.pending > 0
    assert (restored.horizon_days, restored.max_pending, restored.window, restored.seed) == (30, 300, 500, 9)
    for grader in (g, restored):
        for t, c, u in events[half:]:
            grader.advance(t)
            grader.record(c, t, u, version=1 + t // (40 * D), expected_purchases=u, expected_spend_minor=1000.0)
            grader.observe(c, t, spend_minor=int(u * 500), active=u > 0.3)
        grader.advance(200 * D)
    assert restored.report() == g.report() and len(g.report().versions) == 3
    assert restored.to_bytes() == ChurnGrader.from_bytes(restored.to_bytes()).to_bytes()
    published = msgspec.msgpack.encode(g.report())
    assert msgspec.msgpack.decode(published, type=Grades) == g.report()


# --- the numbers: by hand, and against a batch computation --------------------------------


def test_auc_matches_the_evaluation_reference_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 300)
        s = np.round(rng.uniform(size=300) + 0.3 * y, 1)  # many ties
        assert auc(y, s) == pytest.approx(evaluation.auc(y, s), abs=1e-12)
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.9]) == 0.75  # 1 + 1/2 + 1/2 + 1 of 4 pairs


def test_deciles_lift_and_calibration_by_hand() -> None:
    """20 predictions, two per decile: scores 0.05..1.0; churned: the top 4 and one of decile 0."""
    g = ChurnGrader(min_calibration=20, seed=1)
    churned = {0, 16, 17, 18, 19}
    for i in range(20):
        g.record(f"c{i}", 0, (i + 1) / 20, version=1)
        if i not in churned:
            g.observe(f"c{i}", D)
    g.advance(H + 1)
    c = churn_of(g)
    assert [d.n for d in c.deciles] == [2] * 10
    assert c.deciles[0].predicted == pytest.approx(0.075) and c.deciles[0].observed == 0.5
    assert c.deciles[9].predicted == pytest.approx(0.975) and c.deciles[9].observed == 1.0
    assert c.lift_top_decile == pytest.approx(1.0 / (5 / 20))
    # decile 7 (scores 0.75, 0.8) churned none: |0.775 - 0| is the largest gap
    assert c.max_calibration_gap == pytest.approx(0.775) and c.calibrated is False
    assert c.auc == pytest.approx(evaluation.auc([int(i in churned) for i in range(20)], np.arange(1, 21)))


def test_calibrated_needs_enough_predictions() -> None:
    g = ChurnGrader(min_calibration=100, seed=1)
    for i in range(50):
        g.record(f"c{i}", 0, 0.5, version=1)
        if i % 2:
            g.observe(f"c{i}", D)
    g.advance(H + 1)
    c = churn_of(g)
    # one tie group: one decile, and no top decile to speak of
    assert [(d.predicted, d.observed, d.n) for d in c.deciles] == [(0.5, 0.5, 50)]
    assert c.max_calibration_gap == 0.0 and c.calibrated is None and c.lift_top_decile is None


def rows(table: list[Decile]) -> np.ndarray:
    return np.array([(d.predicted, d.observed, d.n) for d in table], dtype=float)


def synthetic_log(customers: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events (customer, t_us, spend_minor) of customers who use and buy at their own rate
    until they churn at an exponential time, and weekly predictions (customer, t_us, score,
    version, expected purchases, expected spend) that see how long each has been silent."""
    rng = np.random.default_rng(seed)
    events, preds = [], []
    for i in range(customers):
        propensity = rng.uniform(0.05, 0.95)
        rate = rng.uniform(0.03, 0.3)  # events a day while alive
        end = min(days, rng.exponential(120 / propensity))
        times = np.sort(rng.uniform(0, end, rng.poisson(rate * end))) * D
        spend = np.where(rng.uniform(size=len(times)) < 0.3, rng.integers(500, 5000, len(times)), 0)
        events += [(f"c{i}", int(t), int(s)) for t, s in zip(times, spend, strict=True)]
        for t in np.arange(rng.uniform(0, 7), days, 7) * D:
            seen = times[times <= t]
            silent = (t - (seen[-1] if len(seen) else 0)) / D
            score = float(np.clip(0.4 * propensity + 0.6 * (1 - math.exp(-silent / 30)), 0, 1))
            preds.append((f"c{i}", int(t), round(score, 3), 1 + int(t // (60 * D)), rate * 90 * 0.3, 2750.0))
    ev = pd.DataFrame(events, columns=["customer", "t_us", "spend_minor"])
    pr = pd.DataFrame(preds, columns=["customer", "t_us", "score", "version", "purchases", "spend"])
    return ev, pr


def test_grades_equal_a_batch_computation_over_the_same_log() -> None:
    events, preds = synthetic_log(customers=400, days=240, seed=11)
    end_us = 240 * D
    # stream: everything in event-time order through the grader
    stream = pd.concat([preds.assign(kind=0), events.assign(kind=1)]).sort_values(["t_us", "kind"], kind="stable")
    g = ChurnGrader(window=10**6, max_pending=10**6, seed=11)
    kept = 0
    for row in stream.itertuples(index=False):
        g.advance(row.t_us)
        if row.kind == 0:
            kept += g.record(row.customer, row.t_us, row.score, row.version, row.purchases, row.spend)
        else:
            g.observe(row.customer, row.t_us, spend_minor=row.spend_minor)
    g.advance(end_us)
    assert kept == len(preds)

    # batch: per prediction, the customer's events in (t, t + H]
    preds = preds.reset_index(names="pred")
    pairs = preds.merge(events, on="customer", suffixes=("", "_event"))
    after = pairs[(pairs.t_us_event > pairs.t_us) & (pairs.t_us_event <= pairs.t_us + H)]
    preds["label"] = (~preds.pred.isin(after.pred)).astype(int)
    preds["realised"] = preds.pred.map(after.groupby("pred").spend_minor.sum()).fillna(0)
    preds["value"] = preds.purchases * preds.spend
    graded = preds[preds.t_us + H < end_us]

    report = {v.version: v for v in g.report().versions}
    assert sorted(report) == sorted(graded.version.unique())
    for version, batch in graded.groupby("version"):
        got = report[version]
        decile = (batch.score.rank(method="min") - 1).mul(10).floordiv(len(batch)).astype(int)
        table = batch.groupby(decile).agg(predicted=("score", "mean"), observed=("label", "mean"), n=("label", "size"))
        lift = batch.label[decile == 9].mean() / batch.label.mean()
        assert (got.churn.n, got.churn.positives) == (len(batch), batch.label.sum())
        assert got.churn.auc == pytest.approx(evaluation.auc(batch.label, batch.score), abs=1e-12)
        assert got.churn.lift_top_decile == pytest.approx(lift)
        np.testing.assert_allclose(rows(got.churn.deciles), table.to_numpy(dtype=float), rtol=1e-12)
        gap = (table.predicted - table.observed).abs().max()
        assert got.churn.max_calibration_gap == pytest.approx(gap)
        assert got.churn.calibrated == (gap <= 0.1)
        v = got.value
        assert (v.n, v.realised_minor) == (len(batch), batch.realised.sum())
        assert v.predicted_minor == pytest.approx(batch.value.sum())
        assert v.mae_minor == pytest.approx((batch.value - batch.realised).abs().mean())
        assert v.correlation == pytest.approx(batch.value.corr(batch.realised))
        assert v.ratio == pytest.approx(batch.realised.sum() / batch.value.sum())
        vdec = (batch.value.rank(method="min") - 1).mul(10).floordiv(len(batch)).astype(int)
        vtable = batch.groupby(vdec).agg(p=("value", "mean"), o=("realised", "mean"), n=("value", "size"))
        np.testing.assert_allclose(rows(v.deciles), vtable.to_numpy(dtype=float), rtol=1e-12)
    # the log is not degenerate: both labels, a ranking better than chance
    assert 0.1 < graded.label.mean() < 0.9 and all(v.churn.auc > 0.6 for v in report.values())


def test_deciles_of_few_predictions_leave_empty_ones_out() -> None:
    assert [d.n for d in deciles([0.3, 0.1, 0.2], [1, 0, 0])] == [1, 1, 1]
    assert [d.n for d in deciles([0.1, 0.2, 0.2, 0.2, 0.3], [0] * 5)] == [1, 3, 1]  # deciles 0, 2, 8
    assert deciles([], []) == []


def test_defaults_bound_the_pending_predictions_to_60_000_and_the_window_to_20_000() -> None:
    g = ChurnGrader()  # docs/QUALITY.md: the worker's memory within 300 MB (docs/BENCHMARKS.md)
    assert (g.horizon_days, g.sample_every_days, g.max_pending, g.window) == (90.0, 7.0, 60_000, 20_000)


def test_predictions_of_one_instant_are_graded_in_the_order_they_were_made() -> None:
    g = ChurnGrader(horizon_days=1, sample_every_days=0, seed=1)
    for i in range(5):
        assert g.record("c", -3 * US_PER_DAY, i / 10, version=1)  # before 1970, all at once
    g.advance(0)
    assert list(g._versions[1].scores) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert g.pending == 0 and not g._by_customer
