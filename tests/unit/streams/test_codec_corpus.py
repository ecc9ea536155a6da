"""Every input is judged alone: the bad-input corpus, odd valid inputs, and fuzzing of decode."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segstream.streams.codec import (
    MAX_DEPTH,
    REASONS,
    EventCodec,
    Rejection,
    lone_surrogate_escape,
    nesting_depth,
)
from segstream.streams.kinds import SCHEMAS as INPUT_SCHEMAS
from segstream.streams.schemas import Purchase
from tests.corpus import CORPUS, TOPICS, TS, VALID_ODD, event, fields, nested, spliced

#: Wall-clock time for the corpus: after its valid 2024 timestamps, long before its "future" ones.
NOW = datetime(2024, 6, 1, tzinfo=UTC)
CODECS = {topic: EventCodec(topic) for topic in TOPICS}
#: Reasons decode itself never gives for a well-understood input.
NOT_FROM_INPUT = {"processing_error", "undecodable", "too_late"}  # too_late: judged against the clock


def judged(topic: str, raw: object) -> object:
    """Decode ``raw``; it must be an event of ``topic`` or a rejection with a known reason."""
    result = CODECS[topic].decode(raw, NOW)  # type: ignore[arg-type]
    if isinstance(result, Rejection):
        assert result.reason in REASONS and result.reason not in NOT_FROM_INPUT, result
        assert result.detail and len(result.detail) <= 500
    else:
        assert type(result) is INPUT_SCHEMAS[topic]
    return result


def reference_depth(raw: bytes) -> int:
    """Most arrays/objects open at once, brackets in strings not counted: the obvious loop.

    As in the codec, a backslash escapes the next byte even outside a string (invalid JSON).
    """
    depth = best = 0
    in_string = escaped = False
    for b in raw:
        if escaped:
            escaped = False
        elif b == 0x5C:
            escaped = True
        elif in_string:
            if b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in b"[{":
            depth += 1
            best = max(best, depth)
        elif b in b"]}":
            depth -= 1
    return best


# --------------------------------------------------------------------------- the corpus


def test_corpus_is_large_distinct_and_spans_every_topic_and_input_reason() -> None:
    assert len(CORPUS) >= 65
    assert len({(topic, value) for topic, value, _ in CORPUS}) == len(CORPUS)
    assert {topic for topic, _, _ in CORPUS} == set(TOPICS)
    reasons = Counter(reason for _, _, reason in CORPUS)
    # a new reason needs corpus entries; one only the pipeline gives belongs in NOT_FROM_INPUT
    assert set(reasons) == set(REASONS) - NOT_FROM_INPUT, set(REASONS) - NOT_FROM_INPUT - set(reasons)
    assert all(len(value) < 900_000 for _, value, _ in CORPUS if value)  # under Kafka's 1 MB


@pytest.mark.parametrize(
    ("topic", "raw", "expected"),
    CORPUS,
    ids=[f"{i:03d}-{topic}-{reason}" for i, (topic, _, reason) in enumerate(CORPUS)],
)
def test_each_corpus_entry_is_rejected_for_its_reason(topic: str, raw: bytes | None, expected: str) -> None:
    result = judged(topic, raw)
    assert isinstance(result, Rejection), result
    assert result.reason == expected, (result.detail, raw[:120] if raw else raw)


@pytest.mark.parametrize(
    ("topic", "raw"), VALID_ODD, ids=[f"{i:02d}-{topic}" for i, (topic, _) in enumerate(VALID_ODD)]
)
def test_odd_but_valid_inputs_decode(topic: str, raw: bytes) -> None:
    result = judged(topic, raw)
    assert not isinstance(result, Rejection), (result, raw[:120])


def test_unicode_ids_come_through_exactly() -> None:
    for cid in ["客户-北京-001", "顧客🙂👨‍👩‍👧‍👦", "abc\u202eexe.txt", "😀" * 128, "x" * 64]:
        ev = judged("purchases", event("purchases", customer_id=cid))
        assert isinstance(ev, Purchase) and ev.customer_id == cid
    ev = judged("purchases", json.dumps(fields("purchases", customer_id="😀")).encode())  # as \ud83d\ude00
    assert isinstance(ev, Purchase) and ev.customer_id == "😀"


def test_far_offsets_keep_the_instant() -> None:
    east = judged("purchases", event("purchases", ts="2024-05-01T14:00:00+14:00"))
    west = judged("purchases", event("purchases", ts="2024-04-30T12:00:00-12:00"))
    assert isinstance(east, Purchase) and isinstance(west, Purchase)
    assert east.ts == west.ts == datetime(2024, 5, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- the two defects


def test_a_2kb_purchase_nested_1000_deep_in_an_unknown_field_is_too_deep() -> None:
    raw = b'{"event_id":"e","customer_id":"c","ts":"2024-05-01T00:00:00Z","amount":1,"x":' + nested(1000, b"") + b"}"
    assert 2_000 < len(raw) < 2_200
    result = judged("purchases", raw)
    assert isinstance(result, Rejection) and result.reason == "too_deep"
    assert "1001" in result.detail


def test_a_lone_surrogate_escape_is_invalid_encoding_not_a_non_finite_number() -> None:
    result = judged("purchases", spliced("purchases", {"customer_id": b'"\\ud800"'}))
    assert isinstance(result, Rejection) and result.reason == "invalid_encoding"
    assert "surrogate" in result.detail


def test_non_finite_number_only_when_a_nan_or_infinity_literal_is_there() -> None:
    head = event("purchases")[:-1]
    for tail in [
        b',"x":"NaN"}x',
        b',"x":Nan0}',
        b',"x":banana}',
        b',"x":["a,nan",nul]}',
        b',"x":"a,nan"x}',
        b',"NaN":1',
    ]:
        result = judged("purchases", head + tail)
        assert isinstance(result, Rejection) and result.reason == "not_json", (tail, result)
    for raw in [b'{"a":1,"b":\\ud800}', b"{NaN:1}"]:
        result = judged("purchases", raw)
        assert isinstance(result, Rejection) and result.reason == "not_json", (raw, result)
    for tail in [b',"x":nan}', b',"x":[1, -Infinity]}', b',"x":{"a":+inf}}']:
        result = judged("purchases", head + tail)
        assert isinstance(result, Rejection) and result.reason == "non_finite_number", (tail, result)


def test_details_say_what_is_wrong() -> None:
    def detail(raw: bytes, topic: str = "purchases") -> str:
        result = judged(topic, raw)
        assert isinstance(result, Rejection)
        return result.detail

    assert "byte order mark" in detail(b"\xef\xbb\xbf" + event("purchases"))
    assert "comment" in detail(event("usage") + b" // note", "usage")
    assert "control character 0x01" in detail(spliced("purchases", {"customer_id": b'"c\x01d"'}))
    assert "U+0000" in detail(event("purchases", customer_id="a\u0000b"))
    assert "NaN or Infinity" in detail(b'{"amount":-Infinity}')


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("kind", ["[", "{"])
@pytest.mark.parametrize("topic", TOPICS)
def test_nesting_up_to_the_limit_is_fine_one_more_is_too_deep(topic: str, kind: str) -> None:
    ok = spliced(topic, {"x": nested(MAX_DEPTH - 1, b"1", kind)})  # the event object is a level too
    assert reference_depth(ok) == MAX_DEPTH
    assert not isinstance(judged(topic, ok), Rejection)
    deep = spliced(topic, {"x": nested(MAX_DEPTH, b"1", kind)})
    result = judged(topic, deep)
    assert isinstance(result, Rejection) and result.reason == "too_deep"


def test_the_depth_limit_is_a_codec_parameter() -> None:
    raw = spliced("purchases", {"x": nested(3)})
    assert isinstance(EventCodec("purchases", max_depth=4).decode(raw, NOW), Purchase)
    result = EventCodec("purchases", max_depth=3).decode(raw, NOW)
    assert isinstance(result, Rejection) and result.reason == "too_deep"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400) | st.lists(st.sampled_from(list(b'[]{}"\\ ,a')), max_size=200).map(bytes))
def test_nesting_depth_agrees_with_the_obvious_loop(raw: bytes) -> None:
    want = reference_depth(raw)
    for limit in (0, 1, 2, 4):
        got = nesting_depth(raw, limit)
        assert (got > limit) == (want > limit)
        if want > limit:
            assert got == want


def test_hostile_16kb_inputs_are_scanned_quickly() -> None:
    head = event("purchases")[:-1] + b',"x":'
    hostile = [
        b"[" * 8_000 + b"]" * 8_000,
        head + b'"' + b"[" * 16_000 + b'"}',
        head + b"[" + b"[]," * 5_000 + b"[]]}",
        head + b'"' + b'\\"[' * 5_000,  # unterminated string full of escaped quotes
        head + b'"\\' + b"{" * 16_000,
    ]
    for raw in hostile:
        start = time.perf_counter()
        judged("purchases", raw[:16_384])
        assert time.perf_counter() - start < 0.25  # linear: about 1 ms; quadratic would take seconds


def test_decode_called_deep_in_the_stack_rejects_rather_than_raises() -> None:
    raw = spliced("purchases", {"x": nested(MAX_DEPTH - 1)})
    frame, here = sys._getframe(), 0
    while frame is not None:
        frame, here = frame.f_back, here + 1

    def at_depth(n: int) -> object:
        return CODECS["purchases"].decode(raw, NOW) if n <= 0 else at_depth(n - 1)

    result = at_depth(sys.getrecursionlimit() - here - 15)  # msgspec needs ~32 more levels
    assert isinstance(result, Purchase) or (isinstance(result, Rejection) and result.reason == "too_deep")


# --------------------------------------------------------------------------- surrogates


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'"\\ud800"', 1),
        (b'"\\udc00"', 1),
        (b'"ok \\ud83d\\ude00 \\ud800"', 17),
        (b'"\\ude00\\ud83d"', 1),
        (b'"\\ud83d\\u0041"', 1),
        (b'"\\\\ud800"', None),  # an escaped backslash, then plain text
        (b'"\\\\\\ud800"', 3),
        (b'"\\ud83d\\ude00"', None),
        (b'"\\u00e9 plain"', None),
    ],
)
def test_lone_surrogate_escapes_are_found(raw: bytes, where: int | None) -> None:
    assert lone_surrogate_escape(raw) == where


# --------------------------------------------------------------------------- nothing escapes decode


class _Raising:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def decode(self, raw: bytes) -> object:
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [ValueError("bad"), OverflowError("date value out of range"), KeyError("k"), TypeError("t"), MemoryError()],
)
def test_an_unforeseen_exception_becomes_an_undecodable_rejection(exc: Exception) -> None:
    codec = EventCodec("purchases")
    codec._decoder = _Raising(exc)  # type: ignore[assignment]
    result = codec.decode(event("purchases"), NOW)
    assert isinstance(result, Rejection) and result.reason == "undecodable"
    assert result.detail.startswith(type(exc).__name__)


def test_a_recursion_error_becomes_too_deep() -> None:
    codec = EventCodec("purchases")
    codec._decoder = _Raising(RecursionError("maximum recursion depth exceeded"))  # type: ignore[assignment]
    result = codec.decode(event("purchases"), NOW)
    assert isinstance(result, Rejection) and result.reason == "too_deep"


def test_a_failing_check_becomes_an_undecodable_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(EventCodec, "_check", boom)
    result = EventCodec("purchases").decode(event("purchases"), NOW)
    assert isinstance(result, Rejection) and result.reason == "undecodable"
    assert result.detail == "OverflowError: date value out of range"


@pytest.mark.parametrize("raw", ["a str", 42, memoryview(b"{}"), [b"{}"]])
def test_values_that_are_not_bytes_are_rejected_not_raised(raw: object) -> None:
    result = CODECS["purchases"].decode(raw, NOW)  # type: ignore[arg-type]
    assert isinstance(result, Rejection) and result.reason in REASONS


any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates included
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and Infinity too
    | any_text
    | st.sampled_from([TS, "2024-05-01T08:00:00", "3000-01-01T00:00:00Z", "nps", "online", "USD", ""])
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=20
)


def dumps(value: object, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)


@st.composite
def deep_values(draw: st.DrawFn, ascii_only: bool) -> str:
    """JSON text nested up to 3,000 levels (arrays, objects or both), beyond what json.dumps writes."""
    leaf = dumps(draw(json_values), ascii_only)
    for opener in draw(st.lists(st.sampled_from("[{"), max_size=3_000)):
        leaf = f"[{leaf}]" if opener == "[" else f'{{"a":{leaf}}}'
    return leaf


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bytes]:
    topic = draw(st.sampled_from(TOPICS))
    ascii_only = draw(st.booleans())
    parts = {k: dumps(v, ascii_only) for k, v in fields(topic).items()} if draw(st.booleans()) else {}
    names = st.sampled_from([*INPUT_SCHEMAS[topic].__struct_fields__, "x"]) | any_text
    for _ in range(draw(st.integers(0, 5))):
        parts[draw(names)] = draw(st.one_of(json_values.map(lambda v: dumps(v, ascii_only)), deep_values(ascii_only)))
    doc = "{" + ",".join(f"{dumps(k, ascii_only)}:{v}" for k, v in parts.items()) + "}"
    wraps = draw(st.just(0) | st.integers(0, 40))  # the event itself inside arrays, now and then
    doc = "[" * wraps + doc + "]" * wraps
    return topic, doc.encode("utf-8", "surrogatepass")  # unpaired surrogates as (invalid) UTF-8 bytes


json_ish_bytes = st.text(st.sampled_from(list('{}[]",:0123456789.eE+- \\utrfalsnNaIiy\x00\x1f\xe9')), max_size=300).map(
    lambda text: text.encode()
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(TOPICS), st.binary(max_size=2_000) | json_ish_bytes)
def test_arbitrary_bytes_never_raise(topic: str, raw: bytes) -> None:
    judged(topic, raw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_arbitrary_json_structures_never_raise_and_deep_ones_are_too_deep(doc: tuple[str, bytes]) -> None:
    topic, raw = doc
    result = judged(topic, raw)
    if len(raw) <= 16_384:
        deep = reference_depth(raw) > MAX_DEPTH
        assert deep == (isinstance(result, Rejection) and result.reason == "too_deep"), (result, raw[:200])


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([(t, v) for t, v, _ in CORPUS if v and len(v) < 4_000] + VALID_ODD),
    st.lists(st.tuples(st.integers(0, 4_000), st.sampled_from(["insert", "delete", "replace"]), st.binary(max_size=3))),
)
def test_mutated_events_never_raise(entry: tuple[str, bytes], edits: list[tuple[int, str, bytes]]) -> None:
    topic, raw = entry
    for pos, op, data in edits:
        pos %= len(raw) + 1
        if op == "insert":
            raw = raw[:pos] + data + raw[pos:]
        elif op == "delete":
            raw = raw[:pos] + raw[pos + 1 :]
        else:
            raw = raw[:pos] + data + raw[pos + len(data) :]
    judged(topic, raw)
