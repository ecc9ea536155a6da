"""The batch references' helpers, checked against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from segstream.evaluation import fewest_moves


def frontier(reference: np.ndarray, segments: int) -> list[int]:
    """Fewest moves with at most d disagreements, for every d: every path of every customer
    enumerated, the customers combined exactly."""
    steps = reference.shape[1]
    total = [0]  # total[d]: fewest moves with exactly-at-most d disagreements so far
    for row in reference:
        first = int(np.argmax(row >= 0)) if (row >= 0).any() else steps
        own = [math.inf] * (steps + 1)
        for path in itertools.product(range(segments), repeat=steps - first):
            moves = sum(a != b for a, b in itertools.pairwise(path))
            dis = sum(p != r for p, r in zip(path, row[first:], strict=True))
            own[dis] = min(own[dis], moves)
        combined = [math.inf] * (len(total) + steps)
        for d1, m1 in enumerate(total):
            for d2, m2 in enumerate(own):
                combined[d1 + d2] = min(combined[d1 + d2], m1 + m2)
        total = list(itertools.accumulate(combined, min))
    return [int(m) for m in total]


def hull(front: list[int], budget: int) -> float:
    """The lower convex envelope of the frontier at ``budget``."""
    best = float(front[min(budget, len(front) - 1)])
    for d1, d2 in itertools.product(range(len(front)), repeat=2):
        if d1 < budget < d2:
            best = min(best, front[d1] + (front[d2] - front[d1]) * (budget - d1) / (d2 - d1))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_fewest_moves_is_the_dual_bound_of_the_exact_frontier(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 3, size=(3, 5))
    ref[0, : rng.integers(0, 3)] = -1  # a customer who enters late
    front = frontier(ref, 3)
    for budget in range(len(front)):
        got = fewest_moves(ref, budget)
        assert got <= front[budget]  # a bound: no assignment does better
        assert got == math.ceil(hull(front, budget) - 1e-6)  # and the best a dual bound gives


def test_a_customer_without_moves_costs_nothing() -> None:
    assert fewest_moves(np.array([[1, 1, 1], [-1, 0, 0]]), 0) == 0


def test_following_the_reference_exactly_makes_all_its_moves() -> None:
    ref = np.array([[0, 1, 2, 1, 0, 0, 3], [-1, -1, 2, 0, 0, 1, 1]])
    assert fewest_moves(ref, 0) == 5 + 2
