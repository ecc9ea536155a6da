"""Quantiles and mean from a bucketed histogram, checked against numpy."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from segstream.models.quantiles import bucket, bucket_bounds, mean, quantiles

EXACT_UP_TO = 1000


def histogram(values: Sequence[int], exact_up_to: int = EXACT_UP_TO) -> dict[int, int]:
    return dict(Counter(bucket(v, exact_up_to) for v in values))


small_ints = st.lists(st.integers(min_value=0, max_value=EXACT_UP_TO), min_size=1, max_size=200)
tied_ints = st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=200)
probs = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(values=small_ints | tied_ints, ps=probs)
@example(values=[24, 323], ps=[0.6])
@example(values=[1, 1, 1, 2, 2, 3, 5, 8, 13, 40], ps=[0.2, 0.4, 0.6, 0.8])
def test_quantiles_of_exact_buckets_equal_numpy_linear_quantiles(values: list[int], ps: list[float]) -> None:
    expected = np.quantile(values, ps, method="linear").tolist()
    assert quantiles(histogram(values), ps, EXACT_UP_TO) == expected


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(min_value=EXACT_UP_TO + 1, max_value=10**12), min_size=1, max_size=200),
    ps=probs,
)
def test_quantiles_of_large_values_are_within_a_tenth_of_a_percent(values: list[int], ps: list[float]) -> None:
    got = quantiles(histogram(values), ps, EXACT_UP_TO)
    for g, e in zip(got, np.quantile(values, ps), strict=True):
        assert g == pytest.approx(e, rel=1e-3)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=200),
    ps=probs,
)
def test_quantiles_of_mixed_exact_and_large_values_are_within_a_tenth_of_a_percent(
    values: list[int], ps: list[float]
) -> None:
    got = quantiles(histogram(values), ps, EXACT_UP_TO)
    for g, e in zip(got, np.quantile(values, ps), strict=True):
        assert g == pytest.approx(e, rel=1e-3)


def test_values_up_to_exact_up_to_get_one_bucket_each_and_larger_ones_share_log_buckets() -> None:
    assert [bucket(v, 10) for v in (0, 1, 10)] == [0, 1, 10]
    assert bucket(11, 10) > 10
    big = 10**9
    assert bucket(big, 10) == bucket(big + 100, 10)  # 1e-7 apart: same 0.1% bucket
    assert bucket(big, 10) < bucket(int(big * 1.002), 10)


@pytest.mark.parametrize("value", [1001, 1500, 123_456, 10**9, 10**12])
def test_a_large_value_lies_in_its_bucket_and_the_bucket_is_a_tenth_of_a_percent_wide(value: int) -> None:
    lo, hi = bucket_bounds(bucket(value, EXACT_UP_TO), EXACT_UP_TO)
    assert lo <= value < hi
    assert (hi - lo) / lo < 1.0011e-3


def test_exact_bucket_bounds_are_the_value_itself() -> None:
    assert bucket_bounds(7, EXACT_UP_TO) == (7.0, 7.0)
    assert bucket_bounds(EXACT_UP_TO, EXACT_UP_TO) == (float(EXACT_UP_TO), float(EXACT_UP_TO))


def test_zero_counts_are_ignored() -> None:
    hist = {**histogram([3, 5, 9]), 7: 0, 100: 0}
    assert quantiles(hist, [0.0, 0.5, 1.0], EXACT_UP_TO) == [3.0, 5.0, 9.0]
    assert mean(hist, EXACT_UP_TO) == pytest.approx(17 / 3, rel=1e-15)


@settings(max_examples=200, deadline=None)
@given(values=small_ints | tied_ints)
def test_mean_of_exact_buckets_equals_numpy_mean(values: list[int]) -> None:
    assert mean(histogram(values), EXACT_UP_TO) == pytest.approx(float(np.mean(values)), rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=200))
def test_mean_of_large_values_is_within_a_tenth_of_a_percent(values: list[int]) -> None:
    assert mean(histogram(values), EXACT_UP_TO) == pytest.approx(float(np.mean(values)), rel=1e-3)


def test_hand_computed_mean_and_quantiles_with_ties() -> None:
    hist = histogram([2, 2, 2, 4, 10])
    assert mean(hist, EXACT_UP_TO) == 4.0
    # sorted: 2 2 2 4 10; p=0.75 -> rank 3.0 -> 4; p=0.9 -> rank 3.6 -> 4 + 0.6 * 6
    assert quantiles(hist, [0.0, 0.5, 0.75, 0.9, 1.0], EXACT_UP_TO) == pytest.approx(
        [2.0, 2.0, 4.0, 7.6, 10.0], rel=1e-15
    )


@pytest.mark.parametrize("hist", [{}, {3: 0, 5: 0}])
def test_empty_histogram_gives_nan(hist: dict[int, int]) -> None:
    assert all(math.isnan(q) for q in quantiles(hist, [0.0, 0.5, 1.0], EXACT_UP_TO))
    assert len(quantiles(hist, [0.2, 0.4], EXACT_UP_TO)) == 2
    assert math.isnan(mean(hist, EXACT_UP_TO))
