"""Every struct segstream stores, filled with hand-chosen values (no default left), for
the golden-bytes tests: the bytes today's release writes are kept in ``data/`` and every
later release must still read them (tests/unit/state/test_golden.py).

Every field is given by name, so a reordered field shows. Change nothing here: a new
field or layout gets a new fixture beside these ones.
"""

from __future__ import annotations

import msgspec

from segstream.models.bgnbd import BGNBDParams
from segstream.models.clusters import ClusterSnapshot
from segstream.models.gammagamma import GammaGammaParams
from segstream.models.mix import PurchaseMix
from segstream.models.paretonbd import ParetoNBDParams
from segstream.models.profile import ProfileState
from segstream.models.rfm import PurchaseSummary, RFMSnapshot
from segstream.models.satisfaction import FeedbackState
from segstream.models.spend_prior import SpendPrior
from segstream.models.usage import UsageState
from segstream.models.value import ValueSnapshot
from segstream.state.customer import CustomerState, Outlook

T = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z in µs
DAY = 86_400_000_000


def customer_v1() -> CustomerState:
    """A customer with every part set (format 1: the layout up to release 0.x)."""
    return CustomerState(
        offsets={"p3": 123_456_789, "u3": 98_765_432, "f3": 1_234_567, "r3": 12_345},
        recent={"p": [11, 2**64 - 1], "u": [3, 4], "f": [5], "r": [6, 7]},
        first_us=T - 400 * DAY,
        last_us=T,
        purchases=PurchaseSummary(
            first_us=T - 400 * DAY, last_us=T - 2 * DAY, count=12, spend_minor=123_456, days=9, first_day_minor=1_999
        ),
        usage=UsageState(short=3.25, long=11.75, ref_us=T - DAY, last_us=T, count=240, features=0b1011_0110),
        feedback=FeedbackState(
            num_s=0.5,
            den_s=0.75,
            num_l=2.5,
            den_l=3.125,
            ref_us=T - DAY,
            nps=9,
            nps_us=T - 3 * DAY,
            complaints=2,
            resolved=1,
            complaint_us=T - 5 * DAY,
            complaint_text="包裹晚到了三天",
        ),
        profile=ProfileState(
            updated_us=T - 30 * DAY,
            signup_us=T - 400 * DAY,
            kind="organisation",
            name="Acme GmbH",
            industry="制造业",
            company_size="sme",
            region="华东",
            city="上海",
            city_tier=1,
            ownership="private",
            contract=True,
            partner=False,
            age_band="35-44",
            gender="f",
            income_band="high",
            renewal_us=T + 60 * DAY,
        ),
        reactivated_us=T - 100 * DAY,
        rfm_score=545,
        segments={"rfm": "champions", "lifecycle": "active", "cluster": "c3", "value": "top", "tier": "gold"},
        outlook=Outlook(
            version=7,
            p_alive_bp=9_512,
            purchases_milli=2_345,
            spend_minor=10_250,
            clv_minor=987_654,
            risk_bp=7_125,
            high=True,
            changed_us=T - 4 * DAY,
            drivers_bp=[6_000, 2_500, 1_500],
        ),
    )


def customer_v1_sparse() -> CustomerState:
    """A customer with one profile event only."""
    profile = ProfileState(updated_us=T, kind="person")
    return CustomerState(offsets={"r0": 0}, recent={"r": [42]}, first_us=T, last_us=T, profile=profile)


def customer_v2() -> CustomerState:
    """Format 2: format 1 with fields added at the ends of the structs (purchase mix, usage
    weights and services, complaint severities, custom profile attributes), every one set."""
    v1 = customer_v1()
    assert v1.usage and v1.feedback and v1.profile
    return msgspec.structs.replace(
        v1,
        usage=msgspec.structs.replace(
            v1.usage, units=12.5, minutes=340.25, services=[(3_221_225_472, 19_600), (17, 19_675)]
        ),
        feedback=msgspec.structs.replace(v1.feedback, severity_sum=7, severity_n=2),
        profile=msgspec.structs.replace(
            v1.profile, custom={"tier": "gold", "lifestyle": "户外", "seats": 25.0, "vip": True}
        ),
        mix=PurchaseMix(
            discounted=5,
            discounted_minor=45_600,
            discount_minor=8_050,
            channels=[7, 3, 0, 2],
            category_bits=2**63 + 0b1010,
            top=[("shoes", 6), ("鞋", 4), ("bags", 2)],
        ),
    )


def customer_v2_sparse() -> CustomerState:
    """Format 2, a customer with one profile event only."""
    return customer_v1_sparse()  # the same value: only its bytes differ


def customer_v4() -> CustomerState:
    """Layout 4 (2026-12-06): format 2's with ``cluster_rebuilt`` appended, set (the
    ``rebuilt`` of the cluster snapshot the customer was last placed under)."""
    return msgspec.structs.replace(customer_v2(), cluster_rebuilt=27)


def customer_v4_sparse() -> CustomerState:
    """Layout 4, a customer with one profile event only."""
    return customer_v1_sparse()  # the same value: only its bytes differ


def rfm_snapshot_v1() -> RFMSnapshot:
    return RFMSnapshot(
        version=3,
        customers=12_345,
        last_day_cuts=[19_700.0, 19_650.5, 19_600.0, 19_500.0],
        f_edges=[1.0, 2.0, 3.0, 5.0],
        m_edges=[1_999.0, 4_500.0, 9_999.5, 25_000.0],
        mean_last_day=19_620.25,
        mean_f=2.5,
        mean_m=7_512.75,
    )


def cluster_snapshot_v1() -> ClusterSnapshot:
    return ClusterSnapshot(
        version=4,
        ids=[0, 2, 5],
        centers=[[0.5, -1.0, 0.25, 0.0, 1.5, -0.5]] * 3,
        mean=[3.0, 0.5, 2.0, 1.0, 0.0, 0.5],
        std=[1.0, 0.25, 1.5, 0.75, 1.0, 0.125],
        descriptions={"en": ["a", "b", "c"], "zh-CN": ["甲", "乙", "丙"]},
        next_id=6,
        learned=50_000,
    )


def cluster_snapshot_v2() -> ClusterSnapshot:
    """With the count chosen from the data (k, k_score, k_method at the end of the map)."""
    return msgspec.structs.replace(cluster_snapshot_v1(), k=3, k_score=0.6125, k_method="silhouette")


def value_snapshot_v1() -> ValueSnapshot:
    return ValueSnapshot(
        version=9,
        as_of_us=T,
        fitted_at="2023-11-14T22:13:20+00:00",
        customers=23_570,
        bgnbd=BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=-9_582.5, n=23_570, converged=True),
        gammagamma=GammaGammaParams(p=6.25, q=3.74, v=15.44, log_likelihood=-4_200.25, n=946, converged=True),
        tier_edges=[12.5, 40.0, 160.75],
        revenue_minor=250_000_000,
        status="ok",
    )


def value_snapshot_v2() -> ValueSnapshot:
    """Format 2: per-model statuses, the shrunk log-normal spend prior, the spend cap."""
    return ValueSnapshot(
        version=10,
        as_of_us=T,
        fitted_at="2023-11-14T22:13:20+00:00",
        customers=23_570,
        bgnbd=BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=-9_582.5, n=23_570, converged=True),
        gammagamma=None,
        tier_edges=[12.5, 40.0, 160.75],
        revenue_minor=250_000_000,
        status="Gamma-Gamma: q ≤ 1 (q=0.83): mean spend undefined; no parameters yet; "
        "spend: shrunk log-normal fallback (Gamma-Gamma q ≤ 1)",
        bgnbd_status="ok",
        gammagamma_status="Gamma-Gamma: q ≤ 1 (q=0.83): mean spend undefined; no parameters yet",
        spend_prior=SpendPrior(mu=3.25, tau2=0.5, sigma2=0.75, n=946),
        spend_cap_minor=1_250_000,
        capped_revenue_minor=199_000_000,
    )


def value_snapshot_v3() -> ValueSnapshot:
    """Format 3: the Pareto/NBD parameters of the purchase lapse and their status."""
    return msgspec.structs.replace(
        value_snapshot_v2(),
        version=11,
        paretonbd=ParetoNBDParams(
            r=0.553, alpha=10.578, s=0.606, beta=11.669, log_likelihood=-9_595.0, n=23_570, converged=True
        ),
        paretonbd_status="ok",
    )
