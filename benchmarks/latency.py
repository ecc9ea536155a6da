"""End-to-end latency at paced input rates: append to Kafka -> segment change readable.

    python benchmarks/latency.py --rates 1000,10000 --seconds 30 --customers 20000

For each rate, two runs on fresh topics (own suffix, consumer groups and Redis prefix):

(1) baseline, no worker: a pass-through consumer (kafka-python, its own process) copies every
    input record to an echo topic with the same key (producer acks=all, linger 2 ms, like the
    worker's Faust producer) and a ``src`` header naming the input's partition and offset;
(2) a real ``segstream worker`` subprocess consumes the inputs and emits segment changes.

In both, a paced kafka-python producer in its own process (segstream's feeder producer
settings) sends simulated events (Simulator, seed 1, from 2024-01-01, the mixed stream of
throughput.py) at the target rate: ``--warmup`` seconds first (outputs of those inputs are
not counted), then ``--seconds`` measured. A reader in its own process reads the output topic
(all partitions assigned, from the start) and notes each record's receive wall time.

Matching: a segment change's ``event_id`` is ``{source}-{offset}-{dimension}`` with source =
topic code + partition (``p3`` = purchases partition 3), so each output maps back to the input
record, whose timestamp (CreateTime, ms, from the producer's RecordMetadata) is when the
producer sent it. latency = reader's receive wall time - that timestamp (same clock, same
machine). Changes triggered by the due-time sweep (``sweep-...``) have no input and are not
counted. One input can cause several changes (one per dimension): each is one sample.

Whether the worker kept up: input events applied (segstream's own counters, read through
``Store.stats()``; for the baseline, echoes readable) when the producer stopped, as seconds of
input behind ("kept up" = at most ``--kept-up-s``, default 1 s, behind), how long after the
producer stopped the rest was applied (at most ``--drain`` s), and the consumer group's final
lag (committed offsets: Faust commits every few seconds, so this can be > 0 when all was
applied). When it did not keep up, the percentiles are of the outputs readable by the end of
the drain only, so they understate the latency of the rest.
Needs Kafka and Redis running (`make up`). Prints a table; --json appends one line per run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from segstream.state.keys import TOPIC_CODES
from segstream.streams.topics import INPUT_TOPICS, consumer_lag, create_topics

ECHO = "echo"  # + the run's topic suffix
CTX = mp.get_context("spawn")


def security() -> dict[str, Any]:
    """TLS/SASL keyword arguments from the SEGSTREAM_* environment (built in each process: an
    SSL context cannot be pickled to a spawned one)."""
    from segstream.config import load_settings
    from segstream.streams.security import client_kwargs

    return client_kwargs(load_settings())  # no Kafka client is ever inherited through fork


# ------------------------------------------------------------------ processes


def producer_proc(
    bootstrap: str, topics: dict[str, str], customers: int, rate: float, warmup: float, seconds: float,
    conn: Connection,
) -> None:  # fmt: skip
    """Generate the events, say ready, wait for go, send them paced; send back the metadata."""
    from itertools import islice

    from kafka import KafkaProducer

    from segstream.feeders.simulator import Simulator
    from segstream.streams.codec import encode
    from segstream.streams.schemas import Feedback, Profile, Purchase, Usage

    kind_of = {Purchase: "purchases", Usage: "usage", Feedback: "feedback", Profile: "profiles"}
    n = int(rate * (warmup + seconds))
    sim = Simulator(customers, datetime(2024, 1, 1, tzinfo=UTC), seed=1)
    records = [(kind_of[type(e)], e.customer_id.encode(), encode(e)) for e in islice(sim.events(), n)]
    producer = KafkaProducer(  # segstream.feeders.producer.make_producer's settings
        **security(),
        bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=10, batch_size=256 * 1024, retries=10,
        max_in_flight_requests_per_connection=1,
    )  # fmt: skip
    conn.send("ready")
    conn.recv()  # go
    n_warm = int(rate * warmup)
    futures = []
    t0 = time.monotonic()
    end = t0 + warmup + seconds
    t_measure = t0 + warmup
    for i, (kind, key, value) in enumerate(records):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now > end:  # could not keep the rate: stop on time, report the rate reached
            break
        if i == n_warm:
            t_measure = time.monotonic()
        futures.append((kind, producer.send(topics[kind], key=key, value=value)))
    t_stop = time.monotonic()
    producer.flush(60)
    meta = []
    for i, (kind, f) in enumerate(futures):
        md = f.get(timeout=60)
        meta.append((TOPIC_CODES[kind], md.partition, md.offset, md.timestamp, i >= n_warm))
    producer.close()
    measured = max(0, len(futures) - n_warm)
    conn.send({"meta": meta, "sent": len(futures), "measured": measured,
               "achieved_rate": measured / max(1e-9, t_stop - t_measure)})  # fmt: skip


def reader_proc(bootstrap: str, topic: str, mode: str, limit_s: float, stop: Any, seen: Any, conn: Connection) -> None:
    """Read ``topic`` from the start until ``stop`` is set (or ``limit_s`` passes); note
    (source position, receive wall time) of each record."""
    import msgspec
    from kafka import KafkaConsumer, TopicPartition

    class Id(msgspec.Struct):
        event_id: str

    dec = msgspec.json.Decoder(Id)
    c = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, fetch_max_wait_ms=100, **security()
    )
    deadline = time.monotonic() + 30
    while not (parts := c.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise SystemExit(f"no partitions for {topic}")
        time.sleep(0.2)
    c.assign([TopicPartition(topic, p) for p in sorted(parts)])
    c.seek_to_beginning()
    c.poll(timeout_ms=100)  # connect before saying ready
    conn.send("ready")
    out: list[tuple[str, float]] = []
    deadline = time.monotonic() + limit_s
    while not stop.is_set() and time.monotonic() < deadline:
        polled = c.poll(timeout_ms=50, max_records=5000)
        now = time.time()
        for recs in polled.values():
            for r in recs:
                if mode == "baseline":  # the echo carries its source in a header
                    out.append((dict(r.headers)["src"].decode(), now))
                else:
                    eid = dec.decode(r.value).event_id
                    # "{source}-{offset}-{dimension}": the first two parts name the input
                    out.append(("sweep" if eid.startswith("sweep-") else "-".join(eid.split("-", 2)[:2]), now))
        seen.value = len(out)
    c.close()
    conn.send(out)


def echo_proc(bootstrap: str, inputs: list[str], echo_topic: str, limit_s: float, stop: Any) -> None:
    """The baseline pass-through: copy each input record to the echo topic, same key."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    codes = {t: TOPIC_CODES[k] for k, t in zip(INPUT_TOPICS, inputs, strict=True)}
    c = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, fetch_max_wait_ms=100, **security()
    )
    tps = [TopicPartition(t, p) for t in inputs for p in sorted(c.partitions_for_topic(t) or ())]
    c.assign(tps)
    c.seek_to_beginning()
    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=2, **security())
    deadline = time.monotonic() + limit_s
    while not stop.is_set() and time.monotonic() < deadline:
        for tp, recs in c.poll(timeout_ms=50, max_records=2000).items():
            code = codes[tp.topic]
            for r in recs:
                src = f"{code}{tp.partition}-{r.offset}".encode()
                p.send(echo_topic, key=r.key, value=r.value, headers=[("src", src)])
    p.flush(30)
    p.close()
    c.close()


# ------------------------------------------------------------------ one run


def _join(proc: Any, grace: float = 20.0) -> None:
    """Wait for a helper process; terminate it (by pid) if it does not end."""
    if proc is None:
        return
    proc.join(grace)
    if proc.is_alive():
        proc.terminate()
        proc.join(10)


def one_run(mode: str, rate: int, a: argparse.Namespace) -> dict[str, Any]:
    tag, s = harness.isolated_settings("lat", partitions=a.partitions)
    inputs = [s.topic(k) for k in INPUT_TOPICS]
    out_topic = ECHO + s.topic_suffix if mode == "baseline" else s.topic("segment_changes")
    limit = a.warmup + a.seconds + a.drain + 240  # every helper ends by itself after this
    stop, seen = CTX.Event(), CTX.Value("q", 0)
    procs: list[Any] = []
    worker = None
    counters = harness.Counters(s) if mode == "worker" else None
    with harness.cleaned_up(s, tag):
        try:
            create_topics(s)
            if mode == "baseline":
                harness.create_topic(s, out_topic, a.partitions)
                echo = CTX.Process(target=echo_proc, args=(s.kafka_bootstrap, inputs, out_topic, limit, stop))
                echo.start()
                procs.append(echo)
            else:
                # info: the worker logs its value fits and slow sweeps with their times, to set
                # beside the p99 timeline (the harness's default is warn)
                env = harness.env_for(s) | {"SEGSTREAM_LOG_LEVEL": "info"}
                worker, log = harness.start(
                    [sys.executable, "-m", "segstream", "worker"], env, f"latency-worker-{s.app_id}.log"
                )
                t0 = time.monotonic()
                while not harness.group_stable(s, s.app_id):
                    if worker.poll() is not None or time.monotonic() - t0 > 120:
                        raise SystemExit(f"worker did not join its group (log {log})")
                    time.sleep(0.5)
            r_parent, r_child = CTX.Pipe()
            args = (s.kafka_bootstrap, out_topic, mode, limit, stop, seen, r_child)
            reader = CTX.Process(target=reader_proc, args=args)
            reader.start()
            procs.append(reader)
            p_parent, p_child = CTX.Pipe()
            topics = {k: s.topic(k) for k in INPUT_TOPICS}
            producer = CTX.Process(
                target=producer_proc, args=(s.kafka_bootstrap, topics, a.customers, rate, a.warmup, a.seconds, p_child)
            )
            producer.start()
            procs.append(producer)
            for conn, what in ((r_parent, "reader"), (p_parent, "producer")):
                if not conn.poll(120) or conn.recv() != "ready":
                    raise SystemExit(f"{what} not ready")
            p_parent.send("go")
            if not p_parent.poll(a.warmup + a.seconds + 120):
                raise SystemExit("producer did not finish")
            sent_info = p_parent.recv()
            sent = sent_info["sent"]

            def progress() -> int:  # inputs applied by the worker, or echoed and readable
                return counters.applied() if counters else int(seen.value)

            at_stop = progress()
            t_stop = time.monotonic()
            caught_up_s = None
            while time.monotonic() - t_stop < a.drain:
                if progress() >= sent:
                    caught_up_s = time.monotonic() - t_stop
                    break
                time.sleep(0.05)
            time.sleep(1.0 if mode == "baseline" else 2.0)  # the last outputs become readable
            at_end = progress()
            stop.set()
            if not r_parent.poll(60):
                raise SystemExit("reader did not report")
            outputs = r_parent.recv()
            lag = None
            if mode == "worker":
                lag = sum(max(0, end - max(0, com)) for end, com in consumer_lag(s).values())
        finally:
            stop.set()
            for p in procs:
                _join(p)
            harness.stop(worker)
            if counters:
                counters.close()
    return summarise(mode, rate, a, sent_info, outputs, at_stop, at_end, caught_up_s, lag)


def summarise(
    mode: str, rate: int, a: argparse.Namespace, sent_info: dict[str, Any], outputs: list[tuple[str, float]],
    at_stop: int, at_end: int, caught_up_s: float | None, lag: int | None,
) -> dict[str, Any]:  # fmt: skip
    import numpy as np

    sent_ts = {f"{code}{part}-{off}": (ts / 1000, measured) for code, part, off, ts, measured in sent_info["meta"]}
    lat, sent_at, inputs_hit, sweep, unmatched = [], [], set(), 0, 0
    for src, recv in outputs:
        if src == "sweep":
            sweep += 1
            continue
        hit = sent_ts.get(src)
        if hit is None:
            unmatched += 1
        elif hit[1]:
            lat.append(recv - hit[0])
            sent_at.append(hit[0])
            inputs_hit.add(src)
    ms = np.array(lat) * 1000
    pct = dict(zip(("p50", "p95", "p99"), np.percentile(ms, [50, 95, 99]), strict=True)) if len(ms) else {}
    sent = sent_info["sent"]
    behind_s = (sent - at_stop) / rate  # seconds of input not yet applied when the producer stopped
    return {
        "mode": mode,
        "target_rate": rate,
        "achieved_rate": round(sent_info["achieved_rate"]),
        "sent": sent,
        "measured_inputs": sent_info["measured"],
        "outputs_matched": len(lat),
        "inputs_with_output": len(inputs_hit),
        "sweep_outputs_excluded": sweep,
        "unmatched_outputs": unmatched,
        **{k: round(float(v), 1) for k, v in pct.items()},
        "max": round(float(ms.max()), 1) if len(ms) else None,
        "applied_at_producer_stop": at_stop,
        "applied_at_end": at_end,
        "behind_at_stop_s": round(behind_s, 2),
        "caught_up_s_after_stop": None if caught_up_s is None else round(caught_up_s, 2),
        "kept_up": behind_s <= a.kept_up_s,
        "final_lag": lag,
        "windows": windows(np.array(sent_at), ms, a.window_s),
    }


def windows(sent_at: Any, ms: Any, width_s: float) -> list[tuple[str, int, float]]:
    """(start, UTC wall time; samples; p99 ms) of each ``width_s`` window of send time: when
    the tail happened, to set beside the worker's log (value fits, cluster snapshots, slow
    sweeps are logged with their times)."""
    import numpy as np

    if not len(ms):
        return []
    slot = ((sent_at - sent_at.min()) // width_s).astype(int)
    out = []
    for k in range(int(slot.max()) + 1):
        sel = ms[slot == k]
        if len(sel):
            start = datetime.fromtimestamp(float(sent_at.min()) + k * width_s, UTC).isoformat(timespec="seconds")
            out.append((start, len(sel), round(float(np.percentile(sel, 99)), 1)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="1000,10000", help="input events/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=30, help="measured seconds per rate")
    ap.add_argument("--warmup", type=float, default=5, help="seconds at the rate before measuring")
    ap.add_argument("--drain", type=float, default=30, help="at most this long for the last inputs after the producer")
    ap.add_argument(
        "--kept-up-s",
        type=float,
        default=1,
        help="kept up: at most this many seconds of input unapplied when the producer stops",
    )
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--label", default="")
    ap.add_argument("--window-s", type=float, default=10.0, help="width of the p99 timeline's windows (in --json)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    harness.exit_on_sigterm()
    run_id = uuid.uuid4().hex[:8]
    rows, results = [], []
    for rate in (int(r) for r in a.rates.split(",")):
        pair = {}
        for mode in ("baseline", "worker"):
            print(f"rate {rate:,}/s: {mode} ...", file=sys.stderr, flush=True)
            pair[mode] = one_run(mode, rate, a)
        results.append(pair)
        for mode, res in pair.items():
            what = "echo pass-through (no worker)" if mode == "baseline" else "segstream worker"
            rows.append([
                f"{rate:,}/s {what}", f"{res['achieved_rate']:,}", f"{res['outputs_matched']:,}",
                *(f"{res[k]:,.1f}" if res.get(k) is not None else "-" for k in ("p50", "p95", "p99", "max")),
                f"{res['applied_at_producer_stop']:,}/{res['sent']:,}", f"{res['behind_at_stop_s']:.1f} s",
                "not in drain" if res["caught_up_s_after_stop"] is None else f"{res['caught_up_s_after_stop']:.1f} s",
                "yes" if res["kept_up"] else "no",
            ])  # fmt: skip
    header = ["rate, path", "input/s", "outputs", "p50 ms", "p95 ms", "p99 ms", "max ms",
              "applied at stop", "behind", "caught up after", "kept up"]  # fmt: skip
    print(harness.table(rows, header))
    if a.json:
        with a.json.open("a") as fh:
            for pair in results:
                line = {
                    "label": a.label or f"latency {pair['worker']['target_rate']}/s",
                    "customers": a.customers, "partitions": a.partitions, "seconds": a.seconds, "warmup": a.warmup,
                    "baseline_echo": pair["baseline"], "worker": pair["worker"], "run": run_id,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                }  # fmt: skip
                fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
