"""Lifecycle stage in event time: new, active, at risk, churned, reactivated."""

from __future__ import annotations

from typing import Final, NamedTuple

from segstream.models.decay import US_PER_DAY

STAGES: Final = ("new", "active", "at_risk", "churned", "reactivated")


class Stage(NamedTuple):
    stage: str
    due_us: int | None  # event time at which the stage changes if nothing else happens
    reactivated_us: int  # when the customer came back from churned (0: never)


class LifecycleModel:
    """Stage of a customer from its first and last activity, as of the stream clock.

    Parameters
    ----------
    new_days
        A customer is ``new`` for this many days after its first activity.
    at_risk_days
        Silent this long: ``at_risk``.
    churn_days
        Silent this long: ``churned``.
    reactivated_days
        A churned customer who comes back is ``reactivated`` for this long.

    Examples
    --------
    >>> m = LifecycleModel(new_days=30, at_risk_days=45, churn_days=90)
    >>> d = US_PER_DAY
    >>> m.predict_one(first_us=0, last_us=0, now_us=10 * d, previous=None).stage
    'new'
    >>> m.predict_one(0, 40 * d, 50 * d, "new").stage
    'active'
    >>> s = m.predict_one(0, 40 * d, 90 * d, "active"); s.stage, s.due_us // d
    ('at_risk', 130)
    >>> m.predict_one(0, 40 * d, 130 * d, "at_risk").stage
    'churned'
    >>> m.predict_one(0, 200 * d, 200 * d, "churned").stage   # came back
    'reactivated'
    """

    def __init__(
        self, new_days: float = 30, at_risk_days: float = 45, churn_days: float = 90, reactivated_days: float = 30
    ) -> None:
        if not 0 < at_risk_days < churn_days:
            raise ValueError("need 0 < at_risk_days < churn_days")
        self.new_days = new_days
        self.at_risk_days = at_risk_days
        self.churn_days = churn_days
        self.reactivated_days = reactivated_days

    def predict_one(
        self, first_us: int, last_us: int, now_us: int, previous: str | None, reactivated_us: int = 0
    ) -> Stage:
        """The stage as of ``now_us``; ``previous`` is the stage stored before this update."""
        at_risk = last_us + int(self.at_risk_days * US_PER_DAY)
        churn = last_us + int(self.churn_days * US_PER_DAY)
        if now_us >= churn:
            return Stage("churned", None, reactivated_us)
        if now_us >= at_risk:
            return Stage("at_risk", churn, reactivated_us)
        if previous == "churned":  # active again after churning: a comeback, from its last activity
            reactivated_us = last_us
        if reactivated_us and now_us < reactivated_us + int(self.reactivated_days * US_PER_DAY):
            return Stage(
                "reactivated", min(at_risk, reactivated_us + int(self.reactivated_days * US_PER_DAY)), reactivated_us
            )
        new_until = first_us + int(self.new_days * US_PER_DAY)
        if now_us < new_until:
            return Stage("new", min(at_risk, new_until), 0)
        return Stage("active", at_risk, 0)
