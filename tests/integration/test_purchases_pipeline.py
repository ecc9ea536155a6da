"""Purchases through real Kafka -> a real worker process -> real Redis."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pandas as pd
from kafka import KafkaProducer

from segstream.config import Settings
from segstream.streams.codec import to_us
from tests.integration.harness import (
    ROOT,
    WorkerProcess,
    consume,
    every_record,
    read_store,
    settings_env,
    wait_for_events,
)

CDNOW_SAMPLE = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"


def cdnow_truth() -> pd.DataFrame:
    """Per-customer last purchase, count and spend (cents) by a pandas groupby of the file."""
    df = pd.read_csv(
        CDNOW_SAMPLE,
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "cds", "dollar_value"],
        dtype={"customer_id": str, "sample_id": str, "date": str},
    )
    df["ts"] = pd.to_datetime(df["date"], format="%Y%m%d", utc=True)
    df["cents"] = (df["dollar_value"] * 100).round().astype("int64")
    return df.groupby("customer_id").agg(
        last=("ts", "max"), first=("ts", "min"), count=("cents", "size"), spend=("cents", "sum")
    )


def test_cdnow_sample_replayed_through_kafka_equals_pandas_groupby_exactly(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings()
    start_worker(s)
    subprocess.run(
        [sys.executable, "-m", "segstream", "replay", str(CDNOW_SAMPLE), "--no-progress"],
        env=settings_env(s),
        check=True,
        timeout=180,
    )
    stats = wait_for_events(s, "purchases", 6919)
    truth = cdnow_truth()
    assert len(truth) == 2357
    customers = read_store(s, lambda st: st.scan_customers())
    assert sorted(customers) == sorted(truth.index)
    mismatches = []
    for cid, row in truth.iterrows():
        st = customers[cid]
        p = st.purchases
        got = (p.last_us, p.first_us, p.count, p.spend_minor)
        want = (
            to_us(row["last"].to_pydatetime()),
            to_us(row["first"].to_pydatetime()),
            int(row["count"]),
            int(row["spend"]),
        )
        if got != want:
            mismatches.append((cid, got, want))
    assert mismatches == []
    assert stats["events:purchases"] == 6919  # applied exactly once each
    assert stats["customers"] == 2357
    counts = read_store(s, lambda st: st.segment_counts())
    assert sum(counts["rfm"].values()) == 2357
    assert sum(1 for c in customers.values() if "rfm" in c.segments) == 2357


def _purchase(cid: str, n: int, **over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "event_id": f"e{n}",
        "customer_id": cid,
        "ts": f"2024-03-0{1 + n % 9}T10:00:00+08:00",
        "amount": 10.5 + n,
    }
    doc.update(over)
    return doc


def test_malformed_events_go_to_dead_letters_with_reason_and_valid_ones_apply(
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
    producer: KafkaProducer,
) -> None:
    s = make_settings()
    start_worker(s)
    enc = lambda d: json.dumps(d).encode()  # noqa: E731
    bad = {
        "not_json": b"{this is not json",
        "missing_field": enc({k: v for k, v in _purchase("x", 1).items() if k != "customer_id"}),
        "bad_amount": enc(_purchase("客户-1", 2, amount=-5)),
        "non_finite_number": b'{"event_id":"e3","customer_id":"c1","ts":"2024-03-01T00:00:00Z","amount":NaN}',
        "wrong_type": enc(_purchase("c1", 4, amount="12.00")),
        "no_timezone": enc(_purchase("c1", 5, ts="2024-03-01T10:00:00")),
        "not_utf8": b'{"event_id":"e6","customer_id":"\xff\xfe","ts":"2024-03-01T00:00:00Z","amount":1}',
        "timestamp_out_of_range": enc(_purchase("c1", 7, ts="3000-01-01T00:00:00+00:00")),
    }
    valid = [_purchase("c1", 10), _purchase("客户-1", 11), _purchase("c1", 12)]
    sent: dict[str, tuple[int, int, bytes]] = {}
    topic = s.topic("purchases")
    bad_items = list(bad.items())
    order = [
        ("valid", enc(valid[0])),
        *bad_items[:4],
        ("valid", enc(valid[1])),
        *bad_items[4:],
        ("valid", enc(valid[2])),
    ]
    for kind, value in order:
        md = producer.send(topic, key=b"same-partition", value=value).get(timeout=30)
        if kind != "valid":
            sent[kind] = (md.partition, md.offset, value)
    producer.flush()

    wait_for_events(s, "purchases", 3)
    letters = consume(s, "dlq", len(bad))
    assert len(letters) == len(bad)
    by_reason = {}
    for rec in letters:
        env = json.loads(rec.value)
        by_reason[env["reason"]] = env
        assert dict(rec.headers)["reason"] == env["reason"].encode()
        assert env["detail"]
    assert set(by_reason) == set(bad)
    for reason, (partition, offset, value) in sent.items():
        env = by_reason[reason]
        assert base64.b64decode(env["value"]) == value, reason
        assert (env["topic"], env["partition"], env["offset"]) == (topic, partition, offset)

    stats = read_store(s, lambda st: st.stats())
    assert {k: v for k, v in stats.items() if k.startswith("dlq:")} == {f"dlq:{r}": 1 for r in bad}
    c1 = read_store(s, lambda st: st.get("c1"))
    assert (c1.purchases.count, c1.purchases.spend_minor) == (2, 2050 + 2250)
    other = read_store(s, lambda st: st.get("客户-1"))
    assert (other.purchases.count, other.purchases.spend_minor) == (1, 2150)
    assert other.purchases.last_us == to_us(datetime(2024, 3, 3, 2, 0, tzinfo=UTC))
    changes = [msgspec.json.decode(r.value) for r in every_record(s, "segment_changes")]  # sent before saved
    assert {c["customer_id"] for c in changes} == {"c1", "客户-1"}
    first = [c for c in changes if c["customer_id"] == "客户-1"]
    assert first[0]["from"] is None and first[0]["dimension"] == "rfm"
