"""`segstream dlq list / replay`: selection, ids, header, tally and idempotency, with fakes
for Kafka and Redis (the real thing: tests/integration/test_dlq_replay.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from segstream.cli import cli
from segstream.config import Settings
from segstream.feeders import dlq
from segstream.feeders.dlq import (
    ALREADY,
    FAILED,
    FOREIGN,
    MATCHED,
    READ,
    RESENT,
    TRUNCATED,
    Letter,
    ReplayError,
    Selection,
    Tally,
    decode_letter,
    input_topics,
    kafka_sender,
    list_rows,
    parse_reasons,
    parse_topics,
    process_chunk,
    read_chunks,
    replay_headers,
    replay_id,
    replay_rows,
    summary_lines,
)
from segstream.state.keys import Keys
from segstream.state.store import Store
from segstream.streams.codec import encode
from segstream.streams.dead_letters import MAX_KEPT_BYTES
from segstream.streams.schemas import DeadLetter

S = Settings(topic_suffix="-x1")
INPUTS = input_topics(S)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def dead(
    reason: str = "unsupported_currency",
    topic: str = "purchases-x1",
    offset: int = 0,
    at: datetime = T0,
    value: bytes = b'{"event_id":"e"}',
    detail: str = "",
) -> DeadLetter:
    return DeadLetter(
        reason=reason,
        detail=detail,
        topic=topic,
        partition=offset % 3,
        offset=offset,
        kafka_ts_ms=None,
        key=f"c{offset}".encode(),
        value=value,
        rejected_at=at,
    )


def letters(*deads: DeadLetter, partition: int = 0, start: int = 0) -> list[Letter | None]:
    return [Letter(partition, start + n, d) for n, d in enumerate(deads)]


@dataclass
class FakeLedger:
    done: dict[str, str] = field(default_factory=dict)
    lookups: int = 0
    records: int = 0

    def replayed(self, ids: Sequence[str]) -> set[str]:
        self.lookups += 1
        return {i for i in ids if i in self.done}

    def record(self, sent: Mapping[str, str]) -> None:
        self.records += 1
        self.done.update(sent)


@dataclass
class Sent:
    calls: list[list[tuple[str, Letter]]] = field(default_factory=list)

    def __call__(self, items: Sequence[tuple[str, Letter]]) -> tuple[dict[str, str], BaseException | None]:
        self.calls.append(list(items))
        return {i: f"{x.dead.topic}/0/{n}" for n, (i, x) in enumerate(items)}, None

    @property
    def letters(self) -> list[Letter]:
        return [x for call in self.calls for _, x in call]


# ---------------------------------------------------------------- decoding and arguments


def test_a_dead_letter_decodes_from_the_envelope_the_worker_writes() -> None:
    d = dead(value=b"\xff\x00 raw bytes")
    letter = decode_letter(2, 41, encode(d))
    assert letter == Letter(2, 41, d)
    assert decode_letter(0, 1, b"{oops") is None
    assert decode_letter(0, 1, None) is None
    assert decode_letter(0, 1, b'{"reason": "x"}') is None  # not an envelope
    naive = encode(d).replace(b"Z", b"")  # rejected_at without an offset: cannot be compared
    assert decode_letter(0, 1, naive) is None


def test_reasons_must_be_known_codes() -> None:
    assert parse_reasons([]) == frozenset()
    assert parse_reasons(["not_json", "unsupported_currency", "not_json"]) == {"not_json", "unsupported_currency"}
    with pytest.raises(ValueError, match=r"unknown reason nope; choose from .*unsupported_currency"):
        parse_reasons(["not_json", "nope"])


def test_topics_are_input_kinds_or_full_names_of_this_deployment() -> None:
    assert INPUTS == {"purchases-x1": "purchases", "usage-x1": "usage", "feedback-x1": "feedback",
                      "profiles-x1": "profiles"}  # fmt: skip
    assert parse_topics(["purchases", "usage-x1"], INPUTS) == {"purchases-x1", "usage-x1"}
    for bad in ("dlq", "purchases-other", "segment_changes"):
        with pytest.raises(ValueError, match=f"unknown topic {bad}; choose purchases, usage"):
            parse_topics([bad], INPUTS)


def test_selection_by_reason_topic_and_rejection_time() -> None:
    everything = Selection()
    assert everything.matches(dead()) and everything.matches(dead(reason="not_json", topic="elsewhere"))
    by_reason = Selection(reasons=frozenset({"not_json", "bad_score"}))
    assert by_reason.matches(dead(reason="bad_score")) and not by_reason.matches(dead())
    by_topic = Selection(topics=frozenset({"usage-x1"}))
    assert by_topic.matches(dead(topic="usage-x1")) and not by_topic.matches(dead())
    window = Selection(since=T0, until=T0 + timedelta(hours=1))
    assert window.matches(dead(at=T0))  # since: inclusive
    assert window.matches(dead(at=T0 + timedelta(minutes=59)))
    assert not window.matches(dead(at=T0 + timedelta(hours=1)))  # until: exclusive
    assert not window.matches(dead(at=T0 - timedelta(microseconds=1)))
    # offsets are compared as instants
    assert window.matches(dead(at=datetime(2025, 3, 1, 20, 30, tzinfo=UTC).astimezone(UTC) - timedelta(hours=8)))
    both = Selection(reasons=frozenset({"not_json"}), topics=frozenset({"usage-x1"}), since=T0)
    assert both.matches(dead(reason="not_json", topic="usage-x1"))
    assert not both.matches(dead(reason="not_json", topic="purchases-x1"))
    with pytest.raises(ValueError, match="is not before --until"):
        Selection(since=T0, until=T0)


def test_the_id_is_the_dlq_position_and_the_source_position() -> None:
    d = dead(offset=1042)
    assert replay_id(Letter(5, 17, d)) == "5/17@purchases-x1/1/1042"
    # the same source event dead-lettered twice, or two events at one dlq position of a
    # recreated topic: different ids
    assert replay_id(Letter(5, 18, d)) != replay_id(Letter(5, 17, d))
    assert replay_id(Letter(5, 17, dead(offset=1043))) != replay_id(Letter(5, 17, d))
    assert replay_headers(Letter(5, 17, d)) == [("segstream-replayed-from", b"5/17")]


# ---------------------------------------------------------------- processing chunks


def test_replay_sends_the_matching_ones_and_a_second_run_sends_none() -> None:
    chunk = letters(
        dead(offset=0),
        dead(offset=1),
        dead(reason="not_json", offset=2),
        dead(topic="usage-x1", reason="bad_amount", offset=3),
    )
    ledger, send = FakeLedger(), Sent()
    first = Tally()
    process_chunk(chunk, Selection(reasons=frozenset({"unsupported_currency"})), INPUTS, ledger, send, first)
    assert [x.offset for x in send.letters] == [0, 1]
    assert set(ledger.done) == {replay_id(x) for x in send.letters}  # type: ignore[arg-type]
    assert (ledger.lookups, ledger.records) == (1, 1)  # one round trip each per chunk
    assert first.read == 4 and first.total(READ) == 4
    assert first.rows[("unsupported_currency", "purchases")].counts == {READ: 2, MATCHED: 2, RESENT: 2}
    assert first.rows[("not_json", "purchases")].counts == {READ: 1}
    assert first.rows[("bad_amount", "usage")].counts == {READ: 1}

    again, send2 = Tally(), Sent()
    process_chunk(chunk, Selection(), INPUTS, ledger, send2, again)  # now everything matches
    assert [x.offset for x in send2.letters] == [2, 3]
    assert again.total(MATCHED) == 4 and again.total(ALREADY) == 2 and again.total(RESENT) == 2

    third, send3 = Tally(), Sent()
    process_chunk(chunk, Selection(), INPUTS, ledger, send3, third)
    assert send3.calls == [] and third.total(ALREADY) == 4 and third.total(RESENT) == 0
    assert summary_lines(third, False) == [
        "read 4 dead letter(s)",
        "matched 4: re-sent 0, already re-sent 4, other topics 0, truncated 0",
    ]


def test_dry_run_counts_without_sending_or_recording() -> None:
    ledger = FakeLedger(done={replay_id(Letter(0, 1, dead(offset=1))): "purchases-x1/0/9"})
    tally = Tally()
    process_chunk(letters(dead(offset=0), dead(offset=1), dead(offset=2)), Selection(), INPUTS, ledger, None, tally)
    assert tally.total(RESENT) == 2 and tally.total(ALREADY) == 1
    assert ledger.records == 0 and len(ledger.done) == 1
    assert summary_lines(tally, True)[1].startswith("matched 3: would re-send 2, already re-sent 1")


def test_other_deployments_topics_truncated_values_and_unreadable_messages_are_skipped_and_counted() -> None:
    big = dead(offset=7, value=b"x" * MAX_KEPT_BYTES, detail="600000 bytes (value truncated from 600000 to 524288)")
    chunk: list[Letter | None] = [
        *letters(dead(topic="purchases", offset=5), dead(topic="purchases-x2", offset=6), big), None,
    ]  # fmt: skip
    ledger, send = FakeLedger(), Sent()
    tally = Tally()
    process_chunk(chunk, Selection(), INPUTS, ledger, send, tally)
    assert send.calls == [] and ledger.lookups == 0 and ledger.records == 0
    assert (tally.read, tally.unreadable) == (4, 1)
    assert tally.rows[("unsupported_currency", "purchases")].counts[FOREIGN] == 1  # topic "purchases", no suffix
    assert tally.rows[("unsupported_currency", "purchases-x2")].counts[FOREIGN] == 1
    assert tally.total(TRUNCATED) == 1 and tally.total(FOREIGN) == 2 and tally.total(MATCHED) == 3
    assert summary_lines(tally, False) == [
        "read 4 dead letter(s), 1 unreadable",
        "matched 3: re-sent 0, already re-sent 0, other topics 2, truncated 1",
    ]
    # a big value the envelope kept whole (no truncation note) is re-sent
    whole = Tally()
    process_chunk(letters(dead(value=b"x" * MAX_KEPT_BYTES, detail="too large")), Selection(), INPUTS, ledger,
                  send, whole)  # fmt: skip
    assert whole.total(RESENT) == 1


def test_a_failed_send_records_what_was_acknowledged_and_stops() -> None:
    def half(items: Sequence[tuple[str, Letter]]) -> tuple[dict[str, str], BaseException | None]:
        return {items[0][0]: "purchases-x1/0/1"}, RuntimeError("MessageSizeTooLargeError")

    ledger, tally = FakeLedger(), Tally()
    chunk = letters(dead(offset=0), dead(offset=1))
    with pytest.raises(ReplayError, match=r"1 dead letter\(s\) not acknowledged by Kafka: MessageSizeTooLarge"):
        process_chunk(chunk, Selection(), INPUTS, ledger, half, tally)
    assert list(ledger.done) == [replay_id(chunk[0])]  # type: ignore[arg-type]
    assert (tally.total(RESENT), tally.total(FAILED)) == (1, 1)
    assert summary_lines(tally, False)[1].endswith("failed 1")

    def interrupted(items: Sequence[tuple[str, Letter]]) -> tuple[dict[str, str], BaseException | None]:
        return {}, KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        process_chunk(letters(dead(offset=9)), Selection(), INPUTS, ledger, interrupted, Tally())


def test_list_rows_keep_the_span_of_rejection_times() -> None:
    tally = Tally()
    chunk = letters(dead(at=T0 + timedelta(days=1)), dead(offset=1, at=T0), dead(offset=2, at=T0 + timedelta(days=2)))
    process_chunk(chunk, Selection(until=T0 + timedelta(days=2)), INPUTS, FakeLedger(), None, tally)
    row = tally.rows[("unsupported_currency", "purchases")]
    assert (row.counts[READ], row.counts[MATCHED], row.first, row.last) == (3, 2, T0, T0 + timedelta(days=1))


def test_the_summary_rows_are_plain_aligned_text_with_every_name_whole() -> None:
    tally = Tally()
    chunk = letters(
        dead(offset=0),
        dead(offset=1, at=T0 + timedelta(hours=3)),
        dead(offset=2, reason="timestamp_out_of_range", topic="purchases-other"),
        dead(offset=3, reason="not_json"),
    )
    process_chunk(chunk, Selection(reasons=frozenset({"unsupported_currency", "timestamp_out_of_range"})), INPUTS,
                  FakeLedger(), None, tally)  # fmt: skip
    assert replay_rows(tally, True) == [
        "reason                  topic            read  matched  would re-send  already re-sent  other topic",
        "not_json                purchases           1        0              0                0            0",
        "timestamp_out_of_range  purchases-other     1        1              0                0            1",
        "unsupported_currency    purchases           2        2              2                0            0",
    ]
    head, *rows = list_rows(tally)
    assert re.split(r"\s{2,}", head) == ["reason", "topic", "dead letters", "already re-sent",
                                         "first rejected (UTC)", "last rejected (UTC)"]  # fmt: skip
    assert [r.split() for r in rows] == [
        ["timestamp_out_of_range", "purchases-other", "1", "0", "2025-03-01", "12:00:00", "2025-03-01", "12:00:00"],
        ["unsupported_currency", "purchases", "2", "0", "2025-03-01", "12:00:00", "2025-03-01", "15:00:00"],
    ]
    assert len({len(line) for line in (head, *rows)}) == 1  # aligned
    assert replay_rows(Tally(), False) == [] and list_rows(Tally()) == []


# ---------------------------------------------------------------- Kafka and Redis, faked


@dataclass
class Record:
    partition: int
    offset: int
    value: bytes | None


class FakeConsumer:
    """Partitions 0 and 1 of a dlq topic; poll hands out what lies past the position."""

    def __init__(self, logs: dict[int, list[bytes | None]], stuck: bool = False) -> None:
        self.logs = logs
        self.pos = dict.fromkeys(logs, 0)
        self.paused: set[int] = set()
        self.stuck = stuck
        self.closed = False

    def position(self, tp: int) -> int:
        return self.pos[tp]

    def pause(self, *tps: int) -> None:
        self.paused.update(tps)

    def poll(self, timeout_ms: int, max_records: int) -> dict[int, list[Record]]:
        out = {}
        for tp, log in self.logs.items():
            if tp in self.paused or self.stuck:
                continue
            got = [Record(tp, o, log[o]) for o in range(self.pos[tp], min(len(log), self.pos[tp] + max_records))]
            if got:
                out[tp] = got
                self.pos[tp] += len(got)
                break
        return out

    def close(self) -> None:
        self.closed = True


def test_reading_stops_at_the_end_offsets_measured_at_the_start() -> None:
    env = [encode(dead(offset=n)) for n in range(7)]
    consumer = FakeConsumer({0: [*env[:5], b"late"], 1: [env[5], env[6], b"later"]})
    chunks = list(read_chunks(consumer, {0: 5, 1: 2}, chunk=3))
    got = [x for c in chunks for x in c]
    assert len(got) == 7 and all(x is not None for x in got)  # the late ones (past the ends) left alone
    assert {(x.partition, x.offset) for x in got if x} == {(0, n) for n in range(5)} | {(1, 0), (1, 1)}
    assert all(len(c) <= 3 for c in chunks)
    assert list(read_chunks(FakeConsumer({0: []}), {0: 0})) == []  # empty topic: done at once


def test_reading_gives_up_when_nothing_comes_for_a_while() -> None:
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(dlq.KafkaUnavailable, match="no dead letter read for 30 s"):
        list(read_chunks(FakeConsumer({0: [b"x"]}, stuck=True), {0: 1}, clock=lambda: float(next(ticks))))


class FakeFuture:
    def __init__(self, topic: str, offset: int, error: Exception | None = None) -> None:
        self.value = None if error else Record(0, offset, None)
        if self.value is not None:
            self.value.topic = topic  # type: ignore[attr-defined]
        self.exception = error

    def succeeded(self) -> bool:
        return self.exception is None


@dataclass
class FakeProducer:
    fail_on: int | None = None
    sent: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    flushed: int = 0

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> FakeFuture:
        self.sent.append((topic, key, value, headers))
        n = len(self.sent) - 1
        return FakeFuture(topic, n, RuntimeError("boom") if n == self.fail_on else None)

    def flush(self) -> None:
        self.flushed += 1

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_copy_goes_to_its_source_topic_with_the_original_key_and_bytes_and_the_header() -> None:
    d = dead(offset=3, value=b'{"event_id":"e3","amount":1.5}')
    producer = FakeProducer()
    sent, error = kafka_sender(producer)([("id-3", Letter(2, 99, d))])
    assert error is None and sent == {"id-3": "purchases-x1/0/0"}
    assert producer.sent == [("purchases-x1", b"c3", b'{"event_id":"e3","amount":1.5}',
                              [("segstream-replayed-from", b"2/99")])]  # fmt: skip
    assert producer.flushed == 1
    sent, error = kafka_sender(FakeProducer(fail_on=1))([(f"i{n}", Letter(0, n, d)) for n in range(3)])
    assert set(sent) == {"i0", "i2"} and str(error) == "boom"


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.calls: list[str] = []

    async def hmget(self, name: str, keys: list[str]) -> list[bytes | None]:
        self.calls.append("hmget")
        h = self.hashes.get(name, {})
        return [h[k].encode() if k in h else None for k in keys]

    async def hset(self, name: str, mapping: dict[str, str]) -> int:
        self.calls.append("hset")
        self.hashes.setdefault(name, {}).update(mapping)
        return len(mapping)


async def test_the_store_keeps_re_sent_ids_in_one_hash_under_the_prefix() -> None:
    assert Keys("ss", 16).dlq_replayed == "ss:dlq:replayed"
    fake = FakeRedis()
    store = Store(fake, "t9", 4)  # type: ignore[arg-type]
    assert await store.replayed_dead_letters([]) == set() and fake.calls == []
    await store.record_replayed_dead_letters({"0/1@p/0/5": "p/0/77", "0/2@p/0/6": "p/1/3"})
    assert await store.replayed_dead_letters(["0/1@p/0/5", "0/3@p/0/7"]) == {"0/1@p/0/5"}
    assert fake.calls == ["hset", "hmget"] and set(fake.hashes) == {"t9:dlq:replayed"}


# ---------------------------------------------------------------- the commands


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["dlq", *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "--reason", "nope"], "segstream: unknown reason nope; choose from "),
        (["replay", "--topic", "orders"], "segstream: unknown topic orders; choose purchases, usage"),
        (["replay", "--since", "yesterday"], "segstream: --since: not an ISO-8601 time: 'yesterday'"),
        (["list", "--until", "2025-01-01T00:00:00"], "segstream: --until: needs a UTC offset"),
        (
            ["replay", "--since", "2025-01-02T00:00:00+00:00", "--until", "2025-01-01T00:00:00+00:00"],
            "segstream: --since 2025-01-02T00:00:00+00:00 is not before --until",
        ),
    ],
)
def test_bad_arguments_end_with_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_replay_command_end_to_end_with_fake_kafka_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    envs: list[bytes | None] = [encode(dead(offset=n)) for n in range(4)]
    envs += [encode(dead(reason="not_json", offset=4)), encode(dead(topic="purchases-other", offset=5)), b"junk"]
    ledger = FakeLedger()
    producers: list[FakeProducer] = []

    def open_dlq(settings: Settings) -> tuple[Any, dict[Any, int], int]:
        return FakeConsumer({0: envs}), {0: len(envs)}, len(envs)

    def make_producer(settings: Settings) -> FakeProducer:
        producers.append(FakeProducer())
        return producers[-1]

    class Ledger:
        def __init__(self, settings: Settings) -> None:
            pass

        replayed = staticmethod(ledger.replayed)
        record = staticmethod(ledger.record)

        def close(self) -> None:
            pass

    monkeypatch.setenv("SEGSTREAM_TOPIC_SUFFIX", "-x1")  # the deployment of INPUTS
    monkeypatch.setattr(dlq, "open_dlq", open_dlq)
    monkeypatch.setattr(dlq, "StoreLedger", Ledger)
    monkeypatch.setattr("segstream.feeders.producer.make_producer", make_producer)

    dry = run("replay", "--reason", "unsupported_currency", "--dry-run", "--no-progress")
    assert dry.exit_code == 0, dry.output
    assert "matched 5: would re-send 4, already re-sent 0, other topics 1, truncated 0" in dry.output
    assert "read 7 dead letter(s), 1 unreadable" in dry.output
    assert producers == [] and ledger.done == {}

    first = run("replay", "--reason", "unsupported_currency", "--no-progress")
    assert first.exit_code == 0, first.output
    assert "matched 5: re-sent 4, already re-sent 0, other topics 1" in first.output
    assert [s[1] for s in producers[0].sent] == [b"c0", b"c1", b"c2", b"c3"]
    assert [s[3] for s in producers[0].sent] == [[("segstream-replayed-from", f"0/{n}".encode())] for n in range(4)]

    second = run("replay", "--reason", "unsupported_currency", "--no-progress")
    assert second.exit_code == 0, second.output
    assert "matched 5: re-sent 0, already re-sent 4, other topics 1" in second.output
    assert producers[1].sent == []

    listing = run("list")
    assert listing.exit_code == 0, listing.output
    assert "read 7 dead letter(s), 1 unreadable, 6 listed" in listing.output
    assert "not_json" in listing.output and "purchases-other" in listing.output


def test_kafka_away_ends_with_one_line_and_no_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    def away(settings: Settings) -> Any:
        raise dlq.KafkaUnavailable("cannot reach Kafka at 127.0.0.1:1: NoBrokersAvailable")

    class Ledger(FakeLedger):
        def __init__(self, settings: Settings) -> None:
            super().__init__()

        def close(self) -> None:
            pass

    monkeypatch.setattr(dlq, "open_dlq", away)
    monkeypatch.setattr(dlq, "StoreLedger", Ledger)
    for args in (["replay", "--dry-run"], ["list"]):
        result = run(*args)
        assert result.exit_code == 1
        assert result.output == "segstream: cannot reach Kafka at 127.0.0.1:1: NoBrokersAvailable\n"
