"""The standalone API process (`segstream api`): documents from Redis alone, several
processes on one port, ETags and 304s, batch lookups; a real worker writes the data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from kafka import KafkaProducer

from segstream.client import ApiError, AsyncClient, Client, Customer, SegmentRef
from segstream.config import Settings
from segstream.streams import kinds
from tests.integration.harness import (
    ApiProcess,
    WorkerProcess,
    applied_total,
    free_port,
    read_store,
    settled,
    wait_until,
)
from tests.integration.test_api import CUSTOMERS, T0, TOKEN, send_history
from tests.integration.test_customer_document import cli_document


def request(
    port: int, path: str, body: Any = None, token: str | None = TOKEN, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    url = f"http://127.0.0.1:{port}{urllib.request.quote(path, safe='/:?=&')}"
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, dict(exc.headers), json.loads(raw) if raw else None


def members(s: Settings, dim: str, seg: str) -> set[str]:
    """Who is in a segment, read from every customer's stored state."""
    return {c for c, st in read_store(s, lambda store: store.scan_customers()).items() if st.segments.get(dim) == seg}


@contextlib.contextmanager
def api_process(s: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """`segstream api` with these settings, listening; stopped after."""
    api = ApiProcess(s)
    try:
        yield api.proc
    finally:
        api.stop()


@pytest.fixture
def api_over_a_worker(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], producer: KafkaProducer
) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    s = make_settings(api_token=TOKEN, api_port=free_port(), api_processes=2)
    start_worker(s, api=False)
    sent = send_history(s, producer)
    wait_until(lambda: applied_total(s) >= sent and settled(s), 120, "all events applied and scored")
    with api_process(s) as proc:
        yield s, proc


def test_the_api_serves_the_worker_s_documents_with_etags_and_batch_lookups(
    api_over_a_worker: tuple[Settings, subprocess.Popen[bytes]], producer: KafkaProducer
) -> None:
    s, proc = api_over_a_worker
    port = s.api_port
    for cid in CUSTOMERS[:6]:  # the same document as `segstream customer` prints
        status, headers, doc = request(port, f"/customers/{cid}")
        assert status == 200 and doc["customer_id"] == cid
        assert doc.pop("freshness") == {"read_from": "primary", "staleness_bound_ms": 0.0}
        assert doc == cli_document(s, cid)
    # the segment listings: the populations Redis counts, and members of the segment
    listing = request(port, "/segments")[2]
    assert listing["segments"] == read_store(s, lambda st: st.segment_counts()) and listing["segments"]["rfm"]
    dim, seg = "rfm", sorted(listing["segments"]["rfm"])[0]
    page = request(port, f"/segments/{dim}/{seg}/customers?limit=3")[2]
    assert page["customers"] and set(page["customers"]) <= members(s, dim, seg)
    assert request(port, f"/segments/{dim}/{seg}/customers", token=None)[0] == 401
    assert request(port, "/segments/nope/x/customers")[0] == 404
    spec = request(port, "/openapi.json", token=None)[2]
    assert "/customers:batchGet" in spec["paths"] and "/ready" not in spec["paths"]
    assert request(port, "/asyncapi.json", token=None)[2]["asyncapi"].startswith("3.")
    cid = CUSTOMERS[4]
    status, headers, doc = request(port, f"/customers/{cid}")
    tag = headers["ETag"]
    status, again, body = request(port, f"/customers/{cid}", headers={"If-None-Match": tag})
    assert (status, again["ETag"], body) == (304, tag, None)
    # a purchase arriving late (before the stream clock, so the clock stays where it is)
    # changes only this customer's state: the old tag no longer matches
    before = applied_total(s)
    clock = request(port, f"/customers/{cid}")[2]["as_of"]
    event = {"event_id": "late-buy", "customer_id": cid, "ts": (T0 + timedelta(days=10)).isoformat(), "amount": 99.0}
    producer.send(s.topic("purchases"), key=cid.encode(), value=json.dumps(event, ensure_ascii=False).encode())
    producer.flush()
    wait_until(lambda: applied_total(s) > before and settled(s), 60, "the late purchase applied")
    status, fresh, doc = request(port, f"/customers/{cid}", headers={"If-None-Match": tag})
    assert status == 200 and fresh["ETag"] != tag and doc["purchases"]["count"] == 2
    assert doc["as_of"] == clock  # the clock did not move: the state's version made the new tag
    # batch lookup: one answer for known and unknown ids, in the order asked
    ids = [CUSTOMERS[7], "nobody", CUSTOMERS[2]]
    status, _, body = request(port, "/customers:batchGet", {"ids": ids})
    assert status == 200 and body["missing"] == ["nobody"]
    assert [d["customer_id"] for d in body["customers"]] == [CUSTOMERS[7], CUSTOMERS[2]]
    single = request(port, f"/customers/{CUSTOMERS[2]}")[2]
    assert body["customers"][1] | {"freshness": body["freshness"]} == single
    assert request(port, "/customers:batchGet", {"ids": [f"c{i}" for i in range(101)]})[0] == 400
    assert request(port, "/customers:batchGet", {"wrong": 1})[0] == 400
    # the token, and errors as JSON
    assert request(port, f"/customers/{cid}", token=None)[0] == 401
    status, _, body = request(port, "/customers/nobody")
    assert status == 404 and "nobody" in body["error"]
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'segstream_api_requests_total{route="/customers/{customer_id}",status="200"}' in metrics
    # SIGTERM stops every process of the API: the parent exits only after reaping them all,
    # so nothing answers on the port once it has
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    with pytest.raises(OSError):
        request(port, "/health", token=None)


def conforms(schema: str, instance: Any) -> None:
    """Raise unless ``instance`` is valid against the packaged OpenAPI document's schema."""
    from importlib import resources

    from openapi_schema_validator import OAS31Validator

    doc = json.loads(resources.files("segstream.api").joinpath("openapi.json").read_text(encoding="utf-8"))
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    OAS31Validator(root, format_checker=OAS31Validator.FORMAT_CHECKER).validate(instance)


def test_the_api_serves_the_operators_views_from_the_statuses_workers_write(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], producer: KafkaProducer
) -> None:
    """The dashboard and its views need no worker's memory: the API answers them as the
    worker does, from Redis, and says so when the worker is gone."""
    s = make_settings(api_token=TOKEN, api_port=free_port(), churn_enter=0.5, churn_leave=0.3)  # a detractor: high
    worker = start_worker(s, api=False)
    sent = send_history(s, producer)
    wait_until(lambda: applied_total(s) >= sent and settled(s), 120, "all events applied and scored")
    with api_process(s):
        port = s.api_port

        def ready() -> bool:
            o = request(port, "/api/overview")[2]
            return o["processing"]["status"] == "ready" and o["lag_total"] == 0 and o["applied_total"] == sent

        wait_until(ready, 30, "the worker's status in Redis: ready, nothing behind")
        mine = request(port, "/api/overview")[2]
        conforms("Overview", mine)
        assert mine["processing"] == {"status": "ready", "reason": "processing"} and mine["workers_gone"] == []
        (w,) = mine["workers"]
        assert w["status"] == "ready" and w["leader"] is True and w["partitions"] == len(kinds.NAMES) * s.partitions
        assert s.topic("purchases") in mine["lag"]  # the partitions that had batches, all read
        stats = read_store(s, lambda st: st.stats())
        assert mine["applied_total"] == sum(v for k, v in stats.items() if k.startswith("events:")) == sent
        moves = mine["stability"]["rfm"]["moves"]  # counted by the worker as it saved them
        models = request(port, "/models")[2]
        conforms("Models", models)
        assert models["rfm"]["version"] == mine["model_versions"]["rfm"] > 0
        assert list(models["grades_by_worker"]) == [w["worker"]] and models["grades"]["pending"] > 0
        flows = request(port, "/api/flows?minutes=60")[2]
        assert sum(f["count"] for f in flows["flows"]["rfm"] if f["from"]) == moves > 0  # Redis's count of the hour
        churn = request(port, "/api/churn/recent?limit=5")[2]["events"]
        kept = read_store(s, lambda st: st.recent_churn_events(5))
        assert churn and churn == [json.loads(e) for e in kept]
        assert request(port, "/api/churn/recent", token=None)[0] == 401
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.headers["Content-Type"].startswith("text/html") and b"/api/overview" in page.read()
        # the worker dies without a word: within the stale bound the API says no one works
        worker.kill()

        def gone() -> bool:
            return request(port, "/api/overview")[2]["processing"]["status"] == "no_worker"

        wait_until(gone, 30, "the dead worker's status gone stale")
        o = request(port, "/api/overview")[2]
        assert o["workers"] == [] and o["workers_gone"] == [w["worker"]] and o["lag_total"] is None
        assert request(port, "/models")[2]["grades"] is None


@pytest.fixture
def replica_of(tmp_path: Path) -> Iterator[Callable[[int], int]]:
    """``start(primary_port)``: a redis-server replica of that primary on loopback (a port of
    its own, no persistence); returns its port. Stopped after the test."""
    server = shutil.which("redis-server")
    if not server:
        pytest.fail("redis-server is needed (Debian package redis-server)", pytrace=False)
    procs: list[subprocess.Popen[bytes]] = []

    def start(primary: int) -> int:
        port = free_port()
        args = [server, "--bind", "127.0.0.1", "--port", str(port), "--replicaof", "127.0.0.1", str(primary)]
        args += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        wait_until(lambda: _link_up(port), 30, f"the replica on {port} in sync")
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def _link_up(port: int) -> bool:
    try:
        info = redis.Redis(port=port, socket_timeout=2).info("replication")
    except redis.ConnectionError:
        return False
    return info.get("master_link_status") == "up"


def test_reads_from_a_replica_say_how_stale_they_may_be_and_fall_back_to_the_primary(
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
    producer: KafkaProducer,
    private_redis: Callable[[str], str],
    replica_of: Callable[[int], int],
) -> None:
    primary_url = private_redis("url")
    primary_port = int(primary_url.rsplit(":", 1)[1].split("/")[0])
    replica_port = replica_of(primary_port)
    s = make_settings(
        api_token=TOKEN,
        api_port=free_port(),
        api_processes=1,
        redis_url=primary_url,
        redis_read_url=f"redis://127.0.0.1:{replica_port}/0",
        api_max_staleness_s=2.0,
    )
    start_worker(s, api=False)
    sent = send_history(s, producer)
    wait_until(lambda: applied_total(s) >= sent and settled(s), 120, "all events applied and scored")
    cid = CUSTOMERS[5]
    with api_process(s) as proc:
        status, _, doc = request(s.api_port, f"/customers/{cid}")
        assert status == 200 and doc.pop("freshness")["read_from"] == "replica"
        assert doc == cli_document(s, cid)  # read from the primary
        # in sync, the bound is the heartbeat's age: a fraction of a second, never above the setting
        wait_until(lambda: request(s.api_port, f"/customers/{cid}")[2]["freshness"]["staleness_bound_ms"] < 1000,
                   10, "a bound below a second")  # fmt: skip
        count = doc["purchases"]["count"]
        # the replica loses its primary: it keeps serving what it had, and falls behind
        replica = redis.Redis(port=replica_port)
        replica.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
        before = applied_total(s)
        event = {"event_id": "while-cut", "customer_id": cid, "ts": (T0 + timedelta(days=10)).isoformat(),
                 "amount": 5.0}  # fmt: skip
        producer.send(s.topic("purchases"), key=cid.encode(), value=json.dumps(event).encode())
        producer.flush()
        wait_until(lambda: applied_total(s) > before and settled(s), 60, "the purchase applied on the primary")

        def answer() -> dict[str, Any]:
            return request(s.api_port, f"/customers/{cid}")[2]  # type: ignore[no-any-return]

        seen = [answer()]
        wait_until(lambda: seen.append(answer()) or seen[-1]["freshness"]["read_from"] == "primary", 30,
                   "the API reading from the primary")  # fmt: skip
        for d in seen:  # from the replica: the old data, within the bound; past it: the primary's
            f = d["freshness"]
            if f["read_from"] == "replica":
                assert f["staleness_bound_ms"] <= 2000 and d["purchases"]["count"] == count
        assert seen[-1]["purchases"]["count"] == count + 1
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{s.api_port}/metrics", timeout=10).read().decode()
        assert "segstream_api_primary_reads_total 0.0" not in metrics
        # the link restored: the replica catches up and serves again
        replica.execute_command("REPLICAOF", "127.0.0.1", str(primary_port))
        wait_until(lambda: answer()["freshness"]["read_from"] == "replica", 30, "reads from the replica again")
        assert answer()["purchases"]["count"] == count + 1
        assert proc.poll() is None


def test_the_typed_client_reads_the_real_api_sync_and_async(
    api_over_a_worker: tuple[Settings, subprocess.Popen[bytes]],
) -> None:
    s, _ = api_over_a_worker
    base = f"http://127.0.0.1:{s.api_port}"
    raw = {cid: request(s.api_port, f"/customers/{cid}")[2] for cid in CUSTOMERS}
    with Client(base, token=TOKEN) as api:
        for cid in CUSTOMERS[:5]:
            doc = api.customer(cid)
            assert doc is not None
            typed = {k: v for k, v in msgspec.to_builtins(doc).items() if v is not None or k in TOP_LEVEL}
            assert typed.keys() == raw[cid].keys()
            for part in ("customer_id", "segments", "rfm_score", "as_of", "last_event", "purchases", "churn_risk"):
                assert typed[part] == utc_as_z(raw[cid])[part], part
            assert doc.usage == raw[cid].get("usage")  # kept as the API's JSON
        assert api.customer("nobody") is None
        batch = api.customers([CUSTOMERS[3], "nobody"])
        assert [c.customer_id for c in batch.customers] == [CUSTOMERS[3]] and batch.missing == ["nobody"]
        overview = api.segments()
        assert overview.segments == request(s.api_port, "/segments")[2]["segments"]
        for code in overview.segments["rfm"]:  # every member, page by page, and no one else
            want = sorted(cid for cid, d in raw.items() if d["segments"]["rfm"]["code"] == code)
            assert sorted(api.members("rfm", code, page_size=2)) == want
    with Client(base, token="wrong", retries=0) as api, pytest.raises(ApiError) as err:
        api.customer(CUSTOMERS[0])
    assert err.value.status == 401

    async def run() -> list[Customer | None]:
        async with AsyncClient(base, token=TOKEN) as api:
            members = [cid async for cid in api.members("rfm", sorted(overview.segments["rfm"])[0])]
            assert members
            return await asyncio.gather(*(api.customer(c) for c in CUSTOMERS))

    docs = asyncio.run(run())
    assert [d.customer_id if d else None for d in docs] == CUSTOMERS
    assert all(d and d.segments == api_segments(raw[d.customer_id]) for d in docs)


def utc_as_z(doc: dict[str, Any]) -> Any:
    """The document with its UTC times written as msgspec writes them (``...Z``)."""
    return json.loads(json.dumps(doc, ensure_ascii=False).replace('+00:00"', 'Z"'))


#: the document's fields that are present even when null
TOP_LEVEL = {"as_of", "rfm_score", "first_event", "last_event"}


def api_segments(doc: dict[str, Any]) -> dict[str, SegmentRef]:
    return {dim: SegmentRef(**ref) for dim, ref in doc["segments"].items()}
