"""A corpus of malformed input events, one per kind, with the reason each must be rejected for.

Pure data (no Kafka, no Redis): ``tests/unit/streams/test_codec_corpus.py`` runs every entry
through :class:`~segstream.streams.codec.EventCodec` and ``tests/integration/test_bad_input.py``
through a real worker. Entries must therefore hold for any wall-clock time from mid-2024 on:
valid timestamps are in 2024, "future" ones far ahead (year 3000; 2200 for a contract end,
which may lie 50 years ahead). Codec settings are the defaults (16,384 bytes, USD, from 1990).
Every value stays well under Kafka's 1 MB message limit.
"""

from __future__ import annotations

import json

TS = "2024-05-01T08:00:00+08:00"
TOPICS = ("purchases", "usage", "feedback", "profiles")

#: The fields each topic needs besides ``event_id``, ``customer_id`` and ``ts``.
_REQUIRED: dict[str, dict[str, object]] = {
    "purchases": {"amount": 9.99},
    "usage": {"action": "login"},
    "feedback": {"kind": "nps", "score": 9},
    "profiles": {"industry": "retail"},
}


def fields(topic: str, **over: object) -> dict[str, object]:
    """A valid event of ``topic`` as a dict, with ``over`` applied (``...`` drops a field)."""
    d: dict[str, object] = {"event_id": "bad", "customer_id": "c-bad", "ts": TS, **_REQUIRED[topic]}
    d.update(over)
    return {k: v for k, v in d.items() if v is not ...}


def event(topic: str, **over: object) -> bytes:
    """The JSON bytes of :func:`fields` (non-ASCII kept as UTF-8)."""
    return json.dumps(fields(topic, **over), ensure_ascii=False).encode()


def spliced(topic: str, raw: dict[str, bytes], **over: object) -> bytes:
    """An event whose fields in ``raw`` are spliced in as raw JSON text, replacing any valid ones.

    For what ``json.dumps`` will not write: deep nesting, NaN in odd places, lone surrogates.
    """
    d = fields(topic, **over)
    for k in raw:
        d.pop(k, None)
    head = json.dumps(d, ensure_ascii=False).encode()[:-1]
    return head + b"".join(b"," + json.dumps(k).encode() + b":" + v for k, v in raw.items()) + b"}"


def nested(depth: int, leaf: bytes = b"1", kind: str = "[") -> bytes:
    """``leaf`` inside ``depth`` arrays (``kind="["``) or single-key objects (``kind="{"``)."""
    if kind == "[":
        return b"[" * depth + leaf + b"]" * depth
    return b'{"a":' * depth + leaf + b"}" * depth


RAW_P = b'{"event_id":"bad","customer_id":"c-bad","ts":"2024-05-01T00:00:00Z","amount":%s}'
DEEP = nested(1000, b"")  # 2 KB of brackets: once a RecursionError inside the worker

#: (topic, value, expected reason): each a distinct kind of bad input
CORPUS: list[tuple[str, bytes | None, str]] = [
    # ---------------------------------------------------------------- size, emptiness
    ("purchases", b"", "empty"),
    ("purchases", None, "empty"),
    ("usage", None, "empty"),
    ("purchases", event("purchases", coupon="x" * 20_000), "too_large"),
    ("purchases", spliced("purchases", {"k" * 100_000: b"1"}), "too_large"),  # a 100k-character key
    ("usage", spliced("usage", {"x": b"[" + b"0," * 200_000 + b"0]"}), "too_large"),  # 200k-element array
    ("feedback", event("feedback", kind="complaint", score=..., text="很" * 6_000), "too_large"),  # 18 KB of CJK
    # ---------------------------------------------------------------- nesting, in every position
    ("purchases", spliced("purchases", {"x": DEEP}), "too_deep"),  # the unknown field of the 2 KB defect
    ("purchases", spliced("purchases", {"x": nested(1000, b"1", "{")}), "too_deep"),
    ("purchases", spliced("purchases", {"x": nested(32)}), "too_deep"),  # 33 levels with the event: one too many
    ("purchases", spliced("purchases", {"event_id": DEEP}), "too_deep"),
    ("purchases", spliced("purchases", {"customer_id": nested(1000, b'"c"')}), "too_deep"),
    ("purchases", spliced("purchases", {"ts": nested(1000, json.dumps(TS).encode())}), "too_deep"),
    ("purchases", spliced("purchases", {"amount": nested(1000, b"1", "{")}), "too_deep"),
    ("purchases", spliced("purchases", {"items": DEEP}), "too_deep"),
    ("purchases", spliced("purchases", {"channel": nested(500, b'"online"')}), "too_deep"),
    ("purchases", nested(1000, b"{}"), "too_deep"),  # the whole event buried in arrays
    ("purchases", b"[" * 5_000, "too_deep"),  # unclosed: refused before parsing finds it broken
    ("usage", spliced("usage", {"action": nested(100, b'"login"')}), "too_deep"),
    ("usage", spliced("usage", {"quantity": DEEP}), "too_deep"),
    ("usage", spliced("usage", {"meta": nested(2_000, b"null", "{")}), "too_deep"),
    ("feedback", spliced("feedback", {"score": DEEP}), "too_deep"),
    ("feedback", spliced("feedback", {"text": nested(64, b'"meh"')}), "too_deep"),
    ("profiles", spliced("profiles", {"signup_date": nested(1000, b'"2020-01-01T00:00:00Z"')}), "too_deep"),
    ("profiles", spliced("profiles", {"contract": nested(1000, b"true", "{")}), "too_deep"),
    ("profiles", spliced("profiles", {"tags": b"[" + b"[[[[[[[[" * 5 + b"]]]]]]]]" * 5 + b"]"}), "too_deep"),
    # ---------------------------------------------------------------- bytes and text encoding
    ("purchases", b"\xff\xfe\xfd", "not_utf8"),
    ("purchases", b'{"event_id":"\xff","customer_id":"c","ts":"2024-05-01T00:00:00Z","amount":1}', "not_utf8"),
    ("purchases", event("purchases", customer_id="café").replace("é".encode(), b"\xe9"), "not_utf8"),  # Latin-1
    ("purchases", spliced("purchases", {"customer_id": b'"\xed\xa0\x80"'}), "not_utf8"),  # surrogate as UTF-8 bytes
    ("purchases", spliced("purchases", {"customer_id": b'"\xc0\xaf"'}), "not_utf8"),  # overlong encoding of "/"
    ("usage", json.dumps(fields("usage")).encode("utf-16"), "not_utf8"),  # UTF-16 with its BOM
    ("purchases", spliced("purchases", {"customer_id": b'"\\ud800"'}), "invalid_encoding"),  # was non_finite_number
    ("purchases", spliced("purchases", {"event_id": b'"\\udc00"'}), "invalid_encoding"),  # lone low half
    ("purchases", spliced("purchases", {"customer_id": b'"\\ude00\\ud83d"'}), "invalid_encoding"),  # halves swapped
    ("usage", spliced("usage", {"action": b'"log\\ud83din"'}), "invalid_encoding"),
    ("feedback", spliced("feedback", {"text": b'"ok \\ud83d"'}), "invalid_encoding"),
    ("profiles", event("profiles")[:-1] + b',"\\ud800":1}', "invalid_encoding"),  # last key: msgspec says truncated
    # ---------------------------------------------------------------- not JSON
    ("purchases", b"{oops", "not_json"),
    ("purchases", b"   \n", "not_json"),
    ("purchases", event("purchases")[:-9], "not_json"),  # truncated
    ("purchases", b"\xef\xbb\xbf" + event("purchases"), "not_json"),  # UTF-8 byte order mark
    ("purchases", event("purchases") + b" trailing", "not_json"),
    ("purchases", event("purchases") + event("purchases"), "not_json"),  # two documents in one message
    ("usage", event("usage")[:-1] + b", /* note */}", "not_json"),
    ("usage", event("usage") + b" // note", "not_json"),
    ("feedback", event("feedback")[:-1] + b",}", "not_json"),  # trailing comma
    ("feedback", b"{'event_id': 'f', 'customer_id': 'c', 'kind': 'nps'}", "not_json"),  # Python repr
    ("profiles", b'{event_id:"r",customer_id:"c",ts:"2024-05-01T00:00:00Z"}', "not_json"),  # bare keys
    ("purchases", spliced("purchases", {"customer_id": b'"c\x01d"'}), "not_json"),  # raw control character
    ("purchases", spliced("purchases", {"customer_id": b'"c\x00d"'}), "not_json"),  # raw NUL
    ("purchases", RAW_P % b"0x10", "not_json"),
    ("purchases", RAW_P % b"010", "not_json"),
    ("purchases", RAW_P % b"+1", "not_json"),
    ("purchases", RAW_P % b".5", "not_json"),
    ("purchases", RAW_P % b"Nope", "not_json"),  # starts like NaN, is not
    # ---------------------------------------------------------------- NaN and Infinity
    ("purchases", RAW_P % b"NaN", "non_finite_number"),
    ("purchases", RAW_P % b"-Infinity", "non_finite_number"),
    ("purchases", RAW_P % b"nan", "non_finite_number"),  # Python's float repr
    ("purchases", spliced("purchases", {"x": b"[1, Infinity]"}), "non_finite_number"),  # even where ignored
    ("feedback", spliced("feedback", {"score": b"NaN"}), "non_finite_number"),
    ("usage", spliced("usage", {"duration_s": b"inf"}), "non_finite_number"),
    # ---------------------------------------------------------------- shape and types
    ("purchases", b"[1, 2, 3]", "wrong_type"),
    ("purchases", b'"hello"', "wrong_type"),
    ("purchases", b"42", "wrong_type"),
    ("purchases", b"null", "wrong_type"),
    ("purchases", event("purchases", customer_id=12345), "wrong_type"),
    ("purchases", event("purchases", customer_id=None), "wrong_type"),
    ("purchases", event("purchases", customer_id=["c"]), "wrong_type"),
    ("purchases", event("purchases", customer_id={"id": "c"}), "wrong_type"),
    ("purchases", event("purchases", amount="9.99"), "wrong_type"),
    ("purchases", event("purchases", amount=True), "wrong_type"),
    ("purchases", event("purchases", items=2.5), "wrong_type"),
    ("purchases", event("purchases", items=[1] * 5_000), "wrong_type"),  # a huge array that fits
    ("purchases", event("purchases", ts=1714521600), "wrong_type"),
    ("purchases", event("purchases", ts=""), "wrong_type"),
    ("purchases", event("purchases", ts="2024-05-01"), "wrong_type"),  # a date, no time
    ("purchases", event("purchases", ts="2024-13-45T00:00:00Z"), "wrong_type"),
    ("purchases", event("purchases", ts="2024-02-30T00:00:00Z"), "wrong_type"),
    ("purchases", event("purchases", ts="2024-05-01T24:00:00Z"), "wrong_type"),
    ("purchases", event("purchases", ts="2016-12-31T23:59:60Z"), "wrong_type"),  # leap second: no datetime holds it
    ("purchases", event("purchases", ts="2024-05-01T00:00:00+99:99"), "wrong_type"),
    ("usage", event("usage", quantity="NaN"), "wrong_type"),
    ("feedback", event("feedback", score="5"), "wrong_type"),
    ("profiles", event("profiles", contract="yes"), "wrong_type"),
    # ---------------------------------------------------------------- missing fields
    ("purchases", b"{}", "missing_field"),
    ("purchases", event("purchases", customer_id=...), "missing_field"),
    ("purchases", event("purchases", event_id=...), "missing_field"),
    ("purchases", event("purchases", ts=...), "missing_field"),
    ("purchases", event("purchases", amount=...), "missing_field"),
    ("usage", event("usage", action=...), "missing_field"),
    ("feedback", event("feedback", kind=...), "missing_field"),
    ("profiles", event("profiles", customer_id=...), "missing_field"),
    # ---------------------------------------------------------------- constraints, odd ids
    ("purchases", event("purchases", customer_id=""), "invalid_value"),
    ("purchases", event("purchases", customer_id="x" * 10_000), "invalid_value"),
    ("purchases", event("purchases", customer_id="x" * 129), "invalid_value"),  # one over the limit
    ("purchases", event("purchases", customer_id="😀" * 129), "invalid_value"),  # code points, not bytes
    ("purchases", event("purchases", customer_id="a\u0000b"), "invalid_value"),  # NUL, escaped
    ("purchases", event("purchases", event_id="e\t1"), "invalid_value"),
    ("usage", event("usage", customer_id="c\u007f"), "invalid_value"),  # DEL
    ("feedback", event("feedback", customer_id="c\u0085"), "invalid_value"),  # C1 control (NEL)
    ("profiles", event("profiles", event_id="\n"), "invalid_value"),
    (
        "purchases",
        b'{"event_id":"bad","customer_id":"c","customer_id":"","ts":"2024-05-01T00:00:00Z","amount":1}',
        "invalid_value",  # duplicate keys: the last one wins, and it is empty
    ),
    ("purchases", RAW_P % b"1e999", "invalid_value"),
    ("purchases", event("purchases", channel="carrier_pigeon"), "invalid_value"),
    ("purchases", event("purchases", items=-2), "invalid_value"),
    ("purchases", event("purchases", items=2**70), "invalid_value"),  # beyond 64 bits
    ("purchases", event("purchases", currency="US"), "invalid_value"),
    ("usage", event("usage", action="a" * 129), "invalid_value"),
    ("feedback", event("feedback", kind="tweet", score=3), "invalid_value"),
    ("feedback", event("feedback", channel="pigeon"), "invalid_value"),
    ("feedback", event("feedback", kind="complaint", score=..., text="x" * 2_001), "invalid_value"),
    ("feedback", spliced("feedback", {"score": b"1e400"}), "invalid_value"),
    ("profiles", event("profiles", city_tier=9), "invalid_value"),
    ("profiles", event("profiles", city_tier=0), "invalid_value"),
    ("profiles", event("profiles", company_size="huge"), "invalid_value"),
    ("profiles", event("profiles", kind="robot"), "invalid_value"),
    ("profiles", event("profiles", name="n" * 200), "invalid_value"),
    ("profiles", event("profiles", attributes={"Tier": "gold"}), "invalid_value"),  # custom names are lower case
    ("profiles", event("profiles", attributes={"tier": "g" * 65}), "invalid_value"),
    ("profiles", event("profiles", attributes={f"k{i}": i for i in range(17)}), "invalid_value"),
    ("profiles", event("profiles", attributes={"tier": ["gold"]}), "wrong_type"),
    # ---------------------------------------------------------------- time
    ("purchases", event("purchases", ts="2024-05-01T08:00:00"), "no_timezone"),
    ("usage", event("usage", ts="2024-05-01T08:00:00.123456"), "no_timezone"),
    ("profiles", event("profiles", signup_date="2020-01-01T00:00:00"), "no_timezone"),
    ("profiles", event("profiles", renewal_date="2030-01-01T00:00:00"), "no_timezone"),
    ("purchases", event("purchases", ts="1900-01-01T00:00:00+00:00"), "timestamp_out_of_range"),
    ("purchases", event("purchases", ts="3000-01-01T00:00:00+00:00"), "timestamp_out_of_range"),
    ("purchases", event("purchases", ts="0001-01-01T00:00:00+23:59"), "timestamp_out_of_range"),  # calendar's edge
    ("purchases", event("purchases", ts="9999-12-31T23:59:59.999999-23:59"), "timestamp_out_of_range"),
    ("usage", event("usage", ts="1989-12-31T23:59:59Z"), "timestamp_out_of_range"),
    ("feedback", event("feedback", ts="3000-01-01T00:00:00+14:00"), "timestamp_out_of_range"),
    ("profiles", event("profiles", signup_date="3000-01-01T00:00:00Z"), "timestamp_out_of_range"),
    ("profiles", event("profiles", renewal_date="2200-01-01T00:00:00Z"), "timestamp_out_of_range"),
    # ---------------------------------------------------------------- amounts, currency, scores
    ("purchases", event("purchases", amount=-1), "bad_amount"),
    ("purchases", event("purchases", amount=1e300), "bad_amount"),
    ("purchases", RAW_P % b"1e308", "bad_amount"),
    ("purchases", RAW_P % b"100000000000000000000000", "bad_amount"),  # an integer beyond 64 bits
    ("purchases", event("purchases", discount=-3), "bad_amount"),
    ("usage", event("usage", quantity=-1), "bad_amount"),
    ("usage", event("usage", duration_s=1e13), "bad_amount"),
    ("purchases", event("purchases", currency="EUR"), "unsupported_currency"),
    ("feedback", event("feedback", score=11), "bad_score"),
    ("feedback", event("feedback", kind="complaint", score=9), "bad_score"),  # a severity is 1-5
    ("feedback", event("feedback", score=-1), "bad_score"),
    ("feedback", event("feedback", kind="csat", score=0), "bad_score"),
    ("feedback", event("feedback", kind="review", score=5.5), "bad_score"),
    ("feedback", event("feedback", score=...), "bad_score"),
    ("feedback", event("feedback", score=None), "bad_score"),
]

#: Odd but valid events: they must be applied, not dead-lettered.
VALID_ODD: list[tuple[str, bytes]] = [
    ("purchases", event("purchases", customer_id="客户-北京-001")),
    ("purchases", event("purchases", customer_id="顧客🙂👨‍👩‍👧‍👦")),  # emoji, a ZWJ sequence
    ("purchases", event("purchases", customer_id="abc\u202eexe.txt")),  # RTL override: odd, but text
    ("purchases", event("purchases", customer_id="عميل-٤٢")),
    ("purchases", event("purchases", customer_id="e\u0301\u200b\u3000x")),  # combining mark, zero-width, wide space
    ("purchases", json.dumps(fields("purchases", customer_id="😀-Ω")).encode()),  # escaped surrogate pair
    ("purchases", event("purchases", customer_id="x" * 64, event_id="e" * 64)),
    ("purchases", event("purchases", customer_id="x" * 128, event_id="e" * 128)),  # at the limit
    ("purchases", event("purchases", customer_id="😀" * 128)),  # 128 code points, 512 bytes
    ("purchases", event("purchases", ts="2024-05-01T08:00:00+14:00")),
    ("purchases", event("purchases", ts="2024-05-01T08:00:00-12:00")),
    ("purchases", event("purchases", ts="2024-05-01T08:00:00-00:00")),
    ("purchases", event("purchases", ts="2024-05-01t08:00:00.123456789z")),  # lower case, nanoseconds
    ("purchases", event("purchases", ts="2024-05-01 08:00:00Z")),  # RFC 3339 allows the space
    ("purchases", RAW_P % b"-0"),
    ("purchases", RAW_P % b"0.0e0"),
    ("purchases", event("purchases", amount=1e12, discount=0)),
    ("purchases", event("purchases", currency="usd")),
    ("purchases", event("purchases", x=nested(31).decode())),  # brackets inside a string do not nest
    ("purchases", spliced("purchases", {"x": nested(31)})),  # 32 levels with the event: at the limit
    ("purchases", spliced("purchases", {"x": b'"' + b"[{" * 5_000 + b'"'})),
    ("purchases", spliced("purchases", {"x": b"[" + b"[]," * 3_000 + b"[]]"})),  # wide, shallow
    ("purchases", spliced("purchases", {"k" * 10_000: b"1"})),  # a long unknown key that fits
    (  # 40 line items: 120 brackets, some inside strings next to escaped quotes
        "purchases",
        event("purchases", lines=[{"sku": f"s{i}", "tags": ["a"], "note": 'say "hi" [x]\\'} for i in range(40)]),
    ),
    ("purchases", spliced("purchases", {"x": b"9" * 5_000})),  # an ignored 5,000-digit integer
    ("purchases", b'{"event_id":"e","customer_id":"c","customer_id":"d","ts":"2024-05-01T00:00:00Z","amount":1}'),
    ("purchases", event("purchases") + b" \r\n\t"),
    ("usage", event("usage", action="搜索", service="🔍", customer_id="用户_42")),
    ("feedback", event("feedback", kind="complaint", score=..., text="太慢了\n\t😡")),  # newline and tab in free text
    ("feedback", event("feedback", kind="review", score=1)),
    ("profiles", event("profiles", name="上海某某科技有限公司", city="上海", city_tier=1, contract=True)),
    ("profiles", event("profiles", renewal_date="2060-01-01T00:00:00+08:00")),
]
