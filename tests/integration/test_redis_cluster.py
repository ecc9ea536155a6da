"""The store on a real 3-master Redis Cluster (started here from redis-server on loopback),
and the whole pipeline against it; the same store checks on the single test Redis."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from segstream.config import Settings
from segstream.state.customer import CustomerState
from segstream.state.keys import SNAPSHOTS
from segstream.state.store import SaveItem, Store
from segstream.streams.codec import to_us
from tests.integration.harness import WorkerProcess, reachable, read_store, settings_env, wait_for_events
from tests.integration.test_purchases_pipeline import CDNOW_SAMPLE, cdnow_truth

PORTS = range(7100, 7106)  # the cluster bus listens on port + 10000


def _free(port: int) -> bool:
    return not reachable(f"127.0.0.1:{port}") and not reachable(f"127.0.0.1:{port + 10000}")


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three redis-server masters on loopback joined into a cluster (no replicas, no
    persistence); yields a startup-node URL; stops the servers by pid. Fails, never skips,
    when the cluster cannot be made."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        pytest.fail("redis-server and redis-cli are needed (Debian package redis-server)", pytrace=False)
    ports = [p for p in PORTS if _free(p)][:3]
    if len(ports) < 3:
        pytest.fail(f"need 3 free ports (and their +10000 bus ports) in {PORTS}", pytrace=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            d = tmp_path_factory.mktemp(f"cluster{port}")
            args = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", "",
                    "--appendonly", "no", "--cluster-enabled", "yes",
                    "--cluster-config-file", str(d / "nodes.conf"), "--logfile", str(d / "redis.log")]  # fmt: skip
            procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        for port, proc in zip(ports, procs, strict=True):
            _wait(lambda p=port, pr=proc: _ping(p, pr), 20, f"redis-server on {port}")
        nodes = [f"127.0.0.1:{p}" for p in ports]
        made = subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        for p in ports:
            _wait(lambda p=p: _cluster_ok(p), 30, f"cluster_state:ok on {p}")
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _ping(port: int, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        pytest.fail(f"redis-server on {port} exited with {proc.returncode}", pytrace=False)
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _cluster_ok(port: int) -> bool:
    info = redis.Redis(port=port, decode_responses=True).execute_command("CLUSTER INFO")
    text = info if isinstance(info, str) else "\n".join(f"{k}:{v}" for k, v in info.items())
    return "cluster_state:ok" in text and "cluster_known_nodes:3" in text


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)


# ids with braces (hash-tag syntax), colons, CJK and a key-like id
SPECIAL = ["a{b}c", "{7}", "}{", "x:c:y", "客户-甲", "ss:{3}:c:z", "", "{}"]


def _state(i: int) -> CustomerState:
    return CustomerState(offsets={"p0": i}, first_us=i, last_us=10 * i, segments={"rfm": f"s{i % 3}"})


async def _exercise(store: Store) -> dict[str, Any]:
    """Save, conflict, load and read back 400 customers; returns what the caller checks."""
    ids = [f"c{i}" for i in range(400 - len(SPECIAL))] + SPECIAL
    items = [
        SaveItem(cid, 0, _state(i), changes=[("rfm", None, f"s{i % 3}")], buckets=[("r", None, i % 5)],
                 events=1, due_us=1000 + i)
        for i, cid in enumerate(ids)
    ]  # fmt: skip
    out: dict[str, Any] = {"ids": ids}
    out["first"] = await store.save(items, {"p0": 50, "global": 50}, "purchases")
    # a second writer that loaded before the first save: every one of its items conflicts
    stale = [items[5], items[1], items[-1]]
    out["conflicts"] = await store.save(stale, {"global": 40}, "purchases")
    loaded, clock, snaps = await store.load(list(reversed(ids)), ["missing"])
    out["load_order"] = list(loaded)
    out["versions"] = {c: v.version for c, v in loaded.items()}
    out["states_equal"] = all(loaded[c].state == it.state for c, it in zip(ids, items, strict=True))
    out["clock"], out["snaps"] = clock, snaps
    # an update of one customer moves it between segments; its due time moves too
    moved = SaveItem(ids[0], 1, _state(1), changes=[("rfm", "s0", "s1")], events=2, due_us=5)
    out["update"] = await store.save([moved], {"global": 60}, "usage")
    out["counts"] = await store.segment_counts()
    out["stats"] = await store.stats()
    out["hist"] = await store.histograms()
    out["flows"] = await store.flows(2)
    out["due"] = await store.due(1010, 5)
    out["due_count"] = await store.due_count(1010)
    pages: list[list[str]] = []
    cursor = 0
    while True:
        found, cursor, _ = await store.in_segment("rfm", "s1", cursor, 7, 60)
        pages.append(found)
        if cursor == 0:
            break
    out["pages"] = pages
    out["sampled"] = set()
    cursor = 0
    for _ in range(100):
        cursor, got = await store.sample(cursor, 50)
        out["sampled"] |= set(got)
        if cursor == 0:
            break
    out["scanned"] = await store.scan_customers(count=37)
    out["get"] = await store.get_with_clock("客户-甲")
    await store.put_snapshot(SNAPSHOTS[0], b"rfm-blob")
    await store.beat(1234)
    out["read"] = await store.get_with_snapshots(["客户-甲", "nobody"], SNAPSHOTS)  # the API's one round trip
    await store.count_dead_letters(["bad_json", "bad_json"])
    out["dlq"] = (await store.stats()).get("dlq:bad_json")
    out["marked"] = await store.mark_all_due(7)
    out["due_after_mark"] = await store.due_count(7)
    return out


def _check(out: dict[str, Any]) -> None:
    ids = out["ids"]
    n = len(ids)
    assert out["first"] == []
    assert out["conflicts"] == [ids[5], ids[1], ids[-1]]  # in item order
    assert out["load_order"] == list(reversed(ids))
    assert set(out["versions"].values()) == {1}
    assert out["states_equal"]
    assert out["clock"] == {"p0": 50, "global": 50}  # the stale writer's older clock was ignored
    assert out["snaps"] == [None]
    assert out["update"] == []
    want = {f"s{k}": sum(1 for i in range(n) if i % 3 == k) for k in range(3)}
    want["s0"] -= 1
    want["s1"] += 1
    assert out["counts"] == {"rfm": want}
    assert out["stats"] == {"customers": n, "events:purchases": n, "events:usage": 2}
    assert out["hist"] == {"r": {b: sum(1 for i in range(n) if i % 5 == b) for b in range(5)}}
    assert out["flows"]["rfm"][("", "s1")] == want["s1"] - 1
    assert out["flows"]["rfm"][("s0", "s1")] == 1
    assert out["due"] == {ids[0]: 5, ids[1]: 1001, ids[2]: 1002, ids[3]: 1003, ids[4]: 1004}
    assert out["due_count"] == 11  # ids[0] (5) and ids[1..10] (1001..1010)
    members = [c for p in out["pages"] for c in p]
    in_s1 = {ids[0]} | {c for i, c in enumerate(ids) if i % 3 == 1}
    assert sorted(members) == sorted(in_s1)  # every member, each once
    assert all(len(p) <= 7 for p in out["pages"]) and len(out["pages"]) > 1
    assert out["sampled"] == set(ids)
    assert set(out["scanned"]) == set(ids)
    state, now = out["get"]
    assert state is not None and state.segments == {"rfm": f"s{(n - 4) % 3}"} and now == 60
    found, now, snaps, beat = out["read"]
    assert set(found) == {"客户-甲"} and found["客户-甲"].state == state and now == 60 and len(snaps) == 3
    assert snaps[0] == b"rfm-blob" and snaps[1:] == [None, None] and beat == 1234
    assert out["dlq"] == 2
    assert out["marked"] == n and out["due_after_mark"] == n


def test_store_on_a_three_master_cluster_spreads_shards_and_reads_them_all_back(
    redis_cluster: str, make_settings: Callable[..., Settings]
) -> None:
    s = make_settings(redis_url=redis_cluster, redis_cluster=True)

    async def run() -> tuple[dict[str, Any], dict[str, int]]:
        store = Store.from_settings(s)
        try:
            out = await _exercise(store)
            per_node = {}
            for node in await store._nodes():
                assert node is not None
                n, cursor = 0, 0
                while True:
                    cursor, keys = await store._scan(node, cursor, 1000)
                    n += len(keys)
                    if cursor == 0:
                        break
                per_node[node.name] = n
            return out, per_node
        finally:
            await store.close()

    out, per_node = asyncio.run(run())
    _check(out)
    assert len(per_node) == 3 and all(n > 50 for n in per_node.values()), per_node  # customers on every master
    assert sum(per_node.values()) == len(out["ids"])


def test_store_on_a_single_redis_behaves_the_same(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(redis_shards=5)
    _check(read_store(s, _exercise))


def test_cdnow_through_kafka_and_a_worker_on_a_redis_cluster_equals_pandas_exactly(
    redis_cluster: str,
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    s = make_settings(redis_url=redis_cluster, redis_cluster=True)
    start_worker(s)
    subprocess.run(
        [sys.executable, "-m", "segstream", "replay", str(CDNOW_SAMPLE), "--no-progress"],
        env=settings_env(s),
        check=True,
        timeout=180,
    )
    stats = wait_for_events(s, "purchases", 6919)
    truth = cdnow_truth()
    customers = read_store(s, lambda st: st.scan_customers())
    assert sorted(customers) == sorted(truth.index)
    got = {c: (st.purchases.last_us, st.purchases.first_us, st.purchases.count, st.purchases.spend_minor)
           for c, st in customers.items()}  # fmt: skip
    want = {
        str(c): (to_us(r["last"].to_pydatetime()), to_us(r["first"].to_pydatetime()), int(r["count"]), int(r["spend"]))
        for c, r in truth.iterrows()
    }
    assert got == want
    assert stats["events:purchases"] == 6919 and stats["customers"] == 2357
    counts = read_store(s, lambda st: st.segment_counts())
    assert sum(counts["rfm"].values()) == 2357
    # the keys really are spread: every master holds customers
    rc = redis.RedisCluster.from_url(redis_cluster)
    try:
        per_node = {n.name: len(list(rc.scan_iter(match=f"{s.redis_prefix}:*:c:*", count=1000, target_nodes=n)))
                    for n in rc.get_primaries()}  # fmt: skip
    finally:
        rc.close()
    assert len(per_node) == 3 and all(v > 300 for v in per_node.values()), per_node
