"""The published event contracts (streams/contracts.py): AsyncAPI 3.0 and per-topic JSON Schemas.

The AsyncAPI document is checked against the official AsyncAPI 3.0.0 JSON Schema, vendored in
data/asyncapi-3.0.0.json (npm ``@asyncapi/specs`` 6.11.1, ``schemas/3.0.0.json``; data/README.md).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError
from typer.testing import CliRunner

from segstream.cli import cli
from segstream.config import TOPIC_BASE_NAMES, Settings
from segstream.models.clusters import FEATURES, ClusterLearner
from segstream.streams import contracts
from segstream.streams.codec import EventCodec, Rejection, encode
from segstream.streams.contracts import TOPICS, Topic, asyncapi, json_schemas
from segstream.streams.kinds import SCHEMAS as INPUT_SCHEMAS
from segstream.streams.schemas import ClusterEvent, Event, Purchase
from segstream.streams.topics import INPUT_TOPICS, topic_names

OFFICIAL = Path(__file__).with_name("data") / "asyncapi-3.0.0.json"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC_NAMES = sorted(TOPICS)


@pytest.fixture(scope="module")
def official() -> Draft7Validator:
    schema = json.loads(OFFICIAL.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi(Settings())


def message_of(doc: dict[str, Any], topic: str) -> dict[str, Any]:
    (ref,) = doc["channels"][topic]["messages"].values()
    return doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]


def decoded(topic: Topic, raw: bytes) -> msgspec.Struct:
    """The value as segstream decodes it: the input codec (every check), else the struct's decoder."""
    if topic.action == "receive":
        event = EventCodec(topic.setting).decode(raw, NOW)
        assert not isinstance(event, Rejection), event
        return event
    return msgspec.json.decode(raw, type=topic.struct)


def conforms(topic: Topic, schema: dict[str, Any]) -> None:
    """Raise unless the topic's example, key and headers are valid against their schemas."""
    check = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    check.validate(topic.example)
    Draft202012Validator(topic.key).validate(topic.example_key)
    if topic.headers is not None:
        Draft202012Validator(topic.headers).validate(topic.example_headers)


def test_the_document_is_valid_against_the_official_asyncapi_3_0_0_schema(
    official: Draft7Validator, doc: dict[str, Any]
) -> None:
    assert doc["asyncapi"] == "3.0.0"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in official.iter_errors(doc)]
    assert errors == []
    json.dumps(doc, allow_nan=False)  # plain JSON


@pytest.mark.parametrize(
    "path, value",
    [
        (("operations", "receivePurchase", "action"), "publish"),  # AsyncAPI 2 wording
        (("channels", "purchases", "bindings", "kafka", "partitions"), "8"),
        (("components", "messages", "Purchase", "examples", 0, "key"), "C1"),
    ],
)
def test_the_official_schema_rejects_a_broken_document(
    official: Draft7Validator, doc: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    broken = copy.deepcopy(doc)
    target = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert not official.is_valid(broken)


def test_every_topic_segstream_uses_is_a_channel_with_one_operation(doc: dict[str, Any]) -> None:
    settings = Settings()
    assert sorted(ch["address"] for ch in doc["channels"].values()) == sorted(topic_names(settings))
    assert {t.setting for t in TOPICS.values()} == set(TOPIC_BASE_NAMES)
    by_channel = {op["channel"]["$ref"].removeprefix("#/channels/"): op["action"] for op in doc["operations"].values()}
    receive = {name for name, t in TOPICS.items() if t.setting in INPUT_TOPICS}
    assert set(INPUT_TOPICS) == set(INPUT_SCHEMAS)
    assert by_channel == {name: "receive" if name in receive else "send" for name in TOPICS}


def test_channels_follow_the_topic_suffix_partitions_and_consumer_group() -> None:
    settings = Settings(topic_suffix="-staging", partitions=3, replication_factor=2, app_id="seg-eu")
    doc = asyncapi(settings)
    for name, t in TOPICS.items():
        channel = doc["channels"][name]
        assert channel["address"] == settings.topic(t.setting) == f"{name}-staging"
        assert channel["bindings"]["kafka"] | {"bindingVersion": "x"} == {
            "topic": f"{name}-staging", "partitions": 3, "replicas": 2, "bindingVersion": "x",
        }  # fmt: skip
    assert doc["operations"]["receivePurchase"]["bindings"]["kafka"]["groupId"]["enum"] == ["seg-eu"]


def test_each_message_payload_schema_is_what_msgspec_generates_for_its_struct(doc: dict[str, Any]) -> None:
    structs = [t.struct for t in TOPICS.values()]
    _, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    assert doc["components"]["schemas"] == components
    for name, t in TOPICS.items():
        assert message_of(doc, name)["payload"] == {"$ref": f"#/components/schemas/{t.struct.__name__}"}


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_each_topic_schema_is_valid_json_schema_generated_from_its_struct(topic: str) -> None:
    schema = json_schemas()[topic]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    generated = {k: v for k, v in schema.items() if k not in ("$schema", "$comment")}
    assert generated == msgspec.json.schema(TOPICS[topic].struct)


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_each_example_decodes_with_segstreams_own_decoder_and_keeps_every_field(topic: str) -> None:
    t = TOPICS[topic]
    value = decoded(t, encode(t.example))
    assert type(value) is t.struct
    # no example field is silently ignored as unknown, and each decodes to the value given
    again = msgspec.json.decode(encode(value))
    assert {k: again[k] for k in t.example} == t.example


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_each_example_validates_against_its_topic_schema_and_the_documents(
    official: Draft7Validator, doc: dict[str, Any], topic: str
) -> None:
    t = TOPICS[topic]
    conforms(t, json_schemas()[topic])
    message = message_of(doc, topic)
    (example,) = message["examples"]
    assert example["payload"] == t.example
    root = {"$ref": message["payload"]["$ref"], "components": doc["components"]}
    Draft7Validator(root, format_checker=Draft7Validator.FORMAT_CHECKER).validate(example["payload"])
    Draft7Validator(message["bindings"]["kafka"]["key"]).validate(t.example_key)


def test_a_struct_that_disagrees_with_the_published_example_fails_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    t = TOPICS["purchases"]
    conforms(t, json_schemas()["purchases"])
    # the struct gains a required field the published example does not have
    changed = msgspec.defstruct("Purchase", [("loyalty_tier", str)], bases=(Purchase,), kw_only=True, frozen=True)
    monkeypatch.setitem(contracts.TOPICS, "purchases", dataclasses.replace(t, struct=changed))
    with pytest.raises(ValidationError, match="'loyalty_tier' is a required property"):
        conforms(t, json_schemas()["purchases"])
    with pytest.raises(msgspec.ValidationError, match="loyalty_tier"):
        msgspec.json.decode(encode(t.example), type=changed)
    components = asyncapi(Settings())["components"]
    assert "loyalty_tier" in components["schemas"]["Purchase"]["required"]


def test_an_example_that_lacks_a_required_field_fails_the_schema_and_the_decoder() -> None:
    t = TOPICS["purchases"]
    broken = dataclasses.replace(t, example={k: v for k, v in t.example.items() if k != "amount"})
    with pytest.raises(ValidationError, match="'amount' is a required property"):
        conforms(broken, json_schemas()["purchases"])
    rejected = EventCodec("purchases").decode(encode(broken.example), NOW)
    assert isinstance(rejected, Rejection) and rejected.reason == "missing_field"


def test_cluster_events_as_the_learner_makes_them_match_the_cluster_event_struct() -> None:
    rng = np.random.default_rng(0)
    learner = ClusterLearner(n_clusters=2, seed=1)
    d = len(FEATURES)
    for x in rng.permutation(np.vstack([rng.normal(0, 0.1, (200, d)), rng.normal(5, 0.1, (200, d))])):
        learner.learn_one(dict(zip(FEATURES, x, strict=True)))
    first, births = learner.snapshot(None)
    far = [[50.0] * len(FEATURES)] * len(first.ids)  # every old centre far away: retirements and a merge
    _, moved = learner.snapshot(msgspec.structs.replace(first, centers=far))
    raw = [{"version": 1, **e} for e in births + moved]
    assert {e["event"] for e in raw} == {"birth", "retirement", "merge"}
    schema = json_schemas()["cluster-events"]
    for event in raw:
        Draft202012Validator(schema).validate(json.loads(encode(event)))
        assert msgspec.to_builtins(msgspec.json.decode(encode(event), type=ClusterEvent)) == event


def test_the_input_structs_are_the_codecs() -> None:
    for name, t in TOPICS.items():
        if t.action == "receive":
            assert INPUT_SCHEMAS[t.setting] is t.struct and issubclass(t.struct, Event), name


def test_the_contracts_command_writes_the_generated_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSTREAM_TOPIC_SUFFIX", "-t1")
    result = CliRunner().invoke(cli, ["contracts", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    written = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "c").iterdir()}
    expected = {"asyncapi.json": asyncapi(Settings(topic_suffix="-t1"))}
    expected |= {f"{topic}.schema.json": schema for topic, schema in json_schemas().items()}
    assert written == expected
    assert written["asyncapi.json"]["channels"]["dlq"]["address"] == "dlq-t1"


def test_the_contracts_command_refuses_a_file_as_its_directory_in_one_line(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(cli, ["contracts", "--out", str(target)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "is not a directory" in result.output, result.output
