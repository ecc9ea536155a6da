"""A corpus of malformed events, each between valid ones, through a real worker."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable

from kafka import KafkaProducer

from segstream.config import Settings
from tests.integration.harness import WorkerProcess, consume, metrics, read_store, wait_for_counts

TS = "2024-05-01T08:00:00+08:00"


def j(**fields: object) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def purchase(**over: object) -> bytes:
    d: dict[str, object] = {"event_id": "bad", "customer_id": "c-bad", "ts": TS, "amount": 9.99}
    d.update(over)
    return json.dumps({k: v for k, v in d.items() if v is not ...}, ensure_ascii=False).encode()


RAW_P = b'{"event_id":"bad","customer_id":"c-bad","ts":"2024-05-01T00:00:00Z","amount":%s}'

#: (topic, value, expected reason): 41 distinct kinds of bad input
CORPUS: list[tuple[str, bytes | None, str]] = [
    ("purchases", b"{oops", "not_json"),
    ("purchases", b"\xff\xfe\xfd", "not_utf8"),
    ("purchases", b'{"event_id":"\xff","customer_id":"c","ts":"2024-05-01T00:00:00Z","amount":1}', "not_utf8"),
    ("purchases", b"", "empty"),
    ("purchases", None, "empty"),
    ("purchases", b"[1, 2, 3]", "wrong_type"),
    ("purchases", b'"hello"', "wrong_type"),
    ("purchases", b"42", "wrong_type"),
    ("purchases", purchase(customer_id=...), "missing_field"),
    ("purchases", purchase(event_id=...), "missing_field"),
    ("purchases", purchase(ts=...), "missing_field"),
    ("purchases", purchase(amount=...), "missing_field"),
    ("purchases", purchase(customer_id=""), "invalid_value"),
    ("purchases", purchase(customer_id="x" * 10_000), "invalid_value"),
    ("purchases", purchase(customer_id=12345), "wrong_type"),
    ("purchases", purchase(amount="9.99"), "wrong_type"),
    ("purchases", purchase(amount=-1), "bad_amount"),
    ("purchases", RAW_P % b"NaN", "non_finite_number"),
    ("purchases", RAW_P % b"-Infinity", "non_finite_number"),
    ("purchases", RAW_P % b"1e999", "invalid_value"),
    ("purchases", purchase(amount=1e300), "bad_amount"),
    ("purchases", purchase(ts="2024-05-01T08:00:00"), "no_timezone"),
    ("purchases", purchase(ts="1900-01-01T00:00:00+00:00"), "timestamp_out_of_range"),
    ("purchases", purchase(ts="3000-01-01T00:00:00+00:00"), "timestamp_out_of_range"),
    ("purchases", purchase(ts="2024-13-45T00:00:00Z"), "wrong_type"),
    ("purchases", purchase(ts=1714521600), "wrong_type"),
    ("purchases", purchase(currency="EUR"), "unsupported_currency"),
    ("purchases", purchase(channel="carrier_pigeon"), "invalid_value"),
    ("purchases", purchase(items=-2), "invalid_value"),
    ("purchases", purchase(coupon="x" * 20_000), "too_large"),
    ("purchases", purchase(discount=-3), "bad_amount"),
    ("usage", j(event_id="u", customer_id="c", ts=TS, action="login", quantity=-1), "bad_amount"),
    ("usage", j(event_id="u", customer_id="c", ts=TS), "missing_field"),
    ("feedback", j(event_id="f", customer_id="c", ts=TS, kind="nps", score=11), "bad_score"),
    ("feedback", j(event_id="f", customer_id="c", ts=TS, kind="nps", score=-1), "bad_score"),
    ("feedback", j(event_id="f", customer_id="c", ts=TS, kind="csat", score=0), "bad_score"),
    ("feedback", j(event_id="f", customer_id="c", ts=TS, kind="nps"), "bad_score"),
    ("feedback", j(event_id="f", customer_id="c", ts=TS, kind="tweet", score=3), "invalid_value"),
    ("profiles", j(event_id="r", customer_id="c", ts=TS, city_tier=9), "invalid_value"),
    ("profiles", j(event_id="r", customer_id="c", ts=TS, company_size="huge"), "invalid_value"),
    ("profiles", j(event_id="r", customer_id="c", ts=TS, signup_date="2020-01-01T00:00:00"), "no_timezone"),
]


def valid(topic: str, n: int) -> bytes:
    base: dict[str, object] = {"event_id": f"ok-{topic}-{n}", "customer_id": f"客户-{n % 7}", "ts": TS}
    extra: dict[str, dict[str, object]] = {
        "purchases": {"amount": 10 + n},
        "usage": {"action": "search"},
        "feedback": {"kind": "nps", "score": n % 11},
        "profiles": {"industry": "制造业", "city": "上海", "city_tier": 1},
    }
    return json.dumps(base | extra[topic], ensure_ascii=False).encode()


def test_every_kind_of_bad_input_reaches_the_dead_letter_topic_and_valid_events_apply(
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
    producer: KafkaProducer,
) -> None:
    assert len({(t, v) for t, v, _ in CORPUS}) == len(CORPUS) >= 30
    s = make_settings(batch_size=16)
    worker = start_worker(s)
    positions: dict[tuple[str, int, int], tuple[bytes | None, str]] = {}
    sent_valid: Counter[str] = Counter()
    for i, (topic, value, reason) in enumerate(CORPUS):
        name = s.topic(topic)
        md = producer.send(name, key=f"k{i % 3}".encode(), value=value).get(timeout=30)
        positions[(name, md.partition, md.offset)] = (value, reason)
        producer.send(name, key=f"k{i % 3}".encode(), value=valid(topic, i)).get(timeout=30)
        sent_valid[topic] += 1

    wait_for_counts(s, dict(sent_valid))
    letters = consume(s, "dlq", len(CORPUS))
    assert len(letters) == len(CORPUS)
    for rec in letters:
        env = json.loads(rec.value)
        value, reason = positions.pop((env["topic"], env["partition"], env["offset"]))
        assert env["reason"] == reason, (env["detail"], value[:80] if value else value)
        assert base64.b64decode(env["value"]) == (value or b"")
    assert positions == {}

    stats = read_store(s, lambda st: st.stats())
    assert {k[4:]: v for k, v in stats.items() if k.startswith("dlq:")} == dict(Counter(r for _, _, r in CORPUS))
    assert {k: stats[f"events:{k}"] for k in sent_valid} == dict(sent_valid)
    assert worker.proc.poll() is None
    assert "Crashed" not in worker.log()
    m = metrics(s)
    assert sum(v for k, v in m.items() if k.startswith("segstream_dead_letters_total")) == len(CORPUS)
    assert sum(v for k, v in m.items() if k.startswith("segstream_events_total") and 'outcome="applied"' in k) == sum(
        sent_valid.values()
    )
