"""Dead letters re-sent after a fix: `segstream dlq replay` through real workers.

A worker configured for EUR dead-letters USD purchases (``unsupported_currency``); after
the fix (a worker for USD, same topics, consumer group and key prefix) the replay sends
them back once: a second run re-sends nothing and the counters do not move.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kafka import KafkaProducer

from segstream.config import Settings
from segstream.streams.topics import consumer_lag
from tests.integration.harness import (
    WorkerProcess,
    applied_total,
    consume_all,
    free_port,
    read_store,
    settings_env,
    wait_for_counts,
    wait_until,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)
PURCHASES = 20
CUSTOMERS = 5


def cli(s: Settings, *args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "segstream", *args], env=settings_env(s), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def dead_letters(s: Settings) -> dict[str, int]:
    stats = read_store(s, lambda st: st.stats())
    return {k.removeprefix("dlq:"): v for k, v in stats.items() if k.startswith("dlq:")}


def committed(s: Settings) -> bool:
    """The consumer group has committed every input partition up to its end."""
    return all(end == 0 or done == end for end, done in consumer_lag(s).values())


def input_end(s: Settings) -> int:
    return sum(end for (topic, _), (end, _) in consumer_lag(s).items() if topic == s.topic("purchases"))


def test_dead_letters_replayed_after_a_fix_are_applied_once(
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
    producer: KafkaProducer,
) -> None:
    eur = make_settings(currency="EUR")
    first = start_worker(eur, "eur")
    originals: dict[tuple[int, int], tuple[bytes, bytes]] = {}  # purchases (partition, offset) -> key, value
    spend: dict[str, list[int]] = {}
    for n in range(PURCHASES):
        cid = f"客户-{n % CUSTOMERS}"
        minor = 1000 + 37 * n
        doc = {
            "event_id": f"usd-{n}",
            "customer_id": cid,
            "ts": (T0 + timedelta(hours=n)).isoformat(),
            "amount": minor / 100,
            "currency": "USD",
        }
        value = json.dumps(doc, ensure_ascii=False).encode()
        md = producer.send(eur.topic("purchases"), key=cid.encode(), value=value).get(timeout=30)
        originals[(md.partition, md.offset)] = (cid.encode(), value)
        spend.setdefault(cid, []).append(minor)
    for _ in range(2):  # not part of the fix: must stay where they are
        producer.send(eur.topic("usage"), key=b"junk", value=b"{oops").get(timeout=30)
    want = {"unsupported_currency": PURCHASES, "not_json": 2}
    wait_until(lambda: dead_letters(eur) == want, 120, f"dead letters {want}")
    # the fixed worker (same consumer group) must not read the originals again
    wait_until(lambda: committed(eur), 60, "the EUR worker to commit its input offsets")
    first.stop()
    assert applied_total(eur) == 0

    # the fix: the same deployment (topics, group, key prefix), now for USD
    usd = eur.model_copy(update={"currency": "USD", "web_port": free_port()})
    bad = subprocess.run(
        [sys.executable, "-m", "segstream", "dlq", "replay", "--reason", "nope"],
        env=settings_env(usd), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("segstream: unknown reason nope")
    assert bad.stderr.count("\n") == 1

    dry = cli(usd, "dlq", "replay", "--reason", "unsupported_currency", "--dry-run", "--no-progress")
    assert "read 22 dead letter(s)" in dry, dry
    assert f"matched {PURCHASES}: would re-send {PURCHASES}, already re-sent 0, other topics 0" in dry, dry
    listing = cli(usd, "dlq", "list")
    assert re.search(rf"unsupported_currency\s+purchases\s+{PURCHASES}\s+0\s", listing), listing
    assert re.search(r"not_json\s+usage\s+2\s+0\s", listing), listing
    assert input_end(usd) == PURCHASES  # the dry run sent nothing

    start_worker(usd, "usd")
    out = cli(usd, "dlq", "replay", "--reason", "unsupported_currency", "--no-progress")
    assert f"matched {PURCHASES}: re-sent {PURCHASES}, already re-sent 0, other topics 0" in out, out
    stats = wait_for_counts(usd, {"purchases": PURCHASES})
    assert stats["events:purchases"] == PURCHASES
    assert input_end(usd) == 2 * PURCHASES

    again = cli(usd, "dlq", "replay", "--reason", "unsupported_currency", "--no-progress")
    assert f"matched {PURCHASES}: re-sent 0, already re-sent {PURCHASES}" in again, again
    assert input_end(usd) == 2 * PURCHASES  # nothing sent
    everything = cli(usd, "dlq", "replay", "--dry-run", "--no-progress")
    assert f"matched 22: would re-send 2, already re-sent {PURCHASES}" in everything, everything
    # the worker has read (and committed) every input, the re-sent copies included: nothing more can apply
    wait_until(lambda: committed(usd), 60, "the USD worker to commit every input offset")
    stats = read_store(usd, lambda st: st.stats())
    assert stats["events:purchases"] == PURCHASES and stats["customers"] == CUSTOMERS
    assert dead_letters(usd) == want  # the copies were accepted, none rejected again

    states = read_store(usd, lambda st: st.scan_customers())
    assert set(states) == set(spend)
    for cid, amounts in spend.items():
        st = states[cid]
        assert st.purchases is not None, cid
        assert (st.purchases.count, st.purchases.spend_minor) == (len(amounts), sum(amounts)), cid

    # each copy: the original key and bytes, and a header naming its dead letter
    letters = {(r.partition, r.offset): json.loads(r.value) for r in consume_all(usd, "dlq")}
    copies = [r for r in consume_all(usd, "purchases") if r.headers]
    assert len(copies) == PURCHASES
    seen = set()
    for rec in copies:
        ((name, where),) = rec.headers
        assert name == "segstream-replayed-from"
        part, off = (int(x) for x in where.decode().split("/"))
        env = letters[(part, off)]
        assert env["reason"] == "unsupported_currency" and env["topic"] == usd.topic("purchases")
        assert originals[(env["partition"], env["offset"])] == (rec.key, rec.value)
        seen.add((env["partition"], env["offset"]))
    assert seen == set(originals)
