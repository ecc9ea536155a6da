"""The customer document: one customer's features, segments, value and churn risk as HTTP
(``GET /customers/{id}``) and ``segstream customer`` show it, built in one place (pure)."""

from __future__ import annotations

import math
from collections.abc import Container
from typing import Any

from segstream.models.churn import DRIVERS
from segstream.models.decay import US_PER_DAY
from segstream.scoring import catalogue
from segstream.scoring.behaviour import parts_of
from segstream.scoring.models import Models, segment_name
from segstream.state.customer import CustomerState
from segstream.streams.codec import from_us


def customer_document(
    customer_id: str,
    state: CustomerState,
    now_us: int,
    models: Models,
    language: str,
    parts: Container[str] | None = None,
) -> dict[str, Any]:
    """A customer's features and segments as of the stream clock ``now_us`` (JSON-ready).

    ``parts``: only these top-level keys of the optional sections (``purchases``,
    ``usage``, ``satisfaction``, ``profile``, ``churn_risk``, ``value``) are computed
    (``segstream export`` asks for the ones its fields need); None: all."""

    def want(part: str) -> bool:
        return parts is None or part in parts

    def when(us: int) -> str | None:
        return from_us(us).isoformat() if us else None

    has = parts_of(state)
    doc: dict[str, Any] = {
        "customer_id": customer_id,
        "as_of": when(now_us),
        "segments": {
            d: {"code": s, "name": segment_name(d, s, models, language, has)} for d, s in state.segments.items()
        },
        "rfm_score": {"r": state.rfm_score // 100, "f": state.rfm_score // 10 % 10, "m": state.rfm_score % 10}
        if state.rfm_score
        else None,
        "first_event": when(state.first_us),
        "last_event": when(state.last_us),
    }
    if (p := state.purchases) and want("purchases"):
        doc["purchases"] = {
            "count": p.count,
            "spend": p.spend_minor / 100,
            "first": when(p.first_us),
            "last": when(p.last_us),
            "recency_days": round(max(0, now_us - p.last_us) / US_PER_DAY, 3),
        } | models.mix.predict_one(state.mix, p.count, p.spend_minor)._asdict()
    if state.usage and want("usage"):
        doc["usage"] = models.usage.predict_one(state.usage, now_us, state.first_us)._asdict() | {
            "last": when(state.usage.last_us)
        }
    if state.feedback and want("satisfaction"):
        doc["satisfaction"] = models.satisfaction.predict_one(state.feedback, now_us)._asdict() | {
            "last_complaint": when(state.feedback.complaint_us),
            "last_complaint_text": state.feedback.complaint_text or None,
        }
    if state.profile and want("profile"):
        doc["profile"] = state.profile.attrs() | {
            "signup": when(state.profile.signup_us),
            "tenure_days": models.profile.tenure_days(state.profile, now_us, state.first_us),
            "contract_end": when(state.profile.renewal_us),
            "attributes": dict(state.profile.custom),
        }
    if state.outlook and (want("churn_risk") or want("value")):
        doc |= outlook_document(state, models, language)
    return _finite(doc)


def outlook_document(state: CustomerState, models: Models, language: str) -> dict[str, Any]:
    """Value and churn risk as last scored (the model version says with which fit)."""
    o = state.outlook
    assert o is not None
    snap = models.value_snapshot
    spend = state.purchases.spend_minor if state.purchases else 0
    out: dict[str, Any] = {
        "churn_risk": {
            "score": o.risk_bp / 10_000,
            "level": "high" if o.high else "normal",
            "since": from_us(o.changed_us).isoformat() if o.changed_us else None,
            "drivers": [
                {"name": d, "label": catalogue.driver(d, language), "weight": bp / 10_000}
                for d, bp in sorted(zip(DRIVERS, o.drivers_bp, strict=False), key=lambda kv: -kv[1])
                if bp
            ],
        }
    }
    if o.version:
        out["value"] = {
            "p_alive": o.p_alive_bp / 10_000,
            "expected_purchases": o.purchases_milli / 1000,
            "horizon_days": models.value.horizon_days,
            "expected_spend_per_purchase": o.spend_minor / 100,
            "clv": o.clv_minor / 100,
            "clv_months": models.value.clv_months,
            "tier": state.segments.get("value"),
            "contribution": snap.contribution(spend) if snap else None,  # capped share of revenue
            "model_version": o.version,
        }
    return out


def _finite(obj: dict[str, Any]) -> dict[str, Any]:
    """JSON has no Infinity: days since an event that never happened is null (in place, in
    nested dicts; the profile API calls this for every document it serves)."""
    for k, v in obj.items():
        if isinstance(v, dict):
            _finite(v)
        elif isinstance(v, float) and not math.isfinite(v):
            obj[k] = None
    return obj
