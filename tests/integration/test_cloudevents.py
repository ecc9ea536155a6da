"""CloudEvents headers on the output topics (SEGSTREAM_CLOUDEVENTS=true), through a real worker,
Kafka and Redis, read back with the CloudEvents SDK as a consumer would (issue 18 §2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice

from cloudevents.kafka import KafkaMessage, from_binary

from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from tests.integration.harness import WorkerProcess, applied_total, every_record, produce_events, wait_until

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def cloudevent(record: object) -> object:
    return from_binary(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value))  # type: ignore[attr-defined]


def test_every_output_carries_cloudevents_headers_a_consumer_reads_with_the_sdk(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings(cloudevents=True, cloudevents_source="/segstream/test", cluster_interval_s=0.5)
    events = list(islice(Simulator(200, T0, seed=3).events(), 6000))
    start_worker(s)
    produce_events(s, events)
    wait_until(lambda: applied_total(s) >= len(events), 120, "every event applied", every=0.5)
    wait_until(lambda: len(every_record(s, "cluster_events")) > 0, 60, "the first cluster events", every=0.5)
    changes = every_record(s, "segment_changes")
    assert len(changes) > 200
    types = {"segment_changes": "io.segstream.segment.changed.v1", "churn_risk": "io.segstream.churn_risk.v1"}
    for topic, ce_type in types.items():
        for r in every_record(s, topic):
            e, body = cloudevent(r), json.loads(r.value)
            assert (e["id"], e["type"], e["source"]) == (body["event_id"], ce_type, "/segstream/test")
            assert e["subject"] == body["customer_id"] == r.key.decode()
            ts = datetime.fromisoformat(body["ts"]).astimezone(UTC)
            assert datetime.fromisoformat(e["time"]) == ts and e["time"].endswith("Z")
            assert e.data == body
    for r in every_record(s, "cluster_events"):
        e, body = cloudevent(r), json.loads(r.value)
        assert e["id"] == f"cluster-v{body['version']}-{body['event']}-{body['cluster']}"
        assert (e["type"], e["subject"]) == ("io.segstream.cluster.v1", f"cluster/{body['cluster']}")


def test_without_the_setting_outputs_carry_no_headers(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings()
    events = list(islice(Simulator(50, T0, seed=4).events(), 1000))
    start_worker(s)
    produce_events(s, events)
    wait_until(lambda: applied_total(s) >= len(events), 120, "every event applied", every=0.5)
    changes = every_record(s, "segment_changes")
    assert changes and all(not r.headers for r in changes)
