"""The columnar churn score at its thresholds (hand arithmetic)."""

from __future__ import annotations

from segstream.models.usage import UsageModel
from segstream.scoring.activity import activity
from segstream.scoring.columns import Columns
from segstream.state.customer import CustomerState

DAY = 86_400_000_000


def test_a_churn_score_exactly_at_the_entry_threshold_enters_high_risk() -> None:
    import numpy as np

    from segstream.models.churn import ChurnModel
    from segstream.scoring.churn import score_churn

    # one driver: purchase lapse certain (1.0) at weight 0.7 -> noisy-OR score 1 - (1 - 0.7) = 0.7
    model = ChurnModel({"purchase_lapse": 0.7}, enter=0.7, leave=0.5, lapse_needs_silence=False)
    st = CustomerState(first_us=DAY, last_us=DAY)
    act = activity(Columns.of([st], [2 * DAY]), UsageModel())
    risks = score_churn(np.array([1.0]), act, np.array([False]), model)
    assert risks.score[0] == 0.7 and bool(risks.high[0]) is True
