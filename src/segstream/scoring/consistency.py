"""Combinations of segments no customer may show: the table, and the check of one customer.

Each dimension is right on its own terms: RFM ranks customers against each other, the
lifecycle counts silent days, clusters describe a centre, value tiers cut a CLV
distribution. Put side by side on one customer they can still say things a person would
not sign off ("Champions" who are churned, "High value" with no spend). The scoring core
prevents each row of :data:`CONTRADICTIONS` by construction (the rule that does is named in
the row); this module states the table once, for the docs (docs/SEGMENTS.md) and for the
property test that replays simulated populations and checks every customer against it
(tests/unit/scoring/test_consistency.py).

Pure: a customer state, the time it is seen at and the models in; codes out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from segstream.models.decay import US_PER_DAY
from segstream.scoring.behaviour import FEATURE_PART, INSUFFICIENT, parts_of
from segstream.scoring.catalogue import LANGUAGES, TRAIT_WORDS, split
from segstream.scoring.models import Models, segment_name
from segstream.state.customer import CustomerState

#: Codes of the 11 RFM segments that say "bought recently" (R of 3 and more).
RFM11_RECENT: Final = frozenset(
    {"champions", "loyal", "potential_loyalist", "new", "promising", "need_attention", "about_to_sleep"}
)
#: RFM codes that say "bought recently" (the above, and recent in ``cn8``).
RFM_RECENT: Final = RFM11_RECENT | {"important_value", "important_development", "general_value", "general_development"}
#: RFM codes that say "has not bought for a while" (R of 1 or 2, or not recent in ``cn8``).
RFM_LAPSED: Final = frozenset(
    {"at_risk", "cannot_lose_them", "hibernating", "lost"}
    | {"important_retention", "important_winback", "general_retention", "general_winback"}
)


@dataclass(frozen=True, slots=True)
class Seen:
    """One customer as the check sees it."""

    st: CustomerState
    now: int
    models: Models

    @property
    def purchase_days(self) -> float:
        p = self.st.purchases
        return max(0, self.now - p.last_us) / US_PER_DAY if p else float("inf")

    @property
    def silent_days(self) -> float:
        last = max(self.st.purchases.last_us if self.st.purchases else 0, self.st.usage.last_us if self.st.usage else 0)
        return max(0, self.now - last) / US_PER_DAY if last else float("inf")

    def seg(self, dimension: str) -> str | None:
        return self.st.segments.get(dimension)


def _cluster_words_without_data(s: Seen) -> bool:
    code = s.seg("cluster")
    if not code or code == INSUFFICIENT or s.models.cluster_snapshot is None:
        return False
    have = parts_of(s.st)
    for language in LANGUAGES:
        words = set(split(segment_name("cluster", code, s.models, language, have), language))
        for feature, part in FEATURE_PART.items():
            if part not in have and words & set(TRAIT_WORDS[language][feature]):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Contradiction:
    code: str
    text: str  # what a person would object to
    prevented_by: str  # the rule of the core that makes it impossible
    shows: Callable[[Seen], bool]


CONTRADICTIONS: Final = (
    Contradiction(
        "rfm_recent_but_churned",
        "an RFM segment that says 'bought recently' (Champions, Loyal, ...) on a churned customer",
        "RFM recency bands: from churn_days without a purchase, the segment is named with R=1",
        lambda s: s.seg("rfm") in RFM_RECENT and s.seg("lifecycle") == "churned",
    ),
    Contradiction(
        "rfm_lapsed_but_recent_buyer",
        "an RFM segment that says 'has not bought for a while' (Lost, At risk, ...) on a customer who bought "
        "within at_risk_days",
        "RFM recency bands: below at_risk_days, the segment is named with R of at least 3",
        lambda s: s.seg("rfm") in RFM_LAPSED and s.purchase_days < s.models.lifecycle.at_risk_days,
    ),
    Contradiction(
        "rfm_recent_but_lapsed_buyer",
        "one of the 11 RFM segments that says 'bought recently' on a customer without a purchase for at_risk_days "
        "(cn8 compares recency with the population's mean: only the churned row applies to it)",
        "RFM recency bands: from at_risk_days, the segment is named with R of at most 2",
        lambda s: s.seg("rfm") in RFM11_RECENT and s.purchase_days >= s.models.lifecycle.at_risk_days,
    ),
    Contradiction(
        "new_but_silent",
        "lifecycle 'new' on a customer silent for churn_days or more",
        "lifecycle: churned is decided before new",
        lambda s: s.seg("lifecycle") == "new" and s.silent_days >= s.models.lifecycle.churn_days,
    ),
    Contradiction(
        "value_without_spend",
        "a value tier above the bottom for a customer who has spent nothing",
        "value tiers: zero spend is the bottom tier whatever the CLV",
        lambda s: s.seg("value") not in (None, "low") and not (s.st.purchases and s.st.purchases.spend_minor > 0),
    ),
    Contradiction(
        "cluster_without_behaviour",
        "a behaviour cluster for a customer with neither purchases nor use",
        "clusters: such a customer is 'Not enough data'",
        lambda s: (s.seg("cluster") or INSUFFICIENT) != INSUFFICIENT and not (s.st.purchases or s.st.usage),
    ),
    Contradiction(
        "cluster_words_without_data",
        "a cluster name that speaks of a behaviour the customer has no data on ('heavy user' without use, "
        "'recent' without purchases)",
        "cluster names: a customer reads only the words about the parts it has",
        _cluster_words_without_data,
    ),
)


def contradictions(st: CustomerState, now: int, models: Models) -> list[str]:
    """The codes of the :data:`CONTRADICTIONS` a customer shows as of ``now`` (none: ``[]``).

    >>> from segstream.models.rfm import PurchaseSummary
    >>> st = CustomerState(purchases=PurchaseSummary().add(0, 0))
    >>> st.segments.update(rfm="champions", lifecycle="churned", value="high")
    >>> contradictions(st, now=100 * US_PER_DAY, models=Models())
    ['rfm_recent_but_churned', 'rfm_recent_but_lapsed_buyer', 'value_without_spend']
    """
    seen = Seen(st, now, models)
    return [c.code for c in CONTRADICTIONS if c.shows(seen)]
