"""The customer document of a hand-built customer: every field read from the right part."""

from __future__ import annotations

from segstream.models.clusters import ClusterSnapshot
from segstream.models.profile import ProfileState
from segstream.models.rfm import PurchaseSummary
from segstream.models.satisfaction import FeedbackState
from segstream.models.value import ValueSnapshot
from segstream.scoring.document import customer_document
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState, Outlook

DAY = 86_400_000_000
LAST = 20 * DAY + DAY // 2  # last purchase on day 20.5
NOW = LAST + 1_695_911_040_000  # 19.6286 days later (day 40.1286)


def customer(signup_us: int) -> CustomerState:
    return CustomerState(
        first_us=2 * DAY, last_us=30 * DAY,
        purchases=PurchaseSummary().add(10 * DAY, 2500).add(LAST, 1000),
        feedback=FeedbackState(complaints=1, complaint_us=25 * DAY, complaint_text="slow"),
        profile=ProfileState(signup_us=signup_us),
        rfm_score=345, segments={"cluster": "c4", "value": "high"},
        outlook=Outlook(
            version=3, p_alive_bp=8123, purchases_milli=1500, spend_minor=1750, clv_minor=4321, risk_bp=7300,
            high=True, changed_us=30 * DAY, drivers_bp=[5000, 0, 0, 2300, 0],
        ),
    )  # fmt: skip


def models() -> Models:
    clusters = ClusterSnapshot(
        version=2, ids=[4], centers=[[-1.0, 0.0, 0.0, -0.9, -1.5, 0.0]], mean=[0.0] * 6, std=[1.0] * 6,
        descriptions={"en": ["declining use, small orders, light user"]}, next_id=5, learned=10,
    )  # fmt: skip
    value = ValueSnapshot(1, 0, "", 3, None, None, [], 10_000, spend_cap_minor=3000, capped_revenue_minor=6000)
    return Models(cluster_snapshot=clusters, value_snapshot=value)


def test_the_document_reads_every_field_from_its_part() -> None:
    doc = customer_document("c1", customer(signup_us=1 * DAY), NOW, models(), "en")
    assert doc["rfm_score"] == {"r": 3, "f": 4, "m": 5}
    assert (doc["first_event"], doc["last_event"]) == ("1970-01-03T00:00:00+00:00", "1970-01-31T00:00:00+00:00")
    p = doc["purchases"]
    assert (p["count"], p["spend"], p["last"]) == (2, 35.0, "1970-01-21T12:00:00+00:00")
    assert p["recency_days"] == 19.629  # 19.6286 days, to three decimals
    s = doc["satisfaction"]
    assert (s["last_complaint"], s["last_complaint_text"]) == ("1970-01-26T00:00:00+00:00", "slow")
    assert doc["profile"]["tenure_days"] == (NOW - DAY) / DAY  # from the signup, not the first event
    # the cluster's name keeps only words about what the customer has: orders, not use
    name = doc["segments"]["cluster"]["name"]
    assert "small orders" in name and "use" not in name, name
    risk = doc["churn_risk"]
    assert (risk["score"], risk["level"], risk["since"]) == (0.73, "high", "1970-01-31T00:00:00+00:00")
    assert [(d["name"], d["weight"]) for d in risk["drivers"]] == [("purchase_lapse", 0.5), ("complaints", 0.23)]
    v = doc["value"]
    assert (v["p_alive"], v["expected_purchases"], v["expected_spend_per_purchase"], v["clv"]) == (
        0.8123,
        1.5,
        17.5,
        43.21,
    )
    assert (v["tier"], v["model_version"]) == ("high", 3)
    assert v["contribution"] == 0.5  # min(3,500, cap 3,000) / capped revenue 6,000


def test_tenure_counts_from_the_first_event_when_the_signup_is_unknown() -> None:
    doc = customer_document("c1", customer(signup_us=0), NOW, models(), "en")
    assert doc["profile"]["tenure_days"] == (NOW - 2 * DAY) / DAY


def test_a_customer_without_purchases_contributes_nothing() -> None:
    st = customer(signup_us=0)
    st.purchases = None
    assert customer_document("c1", st, NOW, models(), "en")["value"]["contribution"] == 0.0


def test_only_the_parts_asked_for_are_computed() -> None:
    doc = customer_document("c1", customer(signup_us=0), NOW, models(), "en", parts={"churn_risk"})
    assert "churn_risk" in doc and "purchases" not in doc and "profile" not in doc
    doc = customer_document("c1", customer(signup_us=0), NOW, models(), "en", parts={"purchases"})
    assert "purchases" in doc and "churn_risk" not in doc


def test_json_has_no_infinity_non_finite_numbers_become_null_in_nested_documents() -> None:
    from segstream.scoring.document import _finite

    doc = {"a": float("inf"), "b": {"c": float("nan"), "d": 1.5}, "e": "x"}
    assert _finite(doc) == {"a": None, "b": {"c": None, "d": 1.5}, "e": "x"}
