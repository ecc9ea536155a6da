"""The packaged OpenAPI document of the worker's HTTP API (src/segstream/api/openapi.json)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema.exceptions import ValidationError  # openapi-spec-validator's dependency
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from segstream.agents.step import apply_events, positioned
from segstream.api.listings import SERVED_BY, openapi
from segstream.models.bgnbd import BGNBDParams
from segstream.models.churn import DRIVERS
from segstream.models.gammagamma import GammaGammaParams
from segstream.models.mix import MixFeatures
from segstream.models.profile import ATTRIBUTES
from segstream.models.satisfaction import SatisfactionFeatures
from segstream.models.usage import UsageFeatures
from segstream.models.value import ValueModel, ValueSnapshot
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.keys import CLOCK_GLOBAL
from segstream.state.store import Loaded
from segstream.streams import schemas as events
from segstream.streams.codec import encode
from segstream.streams.schemas import Feedback, Profile, Purchase, Usage

PATHS = {
    "/customers:batchGet": {"post"},
    "/health": {"get"},
    "/ready": {"get"},
    "/customers/{customer_id}": {"get"},
    "/segments": {"get"},
    "/segments/{dimension}/{segment}/customers": {"get"},
    "/api/overview": {"get"},
    "/api/flows": {"get"},
    "/api/churn/recent": {"get"},
    "/models": {"get"},
    "/metrics": {"get"},
    "/": {"get"},
    "/openapi.json": {"get"},
    "/asyncapi.json": {"get"},
}
SECURED = {
    "/customers/{customer_id}",
    "/customers:batchGet",
    "/segments/{dimension}/{segment}/customers",
    "/api/churn/recent",
}
#: the worker serves only what it alone can answer; the standalone API everything else
WORKER_PATHS = {"/health", "/ready", "/metrics"}
API_ONLY = set(PATHS) - WORKER_PATHS
API_PATHS = set(PATHS) - {"/ready"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    text = resources.files("segstream.api").joinpath("openapi.json").read_text(encoding="utf-8")
    return json.loads(text)


def conforms(doc: dict[str, Any], schema: str, instance: Any) -> None:
    """Raise unless ``instance`` is valid against ``components/schemas/{schema}``."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    OAS31Validator(root, format_checker=OAS31Validator.FORMAT_CHECKER).validate(instance)


def properties(doc: dict[str, Any], schema: str) -> set[str]:
    return set(doc["components"]["schemas"][schema]["properties"])


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    validate(doc)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_endpoint_is_documented_with_its_methods(doc: dict[str, Any], path: str) -> None:
    assert path in doc["paths"]
    assert set(doc["paths"][path]) & METHODS == PATHS[path]


def test_no_undocumented_extra_paths(doc: dict[str, Any]) -> None:
    assert set(doc["paths"]) == set(PATHS)


def routes(router: Any) -> set[tuple[str, str]]:
    return {
        (re.sub(r":[^}]+}", "}", r.canonical), route.method.lower())
        for r in router.resources()
        for route in r
        if route.method not in ("HEAD", "OPTIONS")
    }


def documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p, m) for p, item in spec["paths"].items() for m in item if m in METHODS}


def test_every_route_the_worker_serves_is_in_its_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken from the app's router, so a new route cannot be left out of the document."""
    import aiohttp.web_server

    from segstream.app import create_app

    monkeypatch.setattr(aiohttp.web_server, "RequestHandler", aiohttp.web_server.RequestHandler)  # undone after
    from segstream.config import Settings

    app, _ = create_app(Settings(web_enabled=True, data_dir=str(tmp_path), event_epoch_s=0))
    spec = json.loads(openapi("worker"))
    validate(spec)
    assert routes(app.web.web_app.router) == documented(spec)
    assert not set(spec["paths"]) & API_ONLY


def test_every_route_the_standalone_api_serves_is_in_its_document() -> None:
    from segstream.api.server import make_app
    from segstream.config import Settings

    spec = json.loads(openapi("api"))
    validate(spec)
    assert routes(make_app(Settings()).router) == documented(spec)
    assert set(spec["paths"]) == API_PATHS
    assert SERVED_BY not in json.dumps(spec["paths"])


def test_bearer_token_guards_exactly_the_customer_data_endpoints(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, item in doc["paths"].items():
        op = item.get("get") or item["post"]
        security = op.get("security", doc.get("security", []))
        if path in SECURED:
            assert security == [{"bearerAuth": []}], path
            assert "401" in op["responses"], path
        else:
            assert not any(security), path


def test_errors_are_error_objects(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for status, response in (item.get("get") or item["post"])["responses"].items():
            if status.startswith("4"):
                assert response["$ref"].startswith("#/components/responses/"), (path, status)
    for name, response in doc["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name
    conforms(doc, "Error", {"error": "no customer 'x'"})


def test_schemas_name_every_field_the_code_produces(doc: dict[str, Any]) -> None:
    assert set(ATTRIBUTES) | {"signup", "tenure_days", "contract_end", "attributes"} == properties(doc, "Profile")
    summary = {"count", "spend", "first", "last", "recency_days"}
    assert set(MixFeatures._fields) | summary == properties(doc, "Purchases")
    assert set(UsageFeatures._fields) | {"last"} == properties(doc, "Usage")
    assert set(SatisfactionFeatures._fields) | {"last_complaint", "last_complaint_text"} == properties(
        doc, "Satisfaction"
    )
    assert set(ValueSnapshot.__struct_fields__) == properties(doc, "ValueModel")
    assert set(BGNBDParams.__struct_fields__) == properties(doc, "BgNbdParams")
    assert set(GammaGammaParams.__struct_fields__) == properties(doc, "GammaGammaParams")
    assert set(events.ChurnRisk.__struct_fields__) == properties(doc, "ChurnRisk")
    assert set(events.Driver.__struct_fields__) == properties(doc, "Driver")
    for schema in ("Driver", "CustomerDriver"):
        assert doc["components"]["schemas"][schema]["properties"]["name"]["enum"] == list(DRIVERS)


def value_snapshot() -> ValueSnapshot:
    return ValueSnapshot(
        version=3,
        as_of_us=0,
        fitted_at="2024-01-01T00:00:00+00:00",
        customers=100,
        bgnbd=BGNBDParams(0.24, 4.4, 0.79, 2.4, -100.0, 100, True),
        gammagamma=GammaGammaParams(6.25, 3.74, 15.44, -50.0, 60, True),
        tier_edges=[10.0, 50.0, 200.0],
        revenue_minor=1_000_000,
    )


def test_a_customer_document_conforms(doc: dict[str, Any]) -> None:
    from segstream.scoring.document import customer_document

    models = Models(value_snapshot=value_snapshot())
    batch = [
        Profile(
            event_id="r1",
            customer_id="客户-0815",
            ts=T0,
            kind="organisation",
            industry="制造业",
            city_tier=1,
            contract=True,
            signup_date=T0 - timedelta(days=400),
        ),
        Purchase(event_id="p1", customer_id="客户-0815", ts=T0 + timedelta(days=1), amount=19.99),
        Usage(event_id="u1", customer_id="客户-0815", ts=T0 + timedelta(days=2), action="login"),
        Feedback(event_id="f1", customer_id="客户-0815", ts=T0 + timedelta(days=3), kind="complaint", text="slow"),
        Feedback(event_id="f2", customer_id="客户-0815", ts=T0 + timedelta(days=3), kind="nps", score=3),
    ]
    sources = ["r0", "p0", "u0", "f0", "f0"]
    result = apply_events(
        {"客户-0815": Loaded(0, CustomerState())},
        [positioned(ev, src, i) for i, (ev, src) in enumerate(zip(batch, sources, strict=True))],
        0,
        models,
    )
    [item] = result.items
    document = customer_document("客户-0815", item.state, result.clock[CLOCK_GLOBAL], models, "en")
    for part in ("purchases", "usage", "satisfaction", "profile", "churn_risk", "value"):
        assert part in document, part  # the example exercises every optional part
    conforms(doc, "Customer", json.loads(json.dumps(document)))

    bare = customer_document("c1", CustomerState(), 0, Models(), "en")
    conforms(doc, "Customer", json.loads(json.dumps(bare)))


def test_the_value_model_and_a_churn_risk_event_conform(doc: dict[str, Any]) -> None:
    conforms(doc, "ValueModel", msgspec.to_builtins(value_snapshot()))
    event = events.ChurnRisk(
        event_id="sweep-1710620192444295-churn",
        customer_id="c0000747",
        ts=T0,
        score=0.9252,
        level="high",
        drivers=[events.Driver("usage_decline", 0.5575), events.Driver("purchase_lapse", 0.4425)],
        value_tier="low",
        action="service_call",
        action_name="Service call: ask what went wrong",
        reason="churn risk 0.93",
        p_alive=0.5368,
        clv=369.94,
        segments={"rfm": "at_risk", "value": "low"},
    )
    conforms(doc, "ChurnRecent", {"events": [json.loads(encode(event))]})


def test_the_models_view_with_real_grades_conforms(doc: dict[str, Any]) -> None:
    from segstream.models.grading import ChurnGrader, Grades, VersionGrades

    day = 86_400_000_000
    g = ChurnGrader(horizon_days=10, min_calibration=10)
    for i in range(40):
        g.record(f"c{i}", day, i / 40, 3, 1.5, 2500.0)
        if i % 3:
            g.observe(f"c{i}", 5 * day, 1000)
    g.advance(20 * day)
    grades = g.report()
    assert grades.versions and grades.versions[0].churn.n == 40
    assert set(Grades.__struct_fields__) == properties(doc, "Grades")
    assert set(VersionGrades.__struct_fields__) == properties(doc, "VersionGrades")
    conforms(doc, "Models", {
        "rfm": {"version": 4, "customers": 120},
        "cluster": {"version": 2, "k": 5, "k_method": "fixed", "k_score": 0.0, "k_changed_at": 0},
        "value": {"version": 3, "customers": 120, "status": "ok", "bgnbd_status": "ok", "gammagamma_status": "ok",
                  "paretonbd_status": "not used", "lapse_model": "bgnbd"},
        "grades": msgspec.to_builtins(grades),
        "grades_by_worker": {"host-6066": msgspec.to_builtins(grades)},
    })  # fmt: skip
    # and as the view builds it from the statuses the workers stored: one live, one gone
    from segstream.api.ops import models_view
    from segstream.state.status import WorkerStatus, combine, encode

    stored = {
        "w1": encode(WorkerStatus(worker="w1", updated_us=20 * day, grades=grades)),
        "w0": encode(WorkerStatus(worker="w0", updated_us=day)),
    }
    view = models_view(Models(), combine(stored, 20 * day))
    assert view["grades"] == msgspec.to_builtins(grades) and list(view["grades_by_worker"]) == ["w1"]
    conforms(doc, "Models", view)
    conforms(doc, "Models", models_view(Models(), combine(stored, 40 * day)) | {"rfm": None})  # nobody live
    from segstream.models.clusters import ClusterSnapshot

    snap = ClusterSnapshot(
        9, [1, 2], [[0.0], [1.0]], [0.0], [1.0], {}, 3, 10, k=2, k_score=0.9, k_method="prediction_strength", rebuilt=7
    )  # fmt: skip
    view = models_view(Models(cluster_snapshot=snap), combine(stored, 20 * day))
    assert view["cluster"] == {
        "version": 9,
        "k": 2,
        "k_method": "prediction_strength",
        "k_score": 0.9,
        "k_changed_at": 7,
    }
    conforms(doc, "Models", view)
    # with a value fit: its statuses and the lapse model the settings chose
    snap = ValueSnapshot(3, 0, "", 120, None, None, [], 0, "no parameters yet", "a", "b")
    for lapse in ("auto", "paretonbd"):
        value = models_view(Models(value=ValueModel(lapse_model=lapse), value_snapshot=snap), combine(stored, day))
        assert value["value"]["lapse_model"] == lapse and value["value"]["bgnbd_status"] == "a"
        conforms(doc, "Models", value)


def test_bad_instances_are_rejected(doc: dict[str, Any]) -> None:
    page = {"dimension": "rfm", "segment": "lost", "customers": ["a"], "next_cursor": None, "scanned": 10}
    conforms(doc, "SegmentCustomers", page)
    with pytest.raises(ValidationError, match="is not of type"):
        conforms(doc, "SegmentCustomers", page | {"next_cursor": "12"})
    with pytest.raises(ValidationError, match="required"):
        conforms(doc, "Ready", {"status": "ready"})
