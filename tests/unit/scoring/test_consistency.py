"""No customer shows a combination of segments from the table of contradictions
(docs/SEGMENTS.md), on simulated populations of several shapes, after every daily sweep."""

from __future__ import annotations

from collections import Counter

import pytest

from segstream.models.lifecycle import LifecycleModel
from segstream.models.value import ValueModel
from segstream.scoring.consistency import CONTRADICTIONS, contradictions
from segstream.scoring.models import Models
from tests.unit.scoring.replay import Replay, replay

#: Population shapes: (customers, event days, seed, churners who come back, lifecycle days)
SHAPES = {
    "young population, default thresholds": (150, 40, 3, 0.0, (30, 45, 90)),
    "half a year, churners come back": (100, 180, 5, 0.5, (30, 45, 90)),
    "short thresholds": (150, 120, 11, 0.3, (7, 14, 28)),
}


def found(models: Models, customers: int, days: int, seed: int, comeback: float) -> Counter[str]:
    seen: Counter[str] = Counter()

    def check(r: Replay, now: int) -> None:
        for st in r.states.values():
            seen.update(contradictions(st, max(now, st.last_us), r.models))

    r = replay(customers, days, seed, models, check, comeback_share=comeback)
    # the populations reach every dimension the table speaks of
    dims = Counter(d for st in r.states.values() for d in st.segments)
    assert min(dims[d] for d in ("rfm", "lifecycle", "cluster", "value")) > 0, dims
    return seen


def models_of(days: tuple[int, int, int], bands: bool = True) -> Models:
    new, at_risk, churn = days
    return Models(
        lifecycle=LifecycleModel(new_days=new, at_risk_days=at_risk, churn_days=churn),
        value=ValueModel(min_customers=30),
        rfm_bands=bands,
        min_population=20,
    )


@pytest.mark.parametrize("shape", list(SHAPES))
def test_no_customer_shows_a_contradiction_after_any_sweep(shape: str) -> None:
    customers, days, seed, comeback, lifecycle = SHAPES[shape]
    assert found(models_of(lifecycle), customers, days, seed, comeback) == Counter()


def test_the_check_finds_the_contradictions_pure_quintile_names_make() -> None:
    # the control: without the recency bands, quintile names contradict the lifecycle
    seen = found(models_of((7, 14, 28), bands=False), 150, 120, 11, 0.3)
    assert seen["rfm_lapsed_but_recent_buyer"] > 0 and seen["rfm_recent_but_lapsed_buyer"] > 0


def test_every_contradiction_has_a_code_a_text_and_the_rule_that_prevents_it() -> None:
    codes = [c.code for c in CONTRADICTIONS]
    assert len(set(codes)) == len(codes) == 7
    assert all(c.text and c.prevented_by for c in CONTRADICTIONS)


def test_the_check_finds_cluster_words_the_customer_has_no_data_for_when_names_ignore_its_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a customer with only a profile held in a cluster described by its use and orders: the
    # name it is shown keeps only the words about parts it has, so the check finds nothing;
    # with the whole description (no parts given) it finds the contradiction
    from segstream.models.clusters import ClusterSnapshot
    from segstream.scoring import consistency
    from segstream.state.customer import CustomerState, ProfileState

    snap = ClusterSnapshot(
        version=2, ids=[4], centers=[[-1.0, 0.0, 0.0, -0.9, -1.5, 0.0]], mean=[0.0] * 6, std=[1.0] * 6,
        descriptions={"en": ["declining use, small orders, light user"], "zh-CN": ["使用下降, 小额订单, 轻度用户"]},
        next_id=5, learned=10,
    )  # fmt: skip
    st = CustomerState(first_us=1, last_us=1, profile=ProfileState(), segments={"cluster": "c4"})
    models = Models(cluster_snapshot=snap)
    assert "cluster_words_without_data" not in contradictions(st, 2, models)
    whole = consistency.segment_name
    monkeypatch.setattr(consistency, "segment_name", lambda d, code, m, lang, parts=None: whole(d, code, m, lang))
    assert "cluster_words_without_data" in contradictions(st, 2, models)
    st.segments["cluster"] = "insufficient"  # not a learned cluster: nothing to read
    assert "cluster_words_without_data" not in contradictions(st, 2, models)
