"""CloudEvents binary-mode headers of the output topics, read back with the CloudEvents SDK
(the independent reference: what a consumer using the SDK sees)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, to_binary

from segstream.streams import cloudevents
from segstream.streams.codec import encode
from segstream.streams.schemas import ChurnRisk, Driver, SegmentChange

TS = datetime(2025, 3, 1, 22, 5, 9, 250000, tzinfo=timezone(timedelta(hours=8)))
CHANGE = SegmentChange(
    event_id="p3-1041-rfm", customer_id="C000042", dimension="rfm", from_segment=None, to_segment="champions",
    to_name="Champions", ts=TS, reason="R=5 F=5 M=5", features={"r": 5.0},
)  # fmt: skip


def read(headers: list[tuple[str, bytes]], key: bytes, value: bytes) -> CloudEvent:
    return from_binary(KafkaMessage(headers=dict(headers), key=key, value=value))


def test_a_segment_change_reads_as_a_cloudevent_with_its_id_time_and_customer() -> None:
    value = encode(CHANGE)
    event = read(cloudevents.segment_change(CHANGE, "/segstream/prod"), b"C000042", value)
    assert event["specversion"] == "1.0"
    assert (event["id"], event["type"], event["source"]) == ("p3-1041-rfm", "io.segstream.segment.changed.v1",
                                                             "/segstream/prod")  # fmt: skip
    assert event["time"] == "2025-03-01T14:05:09.250000Z"  # the event time, in UTC
    assert (event["subject"], event["datacontenttype"], event["partitionkey"]) == ("C000042", "application/json",
                                                                                   b"C000042")  # fmt: skip
    assert event.data == json.loads(value)  # the value is the JSON document, unchanged


def test_headers_equal_the_sdks_own_binary_encoding() -> None:
    risk = ChurnRisk(event_id="u4-2201-churn", customer_id="c7", ts=datetime(2024, 2, 5, 11, 56, 40, tzinfo=UTC),
                     score=0.8, level="high", drivers=[Driver("purchase_lapse", 1.0)])  # fmt: skip
    ours = dict(cloudevents.churn_risk(risk, "urn:segstream:test"))
    attributes = {"specversion": "1.0", "id": "u4-2201-churn", "source": "urn:segstream:test",
                  "type": "io.segstream.churn_risk.v1", "time": "2024-02-05T11:56:40Z", "subject": "c7",
                  "datacontenttype": "application/json", "partitionkey": "c7"}  # fmt: skip
    sdk = to_binary(CloudEvent(attributes, json.loads(encode(risk))), data_marshaller=lambda d: encode(d))
    assert ours == sdk.headers  # the SDK maps partitionkey to the key, not to a header
    assert sdk.key == "c7"


def test_a_cluster_event_gets_a_stable_id_from_its_snapshot() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    e = {"version": 4, "event": "merge", "cluster": 7, "from": [2, 5]}
    first, again = (dict(cloudevents.cluster_event(e, "/s", at + timedelta(seconds=s))) for s in (0, 9))
    assert first["ce_id"] == again["ce_id"] == b"cluster-v4-merge-7"
    assert (first["ce_type"], first["ce_subject"]) == (b"io.segstream.cluster.v1", b"cluster/7")
    assert read(list(first.items()), b"clusters", encode(e))["time"] == "2025-01-01T00:00:00Z"


def test_the_headers_written_conform_to_the_published_contract() -> None:
    from jsonschema import Draft202012Validator

    from segstream.streams.contracts import TOPICS

    risk = ChurnRisk(event_id="x", customer_id="c7", ts=TS, score=0.8, level="high", drivers=[])
    written = {
        "segment-changes": cloudevents.segment_change(CHANGE, "/s"),
        "churn-risk": cloudevents.churn_risk(risk, "/s"),
        "cluster-events": cloudevents.cluster_event({"version": 1, "event": "birth", "cluster": 3}, "/s", TS),
    }
    for topic, headers in written.items():
        schema = TOPICS[topic].headers
        assert schema is not None and set(schema["properties"]) == {name for name, _ in headers}
        Draft202012Validator(schema).validate({name: value.decode() for name, value in headers})
    wrong = dict(written["churn-risk"]) | {"ce_type": cloudevents.SEGMENT_CHANGED.encode()}
    errors = Draft202012Validator(TOPICS["churn-risk"].headers).iter_errors({k: v.decode() for k, v in wrong.items()})
    assert list(errors)  # a type that is not the topic's is refused
