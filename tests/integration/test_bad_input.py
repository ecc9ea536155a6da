"""The bad-input corpus (tests/corpus.py, 65+ kinds), each between valid ones, through a real worker."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable

from kafka import KafkaProducer

from segstream.config import Settings
from tests.corpus import CORPUS, TS
from tests.integration.harness import WorkerProcess, consume, metrics, read_store, wait_for_counts


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
    assert len({(t, v) for t, v, _ in CORPUS}) == len(CORPUS) >= 65
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
