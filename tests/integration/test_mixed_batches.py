"""Hypothesis-made batches that mix valid events and hostile messages, through one real worker.

Every valid event must be applied (its customer's purchases add up by hand) and every hostile
message must be in the dead-letter topic with its bytes and its own reason, whatever else
shares its batch and partition. Each example uses customers of its own, so the examples can
share one worker; the counters it checks are cumulative.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from segstream.config import Settings
from tests.corpus import CORPUS, TS
from tests.integration.harness import WorkerProcess, every_record, read_store, wait_until

TOPICS = ("purchases", "usage", "feedback", "profiles")
EXTRA: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "purchases": st.fixed_dictionaries({"amount": st.integers(1, 10**7).map(lambda c: c / 100)}),
    "usage": st.fixed_dictionaries({"action": st.sampled_from(["login", "search", "export", "登录"])}),
    "feedback": st.fixed_dictionaries({"kind": st.just("nps"), "score": st.integers(0, 10)}),
    "profiles": st.fixed_dictionaries(
        {"industry": st.sampled_from(["retail", "制造业"]), "city_tier": st.integers(1, 3)}
    ),
}

#: one message: ("valid", topic, customer index, extra fields) or ("bad", corpus index)
valid_message = st.sampled_from(TOPICS).flatmap(
    lambda t: st.tuples(st.just("valid"), st.just(t), st.integers(0, 5), EXTRA[t])
)
bad_message = st.tuples(st.just("bad"), st.integers(0, len(CORPUS) - 1))
batches = st.lists(st.one_of(valid_message, bad_message), min_size=1, max_size=60)


def test_mixed_batches_apply_every_valid_event_and_dead_letter_every_hostile_one_with_its_reason(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], producer: KafkaProducer
) -> None:
    s = make_settings(batch_size=8)  # small batches: many of them hold valid and hostile messages together
    proc = start_worker(s)

    @settings(max_examples=12, deadline=None, database=None)
    @given(batch=batches)
    def one_batch(batch: list[tuple[Any, ...]]) -> None:
        check(s, proc, producer, batch)

    one_batch()


def check(s: Settings, proc: WorkerProcess, producer: KafkaProducer, batch: list[tuple[Any, ...]]) -> None:
    run = uuid.uuid4().hex[:8]
    before = read_store(s, lambda store: store.stats())
    sent: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    spend: Counter[str] = Counter()
    bought: Counter[str] = Counter()
    hostile: dict[tuple[str, int, int], tuple[bytes, str]] = {}
    for i, msg in enumerate(batch):
        if msg[0] == "valid":
            _, topic, n, extra = msg
            cid = f"{run}-客户-{n}"
            value = json.dumps(
                {"event_id": f"{run}-{i}", "customer_id": cid, "ts": TS, **extra}, ensure_ascii=False
            ).encode()
            producer.send(s.topic(topic), key=cid.encode(), value=value)
            sent[topic] += 1
            if topic == "purchases":
                spend[cid] += round(extra["amount"] * 100)
                bought[cid] += 1
        else:
            topic, raw, reason = CORPUS[msg[1]]
            key = f"{run}-客户-{i % 6}".encode()  # in the partitions of the valid events
            md = producer.send(s.topic(topic), key=key, value=raw).get(timeout=30)
            hostile[(md.topic, md.partition, md.offset)] = (raw or b"", reason)
            reasons[reason] += 1
    producer.flush()

    want = {f"events:{t}": before.get(f"events:{t}", 0) + n for t, n in sent.items()}
    want |= {f"dlq:{r}": before.get(f"dlq:{r}", 0) + n for r, n in reasons.items()}

    def done() -> bool:
        now = read_store(s, lambda store: store.stats())
        return all(now.get(k, 0) >= v for k, v in want.items())

    wait_until(done, 30, f"{sum(sent.values())} valid events applied and {len(hostile)} dead-lettered")
    after = read_store(s, lambda store: store.stats())
    assert {k: after.get(k, 0) for k in want} == want  # nothing more: no valid event dead-lettered
    assert all(after.get(k, 0) == v for k, v in before.items() if k.startswith("dlq:") and k not in want)

    for cid, count in bought.items():
        p = read_store(s, lambda store, cid=cid: store.get(cid)).purchases
        assert (p.count, p.spend_minor) == (count, spend[cid]), cid

    letters = {
        (e["topic"], e["partition"], e["offset"]): e for e in map(json.loads, (r.value for r in every_record(s, "dlq")))
    }
    for pos, (raw, reason) in hostile.items():
        env = letters[pos]
        assert (env["reason"], base64.b64decode(env["value"])) == (reason, raw), (env["detail"], raw[:80])
    assert proc.proc.poll() is None
