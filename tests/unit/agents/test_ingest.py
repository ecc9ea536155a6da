"""The batch consumer's own logic, with a stand-in consumer (no Kafka): fair shares, commits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from segstream.agents.ingest import Ingest
from segstream.config import Settings


class FakeConsumer:
    """Buffered records per partition, served like aiokafka's getmany."""

    def __init__(self, buffered: dict[TopicPartition, list[Any]]) -> None:
        self.buffered = buffered
        self.committed: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.buffered)

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None):
        out = {}
        left = max_records or 10**9
        for tp in partitions or list(self.buffered):
            take, self.buffered[tp] = self.buffered[tp][:left], self.buffered[tp][left:]
            if take:
                out[tp] = take
                left -= len(take)
            if not left:
                break
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)


def records(topic: str, partition: int, n: int) -> list[Any]:
    return [SimpleNamespace(topic=topic, partition=partition, offset=i, value=b"{}") for i in range(n)]


def ingest(consumer: FakeConsumer, process: Any = None) -> tuple[Ingest, list[Any]]:
    seen: list[Any] = []

    async def default(batch: Any, *_: Any) -> None:
        seen.append({k: len(v) for k, v in batch.items()})

    async def dead_letter_batch(recs: list[Any], exc: BaseException) -> None:
        seen.append(("dlq", len(recs), str(exc)))

    pipeline = SimpleNamespace(
        settings=Settings(event_epoch_s=0),
        process=process or default,
        sink=SimpleNamespace(dead_letter_batch=dead_letter_batch),
    )
    ing = Ingest(pipeline)  # type: ignore[arg-type]
    ing.__dict__["consumer"] = consumer  # the cached property, without a Kafka client
    return ing, seen


async def test_a_batch_takes_an_equal_share_of_every_partition_not_one_partition_drained() -> None:
    usage, purchases = TopicPartition("usage", 0), TopicPartition("purchases", 3)
    consumer = FakeConsumer({usage: records("usage", 0, 5000), purchases: records("purchases", 3, 5000)})
    ing, _ = ingest(consumer)
    batch = await ing._fetch(1000, timeout_ms=0)
    assert {tp: len(v) for tp, v in batch.items()} == {usage: 500, purchases: 500}


async def test_a_partition_with_little_buffered_gives_what_it_has() -> None:
    a, b = TopicPartition("usage", 0), TopicPartition("usage", 1)
    ing, _ = ingest(FakeConsumer({a: records("usage", 0, 10), b: records("usage", 1, 5000)}))
    batch = await ing._fetch(1000, timeout_ms=0)
    assert {tp: len(v) for tp, v in batch.items()} == {a: 10, b: 500}


async def test_offsets_are_committed_after_the_batch_is_processed_one_past_the_last() -> None:
    a, b = TopicPartition("usage", 0), TopicPartition("purchases", 1)
    consumer = FakeConsumer({})
    ing, seen = ingest(consumer)
    ing.kind_of = {"usage": "usage", "purchases": "purchases"}
    await ing._process({a: records("usage", 0, 3), b: records("purchases", 1, 2)})
    assert seen == [{"usage": 3, "purchases": 2}]  # one pass over both topics
    assert consumer.committed == {a: 3, b: 2}


async def test_a_batch_that_raises_is_narrowed_down_to_the_events_that_fail() -> None:
    a, b = TopicPartition("usage", 0), TopicPartition("purchases", 1)
    poison = {("usage", 2), ("purchases", 4)}
    applied: list[tuple[str, int]] = []

    async def fails_on_poison(batch: Any, *_: Any) -> None:
        recs = [(r.topic, r.offset) for rs in batch.values() for r in rs]
        if poison & set(recs):
            raise RecursionError("maximum recursion depth exceeded")
        applied.extend(recs)

    consumer = FakeConsumer({})
    ing, seen = ingest(consumer, fails_on_poison)
    ing.kind_of = {"usage": "usage", "purchases": "purchases"}
    await ing._process({a: records("usage", 0, 5), b: records("purchases", 1, 6)})
    dead = [x for x in seen if x[0] == "dlq"]
    assert dead == [("dlq", 1, "maximum recursion depth exceeded")] * 2
    assert sorted(applied) == sorted(({("usage", i) for i in range(5)} | {("purchases", i) for i in range(6)}) - poison)
    # in order within each partition
    assert [o for t, o in applied if t == "usage"] == [0, 1, 3, 4]
    assert consumer.committed == {a: 5, b: 6}


async def test_a_batch_that_always_raises_dead_letters_each_event_alone_then_commits() -> None:
    a = TopicPartition("usage", 0)

    async def broken(batch: Any, *_: Any) -> None:
        raise RuntimeError("bug")

    consumer = FakeConsumer({})
    ing, seen = ingest(consumer, broken)
    ing.kind_of = {"usage": "usage"}
    await ing._process({a: records("usage", 0, 4)})
    assert seen == [("dlq", 1, "bug")] * 4
    assert consumer.committed == {a: 4}


def stamped(topic: str, partition: int, *events: tuple[str, str]) -> list[Any]:
    return [
        SimpleNamespace(
            topic=topic, partition=partition, offset=i, value=f'{{"ts": "{ts}", "customer_id": "{cid}"}}'.encode()
        )
        for i, (ts, cid) in enumerate(events)
    ]


async def test_behind_the_barrier_offsets_are_committed_up_to_the_first_held_event_only() -> None:
    a = TopicPartition("purchases", 0)
    consumer = FakeConsumer({})
    ing, seen = ingest(consumer)
    ing.kind_of = {"purchases": "purchases"}
    boundary = 86_400_000_000  # 1970-01-02
    batch = {
        a: stamped(
            "purchases", 0,
            ("1970-01-01T05:00:00Z", "c1"),
            ("1970-01-03T00:00:00Z", "c2"),  # past the boundary: held
            ("1970-01-01T06:00:00Z", "c3"),
            ("1970-01-01T07:00:00Z", "c2"),  # behind c2's held event
        )
    }  # fmt: skip
    apply = ing._hold(batch, boundary)
    assert [r.offset for r in apply[a]] == [0, 2]
    await ing._process(apply, defer=True)
    assert consumer.committed == {a: 1}  # a restart must read the held events again
    released = ing._held[a].release(3 * boundary)
    assert [r.offset for r in released] == [1, 3]
    await ing._process({a: released}, defer=True)
    assert consumer.committed == {a: 4}  # everything read is applied
    assert seen == [{"purchases": 2}, {"purchases": 2}]
