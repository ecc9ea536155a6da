"""The worker's HTTP API, metrics and status CLI against a real worker, Kafka, Redis and
Prometheus."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from segstream.api.listings import openapi
from segstream.config import Settings
from tests.integration.harness import (
    ARTIFACTS,
    WorkerProcess,
    applied_total,
    free_port,
    http_url,
    metrics,
    read_store,
    settings_env,
    settled,
    wait_until,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
TOKEN = "tok-123"
CUSTOMERS = [f"客户-{i:03d}" for i in range(30)]


def call(s: Settings, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
    req = urllib.request.Request(http_url(s, urllib.parse.quote(path, safe="/?=&")))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def send_history(s: Settings, producer: KafkaProducer) -> int:
    """Purchases for every customer, usage for some, a detractor with complaints for one."""
    n = 0

    def send(topic: str, cid: str, day: float, **fields: object) -> None:
        nonlocal n
        ts = (T0 + timedelta(days=day)).isoformat()
        doc = {"event_id": f"{topic}-{n}", "customer_id": cid, "ts": ts, **fields}
        producer.send(s.topic(topic), key=cid.encode(), value=json.dumps(doc, ensure_ascii=False).encode())
        n += 1

    for i, cid in enumerate(CUSTOMERS):
        for k in range(1 + i % 4):
            send("purchases", cid, i * 0.5 + k * 3, amount=20.0 + i)
        if i % 3 == 0:
            send("usage", cid, i * 0.5, action="search")
    send("feedback", CUSTOMERS[0], 20, kind="nps", score=1)
    send("feedback", CUSTOMERS[0], 20.1, kind="complaint", text="发货太慢")
    send("feedback", CUSTOMERS[0], 20.2, kind="complaint", text="still late")
    producer.flush()
    return n


@pytest.fixture
def worker_with_history(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], producer: KafkaProducer
) -> Iterator[tuple[Settings, int]]:
    s = make_settings(api_token=TOKEN, churn_enter=0.5, churn_leave=0.3)  # the detractor scores 0.62
    start_worker(s)
    sent = send_history(s, producer)
    wait_until(lambda: applied_total(s) >= sent and settled(s), 120, "all events applied and scored")
    yield s, sent


def test_customer_data_needs_the_token_and_every_error_is_json(worker_with_history: tuple[Settings, int]) -> None:
    s, _ = worker_with_history
    cid = CUSTOMERS[3]
    assert call(s, f"/customers/{cid}", token=None)[0] == 401
    status, body = call(s, f"/customers/{cid}", token="wrong")
    assert status == 401 and "bearer token" in body["error"]
    status, doc = call(s, f"/customers/{cid}")
    assert status == 200 and doc["customer_id"] == cid and doc["purchases"]["count"] == 4
    assert {"rfm", "lifecycle"} <= set(doc["segments"]) and "churn_risk" in doc
    status, body = call(s, "/customers/nobody")
    assert status == 404 and "nobody" in body["error"]
    assert call(s, "/segments/lifecycle/new/customers?limit=0")[0] == 400
    assert call(s, "/segments/lifecycle/new/customers?cursor=abc")[0] == 400
    assert call(s, "/segments/no_such_dimension/x/customers")[0] == 404
    assert call(s, "/segments/lifecycle/new/customers", token=None)[0] == 401
    assert call(s, "/api/flows?minutes=0")[0] == 400
    # open endpoints
    assert call(s, "/health", token=None) == (200, {"status": "ok"})
    status, ready = call(s, "/ready", token=None)
    assert status == 200 and ready == {"status": "ready", "assigned_partitions": 4 * s.partitions}
    # the API knows the worker by the status it writes into Redis every second
    wait_until(lambda: call(s, "/api/overview", token=None)[1]["processing"]["status"] == "ready", 10, "a status")
    status, overview = call(s, "/api/overview", token=None)
    assert status == 200 and overview["processing"] == {"status": "ready", "reason": "processing"}
    status, spec = call(s, "/openapi.json", token=None)
    assert status == 200 and "/customers/{customer_id}" in spec["paths"]
    status, events = call(s, "/asyncapi.json", token=None)  # this deployment's own topic names
    assert status == 200 and events["asyncapi"] == "3.0.0"
    assert s.topic("purchases") in {c["address"] for c in events["channels"].values()}


def test_segment_listing_pages_through_every_member(worker_with_history: tuple[Settings, int]) -> None:
    s, _ = worker_with_history
    customers = read_store(s, lambda st: st.scan_customers())
    for dim, seg in (("lifecycle", "new"), ("relationship", "repeat_buyer")):
        want = {c for c, st in customers.items() if st.segments.get(dim) == seg}
        got: list[str] = []
        cursor: int | None = 0
        while cursor is not None:
            status, page = call(s, f"/segments/{dim}/{seg}/customers?limit=7&cursor={cursor}")
            assert status == 200 and len(page["customers"]) <= 7
            got += page["customers"]
            cursor = page["next_cursor"]
        assert sorted(got) == sorted(want) and want, (dim, seg)


def test_overview_flows_and_recent_churn_events_are_served(worker_with_history: tuple[Settings, int]) -> None:
    s, sent = worker_with_history
    wait_until(lambda: call(s, "/api/overview", token=None)[1]["lag_total"] == 0, 10, "the worker's status: all read")
    status, overview = call(s, "/api/overview", token=None)
    assert status == 200 and overview["applied_total"] == sent and overview["dead_letters_total"] == 0
    assert set(overview["model_versions"]) == {"rfm", "cluster", "value"} and overview["lag_total"] >= 0
    status, models = call(s, "/models", token=None)
    assert status == 200 and models["rfm"]["version"] >= 1, models
    assert models["grades"]["pending"] > 0 and models["grades"]["horizon_days"] == s.value_horizon_days, models
    stability = overview["stability"]
    assert {"rfm", "lifecycle"} <= set(stability), stability  # every customer entered them in the last hour
    assert all(0 <= v["flip_backs"] <= v["moves"] and v["volatility_per_hour"] > 0 for v in stability.values())
    status, flows = call(s, "/api/flows?minutes=5", token=None)
    entered = sum(f["count"] for f in flows["flows"]["lifecycle"] if f["from"] is None)
    assert status == 200 and entered == len(CUSTOMERS)
    counts = read_store(s, lambda st: st.segment_counts())
    high = counts["churn_risk"].get("high", 0)
    status, recent = call(s, "/api/churn/recent?limit=200")  # customer ids: the token
    assert status == 200 and len([e for e in recent["events"] if e["level"] == "high"]) >= high > 0
    first = recent["events"][-1]  # oldest first at the end
    assert first["drivers"] and first["customer_id"] in CUSTOMERS


def test_metrics_cover_latency_lag_redis_models_and_populations(worker_with_history: tuple[Settings, int]) -> None:
    s, sent = worker_with_history
    m = metrics(s)
    assert m["segstream_processing_latency_seconds_count"] >= sent
    assert sum(v for k, v in m.items() if k.startswith('segstream_events_total{outcome="applied"')) == sent
    assert any(k.startswith("segstream_consumer_lag{") for k in m)
    assert m['segstream_redis_seconds_count{op="save"}'] > 0
    counts = read_store(s, lambda st: st.segment_counts())
    assert m['segstream_segment_customers{dimension="lifecycle",segment="new"}'] == counts["lifecycle"]["new"]


def test_status_prints_lag_rates_and_populations_and_fails_in_one_line_without_kafka(
    worker_with_history: tuple[Settings, int],
) -> None:
    s, sent = worker_with_history
    out = subprocess.run([sys.executable, "-m", "segstream", "status", "--interval", "0.5"],
                         env=settings_env(s), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"{sent:,} events applied" in out.stdout and "consumer lag" in out.stdout and "lifecycle" in out.stdout
    assert "ready: nothing waits" in out.stdout, out.stdout  # every event applied, the worker in the group
    bad = s.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    out = subprocess.run([sys.executable, "-m", "segstream", "status"],
                         env=settings_env(bad), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1 and "Kafka" in out.stderr
    bad = s.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    out = subprocess.run([sys.executable, "-m", "segstream", "status"],
                         env=settings_env(bad), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1 and "Redis" in out.stderr


def test_a_real_prometheus_scrapes_the_worker_and_promql_counts_the_events(
    worker_with_history: tuple[Settings, int], tmp_path: Path
) -> None:
    s, sent = worker_with_history
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (Debian package `prometheus`; infra/test.sh installs it)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: segstream\n    static_configs: [{{targets: ['127.0.0.1:{s.web_port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def query(promql: str) -> float | None:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                result = json.loads(resp.read())["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else None

    try:
        applied = 'sum(segstream_events_total{outcome="applied"})'
        wait_until(lambda: query(applied) == sent, 60, f"PromQL {applied} == {sent}", every=0.5)
        new = 'sum(segstream_segment_customers{dimension="lifecycle"})'
        wait_until(lambda: query(new) == len(CUSTOMERS), 30, f"PromQL {new} == {len(CUSTOMERS)}", every=0.5)
        assert query("up") == 1
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


DOC = json.loads(openapi("api"))  # the standalone API's paths
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
AUTH: dict[str, bytes | None] = {
    "none": None,
    "wrong": b"Bearer wrong",
    "non_ascii": "Bearer 令牌".encode(),
    "right": f"Bearer {TOKEN}".encode(),
}


def raw_call(
    s: Settings, method: str, target: str, auth: bytes | None = None, body: bytes = b""
) -> tuple[int, str, bytes, str]:
    """One request as bytes (http.client sends any header bytes); status, content type, body, Allow."""
    conn = http.client.HTTPConnection("127.0.0.1", s.api_port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        if auth is not None:
            conn.putheader("Authorization", auth)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read(), resp.getheader("Allow", "")
    finally:
        conn.close()


def documented_target(path: str, item: dict[str, Any], op: dict[str, Any]) -> str:
    """The path with each path parameter's example, percent-encoded (a lone dot as %2E)."""
    for prm in [*item.get("parameters", []), *op.get("parameters", [])]:
        if "$ref" in prm:
            prm = DOC["components"]["parameters"][prm["$ref"].rsplit("/", 1)[1]]
        if prm["in"] == "path":
            value = urllib.parse.quote(prm["example"], safe="")
            path = path.replace("{" + prm["name"] + "}", value)
    return path


def test_every_documented_route_answers_with_and_without_the_token_as_documented(
    worker_with_history: tuple[Settings, int], producer: KafkaProducer
) -> None:
    """Generated from the OpenAPI document: a route added to it cannot be left untested."""
    s, sent = worker_with_history
    odd = DOC["components"]["parameters"]["CustomerId"]["example"]  # braces, a slash, a percent, Chinese
    profile = {"event_id": "odd-1", "customer_id": odd, "ts": T0.isoformat(), "industry": "retail"}
    producer.send(s.topic("profiles"), key=odd.encode(), value=json.dumps(profile, ensure_ascii=False).encode())
    producer.flush()
    wait_until(lambda: applied_total(s) >= sent + 1, 60, "the odd id's profile applied")
    ops = [(p, m, item, op) for p, item in DOC["paths"].items() for m, op in item.items() if m in HTTP_METHODS]
    assert len(ops) >= 11
    for path, method, item, op in ops:
        target = documented_target(path, item, op)
        secured = any("bearerAuth" in req for req in op.get("security", DOC.get("security", [])))
        example = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
        sent_body = json.dumps(example).encode() if example is not None else b""
        for auth, header in AUTH.items():
            status, ctype, body, _ = raw_call(s, method.upper(), target, header, sent_body)
            where = f"{method.upper()} {target} with {auth} token"
            assert str(status) in op["responses"], f"{where}: {status} is not documented"
            if secured and auth != "right":
                assert status == 401 and ctype.startswith("application/json"), where
                assert "bearer token" in json.loads(body)["error"], where
            else:
                assert status == 200, f"{where}: {status} {body[:200]!r}"
        if path == "/customers/{customer_id}":
            assert json.loads(raw_call(s, "GET", target, AUTH["right"])[2])["customer_id"] == odd
        for other in sorted({"POST", "PUT", "DELETE", "PATCH"} - {m.upper() for m in item}):
            status, ctype, body, allow = raw_call(s, other, target, AUTH["right"])
            allowed = {m.upper() for m in item if m in HTTP_METHODS}
            assert (
                status == 405
                and ctype.startswith("application/json")
                and allowed <= {a.strip() for a in allow.split(",")}
            ), (
                other,
                target,
                allow,
            )
            assert other in json.loads(body)["error"]
    status, ctype, body, _ = raw_call(s, "GET", "/no/such/route")
    assert status == 404 and ctype.startswith("application/json") and json.loads(body)["error"]
    status, ctype, body, _ = raw_call(s, "GET", "/customers/" + "x" * 9000, AUTH["right"])
    assert status == 414 and ctype.startswith("application/json") and b"xxxx" not in body
    assert "Traceback" not in (ARTIFACTS / f"worker-w-{s.app_id}.log").read_text(errors="replace")
    assert "Traceback" not in (ARTIFACTS / f"api-{s.app_id}-{s.api_port}.log").read_text(errors="replace")
