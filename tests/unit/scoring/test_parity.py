"""The columnar core gives what the per-customer models give, customer by customer, on
random populations (the models are the reference: hand-checked in their own tests)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segstream.models.churn import ChurnModel
from segstream.models.decay import US_PER_DAY
from segstream.models.lifecycle import STAGES, LifecycleModel
from segstream.models.mix import PurchaseMix
from segstream.models.profile import ProfileState
from segstream.models.rfm import FixedRFMScorer, MeanRFMScorer, PurchaseSummary, QuintileRFMScorer, RFMSnapshot
from segstream.models.satisfaction import FeedbackState
from segstream.models.usage import UsageState
from segstream.scoring.activity import activity
from segstream.scoring.behaviour import behaviour_matrix
from segstream.scoring.churn import score_churn
from segstream.scoring.columns import Columns
from segstream.scoring.lifecycle import NO_DUE, score_lifecycle
from segstream.scoring.models import Models
from segstream.scoring.rfm import score_rfm
from segstream.state.customer import CustomerState
from tests.unit.scoring.reference import behaviour_vector

D = US_PER_DAY
NOW = 400 * D
times = st.integers(0, NOW)


@st.composite
def customers(draw: st.DrawFn) -> tuple[CustomerState, int, str | None]:
    first = draw(st.integers(0, 300 * D))
    p = u = f = mix = None
    if draw(st.booleans()):
        last = draw(st.integers(first, NOW))
        count = draw(st.integers(1, 40))
        p = PurchaseSummary(first, last, count, draw(st.integers(0, 10**7)), min(count, 5), 100)
        if draw(st.booleans()):  # some orders on a discount (up to all of them)
            mix = PurchaseMix(discounted=draw(st.integers(0, count)), discounted_minor=1, discount_minor=1)
    if draw(st.booleans()):
        ref = draw(st.integers(first, NOW))
        u = UsageState(draw(st.floats(0, 50)), draw(st.floats(0, 200)), ref, ref, draw(st.integers(0, 500)), 5)
    if draw(st.booleans()):
        den_s, den_l = draw(st.sampled_from([0.0, 0.5, 3.0])), draw(st.sampled_from([0.0, 1.0, 7.0]))
        f = FeedbackState(
            den_s * draw(st.floats(0, 1)), den_s, den_l * draw(st.floats(0, 1)), den_l, first,
            draw(st.integers(-1, 10)), first, (n := draw(st.integers(0, 4))), draw(st.integers(0, 4)), first, "",
            draw(st.integers((k := draw(st.integers(0, n))), 5 * k)), k,  # severities: k rated, each 1-5
        )  # fmt: skip
    state = CustomerState(
        first_us=first, last_us=NOW, purchases=p, usage=u, feedback=f, profile=ProfileState(first), mix=mix,
        reactivated_us=draw(st.sampled_from([0, first])),
    )  # fmt: skip
    active = max(p.last_us if p else 0, u.last_us if u else 0)
    edges = [first + 30 * D, active + 45 * D, active + 90 * D, active + 30 * D, first + 30 * D - 1]  # the stage edges
    now = draw(st.one_of(st.integers(first, NOW + 200 * D), st.sampled_from(edges)))
    return state, now, draw(st.sampled_from([None, *STAGES]))


populations = st.lists(customers(), min_size=1, max_size=25)
SNAP = RFMSnapshot(1, 500, [300.0, 250.0, 200.5, 100.0], [1.0, 2.0, 4.0, 9.0], [999.0, 5e3, 1e5, 2e6], 240.5, 4.2, 9e4)


@settings(max_examples=60, deadline=None)
@given(populations)
def test_rfm_of_a_batch_equals_each_customer_s_score(pop: list) -> None:
    cols = Columns.of([s for s, _, _ in pop], [t for _, t, _ in pop])
    for scorer in (FixedRFMScorer(), QuintileRFMScorer(SNAP), MeanRFMScorer(SNAP)):
        r, f, m, seg = score_rfm(cols, scorer)
        for i, (state, now, _) in enumerate(pop):
            if state.purchases:
                one = scorer.score_one(state.purchases, now)
                assert (r[i], f[i], m[i], seg[i]) == (one.r, one.f, one.m, one.segment)


@settings(max_examples=60, deadline=None)
@given(populations)
def test_lifecycle_of_a_batch_equals_each_customer_s_stage(pop: list) -> None:
    model = LifecycleModel()
    cols = Columns.of([s for s, _, _ in pop], [t for _, t, _ in pop])
    active = cols.active
    stage, due, react = score_lifecycle(cols, active, np.array([p for _, _, p in pop], dtype=object), model)
    for i, (state, now, previous) in enumerate(pop):
        one = model.predict_one(state.first_us, int(active[i]), now, previous, state.reactivated_us)
        assert (stage[i], None if due[i] == NO_DUE else int(due[i]), int(react[i])) == tuple(one)


@settings(max_examples=60, deadline=None)
@given(populations, st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=25, max_size=25))
def test_churn_risk_and_behaviour_of_a_batch_equal_each_customer_s(pop: list, lapse: list) -> None:
    models = Models(churn=ChurnModel(enter=0.6, leave=0.4))
    cols = Columns.of([s for s, _, _ in pop], [t for _, t, _ in pop])
    act = activity(cols, models.usage)
    was_high = np.array([i % 2 == 0 for i in range(len(pop))])
    p_no = np.array([np.nan if v is None else v for v in lapse[: len(pop)]])
    risks = score_churn(p_no, act, was_high, models.churn)
    x = behaviour_matrix(cols, act)
    for i, (state, now, _) in enumerate(pop):
        usage = models.usage.predict_one(state.usage, now, state.first_us) if state.usage else None
        sat = models.satisfaction.predict_one(state.feedback, now) if state.feedback else None
        lapse_i = None if math.isnan(p_no[i]) else float(p_no[i])
        risk = models.churn.predict_one(models.churn.drivers(p_no_purchase=lapse_i, usage=usage, satisfaction=sat))
        assert risks.score[i] == np.float64(risk.score) or math.isclose(risks.score[i], risk.score, rel_tol=1e-12)
        got = risks.risk(i)
        assert list(got.shares) == list(risk.shares)
        assert all(math.isclose(got.shares[k], v, rel_tol=1e-9, abs_tol=1e-15) for k, v in risk.shares.items())
        assert bool(risks.high[i]) == models.churn.level(risk.score, bool(was_high[i]))
        assert np.allclose(x[i], behaviour_vector(state, now, models), rtol=1e-12, atol=1e-12)
        if usage is not None:  # the columnar usage features are the per-customer ones
            assert math.isclose(act.rate_short[i], usage.rate_short, rel_tol=1e-12, abs_tol=1e-15)
            assert math.isclose(act.rate_long[i], usage.rate_long, rel_tol=1e-12, abs_tol=1e-15)
            assert bool(act.used[i]) == (usage.events > 0)
