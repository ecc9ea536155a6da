"""The standalone API process (`segstream api`): documents from Redis alone, several
processes on one port, ETags and 304s, batch lookups; a real worker writes the data."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from kafka import KafkaProducer

from segstream.config import Settings
from tests.integration.harness import (
    ARTIFACTS,
    WorkerProcess,
    applied_total,
    free_port,
    settings_env,
    settled,
    wait_until,
)
from tests.integration.test_api import CUSTOMERS, T0, TOKEN, send_history


def request(
    port: int, path: str, body: Any = None, token: str | None = TOKEN, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{urllib.request.quote(path, safe='/:')}", data=data, method="POST" if data else "GET"
    )
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


@pytest.fixture
def api_over_a_worker(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], producer: KafkaProducer
) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    s = make_settings(api_token=TOKEN, api_port=free_port(), api_processes=2)
    start_worker(s)
    sent = send_history(s, producer)
    wait_until(lambda: applied_total(s) >= sent and settled(s), 120, "all events applied and scored")
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / f"api-{s.app_id}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "segstream", "api"], env=settings_env(s), stdout=log, stderr=subprocess.STDOUT
    )

    def up() -> bool:
        try:
            return request(s.api_port, "/health", token=None)[0] == 200
        except OSError:
            return False

    try:
        wait_until(up, 60, "the API answering /health")
        yield s, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        log.close()


def test_the_api_serves_the_worker_s_documents_with_etags_and_batch_lookups(
    api_over_a_worker: tuple[Settings, subprocess.Popen[bytes]], producer: KafkaProducer
) -> None:
    s, proc = api_over_a_worker
    port = s.api_port
    for cid in CUSTOMERS[:6]:  # the same document as the worker's own endpoint
        status, headers, doc = request(port, f"/customers/{cid}")
        assert status == 200 and doc["customer_id"] == cid
        worker = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{s.web_port}/customers/{urllib.request.quote(cid)}",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ),
                timeout=10,
            ).read()
        )
        assert doc == worker
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
    assert body["customers"][1] == request(port, f"/customers/{CUSTOMERS[2]}")[2]
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
