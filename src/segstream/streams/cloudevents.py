"""CloudEvents 1.0 binary-mode Kafka headers for the output topics (``SEGSTREAM_CLOUDEVENTS``).

In binary mode the value stays the JSON document consumers already read; the event's
attributes travel as headers (the CloudEvents Kafka protocol binding): ``ce_specversion``,
``ce_id``, ``ce_source``, ``ce_type``, ``ce_time``, ``ce_subject`` and ``content-type``.
A consumer that knows CloudEvents (Knative, Dapr, the CloudEvents SDKs) reads the
attributes without parsing the value; one that does not ignores the headers.

- ``ce_id``: the payload's ``event_id`` (segment changes, churn risk: replays repeat it, so
  a consumer's duplicate check by ``source`` + ``id`` works as the spec intends); for a
  cluster event, ``cluster-v{version}-{event}-{cluster}``, the same for the same snapshot;
- ``ce_type``: ``io.segstream.segment.changed.v1``, ``io.segstream.churn_risk.v1``,
  ``io.segstream.cluster.v1`` (the ``v1`` moves with an incompatible payload change);
- ``ce_time``: the payload's event time (``ts``); for a cluster event, when it was published;
- ``ce_subject``: the customer id (a cluster event: ``cluster/{id}``);
- ``ce_source``: the setting ``SEGSTREAM_CLOUDEVENTS_SOURCE`` (a URI reference).

>>> from datetime import UTC, datetime
>>> h = dict(attributes_headers("io.segstream.churn_risk.v1", "u4-2201-churn", "/segstream/prod",
...                             datetime(2024, 2, 5, 11, 56, 40, 960642, tzinfo=UTC), "c0000078"))
>>> h["ce_id"], h["ce_time"], h["ce_specversion"]
(b'u4-2201-churn', b'2024-02-05T11:56:40.960642Z', b'1.0')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from segstream.streams.schemas import ChurnRisk, SegmentChange

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
SEGMENT_CHANGED: Final = "io.segstream.segment.changed.v1"
CHURN_RISK: Final = "io.segstream.churn_risk.v1"
CLUSTER: Final = "io.segstream.cluster.v1"

Headers = list[tuple[str, bytes]]


def _rfc3339(ts: datetime) -> str:
    """UTC, ``Z``, microseconds only when there are some (RFC 3339, as the spec asks)."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"


def attributes_headers(ce_type: str, ce_id: str, source: str, time: datetime, subject: str) -> Headers:
    """The binary-mode headers of one event (values UTF-8)."""
    return [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", ce_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", ce_type.encode()),
        ("ce_time", _rfc3339(time).encode()),
        ("ce_subject", subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]


def segment_change(c: SegmentChange, source: str) -> Headers:
    return attributes_headers(SEGMENT_CHANGED, c.event_id, source, c.ts, c.customer_id)


def churn_risk(c: ChurnRisk, source: str) -> Headers:
    return attributes_headers(CHURN_RISK, c.event_id, source, c.ts, c.customer_id)


def cluster_event(e: Mapping[str, object], source: str, now: datetime) -> Headers:
    """Of a model event as the leader publishes it (a :class:`~segstream.streams.schemas.ClusterEvent`'s fields)."""
    ce_id = f"cluster-v{e['version']}-{e['event']}-{e['cluster']}"
    return attributes_headers(CLUSTER, ce_id, source, now, f"cluster/{e['cluster']}")
