"""Published event contracts: a JSON Schema per topic and an AsyncAPI 3.0 document.

Both are generated from the msgspec structs of :mod:`segstream.streams.schemas` with
:func:`msgspec.json.schema` and :func:`msgspec.json.schema_components`, so they cannot
drift from what the worker decodes and encodes. ``segstream contracts --out DIR`` writes
them; the worker serves the AsyncAPI document at ``GET /asyncapi.json``.

Examples
--------
>>> from segstream.config import Settings
>>> doc = asyncapi(Settings(topic_suffix="-staging"))
>>> doc["asyncapi"], doc["channels"]["purchases"]["address"]
('3.0.0', 'purchases-staging')
>>> sorted(json_schemas()) == sorted(TOPICS)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, Literal

import msgspec

from segstream.config import TOPIC_BASE_NAMES, Settings
from segstream.streams.cloudevents import CHURN_RISK, CLUSTER, SEGMENT_CHANGED
from segstream.streams.codec import REASONS
from segstream.streams.schemas import (
    ChurnRisk,
    ClusterEvent,
    CustomerId,
    DeadLetter,
    Feedback,
    Profile,
    Purchase,
    SegmentChange,
    Usage,
)

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING: Final = "0.5.0"
_CUSTOMER_KEY: Final = {
    **msgspec.json.schema(CustomerId),
    "description": "customer_id as UTF-8: all of a customer's events on one partition, in order",
}


@dataclass(frozen=True)
class Topic:
    """One topic's contract: its value struct, who writes it, its key and an example.

    Attributes
    ----------
    setting
        The topic's key in :data:`segstream.config.TOPIC_BASE_NAMES`.
    struct
        The msgspec struct of a message value.
    action
        ``receive`` for the topics the worker consumes, ``send`` for those it produces.
    key
        JSON Schema of the Kafka message key (as text).
    example_key
        The key of ``example``, for its summary (``None``: no key).
    example
        One message value, as JSON; a test decodes it with segstream's own decoder.
    headers
        JSON Schema of the Kafka headers, if the messages carry any.
    example_headers
        The headers of ``example``.
    """

    setting: str
    struct: type[msgspec.Struct]
    action: Literal["receive", "send"]
    key: dict[str, Any]
    example_key: str | None
    example: dict[str, Any]
    headers: dict[str, Any] | None = None
    example_headers: dict[str, Any] = field(default_factory=dict)


def _ce_headers(ce_type: str) -> dict[str, Any]:
    """The CloudEvents binary-mode headers an output topic carries with SEGSTREAM_CLOUDEVENTS=true."""
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "Only with SEGSTREAM_CLOUDEVENTS=true: CloudEvents 1.0 attributes, Kafka binary mode "
        "(src/segstream/streams/cloudevents.py); the value is the same JSON document either way.",
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {**text, "description": "the event_id (cluster events: cluster-v{version}-{event}-{id})"},
            "ce_source": {**text, "description": "SEGSTREAM_CLOUDEVENTS_SOURCE"},
            "ce_type": {"type": "string", "const": ce_type},
            "ce_time": {**text, "format": "date-time", "description": "the payload's ts, UTC (cluster events: sent)"},
            "ce_subject": {**text, "description": "the customer id (cluster events: cluster/{id})"},
            "content-type": {"type": "string", "const": "application/json"},
        },
    }


_TOPIC_LIST: Final = (
    Topic("purchases", Purchase, "receive", _CUSTOMER_KEY, "C000042", {
        "event_id": "ord-20250301-0007", "customer_id": "C000042", "ts": "2025-03-01T14:05:09Z", "amount": 129.9,
        "currency": "USD", "items": 3, "category": "electronics", "channel": "online", "discount": 13.0,
        "coupon": "SPRING10", "order_id": "SO-88213",
    }),
    Topic("usage", Usage, "receive", _CUSTOMER_KEY, "C000042", {
        "event_id": "u-7f3a9c", "customer_id": "C000042", "ts": "2025-03-02T09:15:00-05:00",
        "action": "report_export", "service": "analytics", "quantity": 2.0, "duration_s": 340.5, "session_id": "s-5521",
    }),
    Topic("feedback", Feedback, "receive", _CUSTOMER_KEY, "C000042", {
        "event_id": "fb-2025-03-03-118", "customer_id": "C000042", "ts": "2025-03-03T11:00:00Z", "kind": "nps",
        "score": 9.0, "channel": "survey", "text": "Fast delivery, support could answer sooner.",
    }),
    Topic("profiles", Profile, "receive", _CUSTOMER_KEY, "客户-0815", {
        "event_id": "crm-客户-0815-v3", "customer_id": "客户-0815", "ts": "2025-03-04T16:30:00+08:00",
        "kind": "organisation", "name": "上海精工机械有限公司", "industry": "制造业", "company_size": "sme",
        "region": "华东", "city": "上海", "city_tier": 1, "ownership": "private", "contract": True, "partner": False,
        "signup_date": "2019-06-18T09:00:00+08:00",
    }),
    Topic("segment_changes", SegmentChange, "send", _CUSTOMER_KEY, "C000042", {
        "event_id": "p3-1041-rfm", "customer_id": "C000042", "dimension": "rfm", "from": None,
        "to": "potential_loyalist", "to_name": "Potential loyalist", "ts": "2025-03-01T14:05:09Z",
        "reason": "R=5 F=1 M=3: last purchase 0 days ago, 1 purchase(s), 129.90 USD in total",
        "features": {"recency_days": 0.0, "frequency": 1, "monetary": 129.9, "r": 5, "f": 1, "m": 3},
    }, headers=_ce_headers(SEGMENT_CHANGED)),
    Topic("churn_risk", ChurnRisk, "send", _CUSTOMER_KEY, "c0000078", {
        "event_id": "u4-2201-churn", "customer_id": "c0000078", "ts": "2024-02-05T11:56:40.960642Z",
        "score": 0.0334, "level": "normal", "drivers": [{"name": "purchase_lapse", "weight": 1.0}],
        "value_tier": "high", "action": None, "action_name": None,
        "reason": "churn risk down to 0.03 (below 0.50): no purchase expected soon 100%",
        "p_alive": 0.9636, "clv": 1329.79, "segments": {"rfm": "loyal", "lifecycle": "active", "value": "high"},
    }, headers=_ce_headers(CHURN_RISK)),
    Topic(
        "dlq", DeadLetter, "send",
        {"type": ["string", "null"], "description": "the rejected message's key, unchanged (null: it had none)"},
        "C000042",
        {
            "reason": "no_timezone", "detail": "`ts` 2025-03-01T14:05:09 has no UTC offset", "topic": "purchases",
            "partition": 3, "offset": 1042, "kafka_ts_ms": 1740837909000, "key": "QzAwMDA0Mg==",
            "value": "eyJldmVudF9pZCI6Im9yZC05IiwiY3VzdG9tZXJfaWQiOiJDMDAwMDQyIiwidHMiOiIyMDI1LTAzLTAxVDE0OjA1OjA5Ii"
            "wiYW1vdW50IjoxMi41fQ==",
            "rejected_at": "2025-03-01T14:05:10.250000Z",
        },
        headers={
            "type": "object",
            "required": ["reason"],
            "properties": {"reason": {"type": "string", "enum": list(REASONS), "description": "the value's reason"}},
        },
        example_headers={"reason": "no_timezone"},
    ),
    Topic(
        "cluster_events", ClusterEvent, "send",
        {"type": "string", "const": "clusters", "description": "always `clusters`: all model events on one partition"},
        "clusters",
        {"version": 4, "event": "merge", "cluster": 7, "from": [2, 5], "description": "large orders, frequent buyer"},
        headers=_ce_headers(CLUSTER),
    ),
)  # fmt: skip

#: Every topic segstream reads or writes, by its default name (``TOPIC_BASE_NAMES`` values).
TOPICS: Final[dict[str, Topic]] = {TOPIC_BASE_NAMES[t.setting]: t for t in _TOPIC_LIST}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (draft 2020-12) of each topic's message value.

    Returns
    -------
    dict
        Default topic name -> :func:`msgspec.json.schema` of its struct, with ``$schema``
        and a ``$comment`` naming the struct added.
    """
    return {
        name: {
            "$schema": JSON_SCHEMA_DIALECT,
            "$comment": f"generated from segstream.streams.schemas.{t.struct.__name__}; do not edit",
            **msgspec.json.schema(t.struct),
        }
        for name, t in TOPICS.items()
    }


def _package_version() -> str:
    try:
        return version("segstream")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0.0.0"


def _message(name: str, t: Topic) -> dict[str, Any]:
    struct = t.struct.__name__
    doc = (t.struct.__doc__ or struct).strip()
    example: dict[str, Any] = {
        "name": f"{struct[0].lower()}{struct[1:]}Example",
        "summary": f"key {t.example_key!r}" if t.example_key is not None else "no key",
        "payload": t.example,
    }
    if t.example_headers:
        example["headers"] = t.example_headers
    message: dict[str, Any] = {
        "name": struct,
        "title": struct,
        "summary": doc.splitlines()[0],
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{struct}"},
        "bindings": {"kafka": {"key": t.key, "bindingVersion": KAFKA_BINDING}},
        "examples": [example],
    }
    if t.headers is not None:
        message["headers"] = t.headers
    return message


def asyncapi(settings: Settings) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic segstream reads or writes.

    Parameters
    ----------
    settings
        Give the topic names (``SEGSTREAM_TOPIC_SUFFIX``), partitions, replication
        factor, the Kafka bootstrap server and the consumer group (``SEGSTREAM_APP_ID``).

    Returns
    -------
    dict
        The document as JSON-ready builtins; message payloads refer to
        ``components/schemas``, made by :func:`msgspec.json.schema_components`.
    """
    structs = [t.struct for t in TOPICS.values()]
    _, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    hosts = settings.kafka_bootstrap.split(",")
    tls = settings.kafka_security_protocol.endswith("SSL")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, t in TOPICS.items():
        struct = t.struct.__name__
        address = settings.topic(t.setting)
        channels[name] = {
            "address": address,
            "title": name,
            "description": (
                f"Topic `{name}` plus SEGSTREAM_TOPIC_SUFFIX (here {settings.topic_suffix!r}); "
                f"{'consumed' if t.action == 'receive' else 'produced'} by the worker."
            ),
            "messages": {struct: {"$ref": f"#/components/messages/{struct}"}},
            "bindings": {
                "kafka": {
                    "topic": address,
                    "partitions": settings.partitions,
                    "replicas": settings.replication_factor,
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        operation: dict[str, Any] = {
            "action": t.action,
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"The worker {'consumes' if t.action == 'receive' else 'produces'} {struct} messages.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{struct}"}],
        }
        if t.action == "receive":
            operation["bindings"] = {
                "kafka": {"groupId": {"type": "string", "enum": [settings.app_id]}, "bindingVersion": KAFKA_BINDING}
            }
        operations[f"{t.action}{struct}"] = operation
    return {
        "asyncapi": "3.0.0",
        "id": "urn:segstream:events",
        "info": {
            "title": "segstream events",
            "version": _package_version(),
            "description": (
                "The Kafka topics segstream reads and writes. Generated from the msgspec structs in "
                "segstream.streams.schemas (`segstream contracts`); topic names are the default names plus "
                "SEGSTREAM_TOPIC_SUFFIX. Values are compact UTF-8 JSON; docs/events.md explains every field."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": hosts[0],
                "protocol": "kafka-secure" if tls else "kafka",
                "description": (
                    f"Bootstrap servers {settings.kafka_bootstrap} (SEGSTREAM_KAFKA_BOOTSTRAP), "
                    f"security protocol {settings.kafka_security_protocol}."
                ),
                "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": components,
            "messages": {t.struct.__name__: _message(name, t) for name, t in TOPICS.items()},
        },
    }
