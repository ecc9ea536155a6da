"""Lifecycle stages of a whole batch (the columnar form of
:meth:`segstream.models.lifecycle.LifecycleModel.predict_one`, same rules)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from segstream.models.decay import US_PER_DAY
from segstream.models.lifecycle import LifecycleModel
from segstream.scoring.columns import I64, Columns

#: No due time (churned: nothing changes until the customer comes back).
NO_DUE = np.iinfo(np.int64).max


def score_lifecycle(
    c: Columns, active: I64, previous: NDArray[np.object_], model: LifecycleModel
) -> tuple[NDArray[np.object_], I64, I64]:
    """(stage, due time or :data:`NO_DUE`, reactivated_us) of each customer, from its last
    purchase or use ``active`` and the stage stored before (``previous``)."""
    now = c.now
    at_risk = active + int(model.at_risk_days * US_PER_DAY)
    churn = active + int(model.churn_days * US_PER_DAY)
    back = int(model.reactivated_days * US_PER_DAY)
    react = np.where(previous == "churned", active, c.reactivated_us)
    new_until = c.first_us + int(model.new_days * US_PER_DAY)
    is_churned = now >= churn
    is_at_risk = ~is_churned & (now >= at_risk)
    live = ~is_churned & ~is_at_risk
    is_react = live & (react != 0) & (now < react + back)
    is_new = live & ~is_react & (now < new_until)
    stage = np.full(len(now), "active", dtype=object)
    stage[is_new] = "new"
    stage[is_react] = "reactivated"
    stage[is_at_risk] = "at_risk"
    stage[is_churned] = "churned"
    due = np.select(
        [is_churned, is_at_risk, is_react, is_new],
        [NO_DUE, churn, np.minimum(at_risk, react + back), np.minimum(at_risk, new_until)],
        at_risk,
    )
    reactivated = np.where(is_churned | is_at_risk, c.reactivated_us, np.where(is_react, react, 0))
    return stage, due, reactivated
