"""HTTP views served by the worker (Faust's web server)."""

from __future__ import annotations

import logging
import math
from collections.abc import Container
from pathlib import Path
from typing import Any, cast

import faust
import msgspec
from faust.web import Request, Response, View

from segstream.agents.pipeline import Pipeline
from segstream.agents.score import Models, segment_name
from segstream.config import DANGEROUS_NO_TOKEN
from segstream.models.churn import DRIVER_NAMES, DRIVERS
from segstream.models.decay import US_PER_DAY
from segstream.state.customer import CustomerState
from segstream.state.store import CURSOR_MAX
from segstream.streams.codec import from_us
from segstream.streams.contracts import asyncapi

from . import ops
from .http import HTTPProblem, int_param, json_errors, make_authorise

log = logging.getLogger(__name__)


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

    doc: dict[str, Any] = {
        "customer_id": customer_id,
        "as_of": when(now_us),
        "segments": {d: {"code": s, "name": segment_name(d, s, models, language)} for d, s in state.segments.items()},
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
        }
    if state.usage and want("usage"):
        doc["usage"] = models.usage.predict_one(state.usage, now_us)._asdict() | {"last": when(state.usage.last_us)}
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
        }
    if state.outlook and (want("churn_risk") or want("value")):
        doc |= outlook_document(state, models, language)
    return cast(dict[str, Any], _finite(doc))


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
                {"name": d, "label": DRIVER_NAMES[language][d], "weight": bp / 10_000}
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
            "contribution": spend / snap.revenue_minor if snap and snap.revenue_minor else None,
            "model_version": o.version,
        }
    return out


def _finite(obj: Any) -> Any:
    """JSON has no Infinity: days since an event that never happened is null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


OPENAPI = Path(__file__).with_name("openapi.json")
SCAN_PER_PAGE = 2000  # customer keys one page of a segment listing examines at most


def register(app: faust.App, pipeline: Pipeline) -> None:
    store = pipeline.web_store  # used from the web server's thread only
    language = pipeline.settings.language
    authorise = make_authorise(pipeline.settings.token())
    if not pipeline.settings.token() and not pipeline.settings.web_is_loopback():
        log.warning("customer data is served without a token on %s (%s is set)",
                    pipeline.settings.web_host, DANGEROUS_NO_TOKEN)  # fmt: skip

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            try:
                await store.client.ping()
            except Exception as exc:  # any failure means not healthy; say which
                return self.json({"status": "unhealthy", "redis": str(exc)}, status=503)
            return self.json({"status": "ok"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            try:
                await store.client.ping()
            except Exception as exc:  # any failure means not ready; say which
                return self.json({"status": "stalled", "reason": f"redis: {exc}"}, status=503)
            state = pipeline.progress.state()
            if not state.ready:  # rebalancing, standby or stalled: never a reassuring zero lag
                return self.json({"status": state.status, "reason": state.reason}, status=503)
            return self.json({"status": "ready", "assigned_partitions": state.partitions})

    @app.page("/customers/{customer_id:[^/]+}")  # any character but /, percent-encoded
    class Customer(View):
        @json_errors
        async def get(self, request: Request, customer_id: str) -> Response:
            authorise(request)
            state, now = await store.get_with_clock(customer_id)
            if state is None:
                raise HTTPProblem(404, f"no customer {customer_id!r}")
            return self.json(customer_document(customer_id, state, now, pipeline.models, language))

    @app.page("/segments/{dimension:[^/]+}/{segment:[^/]+}/customers")
    class SegmentCustomers(View):
        @json_errors
        async def get(self, request: Request, dimension: str, segment: str) -> Response:
            authorise(request)
            cursor = int_param(request, "cursor", 0, 0, CURSOR_MAX)
            limit = int_param(request, "limit", 100, 1, 1000)
            if dimension not in await store.segment_counts():
                raise HTTPProblem(404, f"no dimension {dimension!r}")
            found, cursor, scanned = await store.in_segment(dimension, segment, cursor, limit, SCAN_PER_PAGE)
            return self.json(
                {
                    "dimension": dimension,
                    "segment": segment,
                    "customers": found,
                    "next_cursor": cursor or None,
                    "scanned": scanned,
                }
            )

    @app.page("/segments")
    class Segments(View):
        @json_errors
        async def get(self, request: Request) -> Response:
            counts = await store.segment_counts()
            stats = await store.stats()
            clock = (await store.clock()).get("global", 0)
            names = {
                d: {seg: segment_name(d, seg, pipeline.models, language) for seg in segs} for d, segs in counts.items()
            }
            rfm, clusters = pipeline.models.rfm_snapshot, pipeline.models.cluster_snapshot
            value = pipeline.models.value_snapshot
            return self.json(
                {
                    "segments": counts,
                    "names": names,
                    "model_versions": {
                        "rfm": rfm.version if rfm else None,
                        "cluster": clusters.version if clusters else None,
                        "value": value.version if value else None,
                    },
                    "value_model": msgspec.to_builtins(value) if value else None,
                    "stats": stats,
                    "stream_clock": from_us(clock).isoformat() if clock else None,
                }
            )

    spec = OPENAPI.read_bytes()

    @app.page("/openapi.json")
    class OpenAPI(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(spec, content_type="application/json")

    events_spec = msgspec.json.encode(asyncapi(pipeline.settings))  # this deployment's topic names

    @app.page("/asyncapi.json")
    class AsyncAPI(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(events_spec, content_type="application/json")

    ops.register(app, pipeline, authorise)
