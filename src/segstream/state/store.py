"""The Redis store: load a batch of customers in one round trip, save it atomically per shard.

Customers are spread over shards (see :mod:`segstream.state.keys`); every key one Lua call
touches carries the same hash tag, so the store works on one Redis and on a Redis Cluster
alike and never sends a cross-slot command. Saving runs one script per shard present in
the batch, all in one pipeline (one round trip on a single Redis; one per node, in
parallel, on a cluster). For each customer the script compares the stored version header
with the one loaded; on a match it writes the new state (which carries the applied
offsets) and moves the shard's counters, otherwise it reports a conflict so the caller
reloads and recomputes that customer. The stream clock (one hash) only moves forward.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import BusyLoadingError, ConnectionError, NoScriptError, TimeoutError

from segstream.state import keys as K
from segstream.state.barrier import Barrier
from segstream.state.customer import CustomerState, header, pack, unpack
from segstream.state.due import DueIndex

if TYPE_CHECKING:
    from segstream.config import Settings

log = logging.getLogger(__name__)


def _s(v: object) -> str:
    return "" if v is None else str(v)


T = TypeVar("T")

RETRYABLE: Final = (ConnectionError, TimeoutError, BusyLoadingError, OSError)

SCAN_COUNT: Final = 500  # keys one SCAN call of a segment listing asks for (fixed: pages re-read a batch)
# Cursors of the customer walks (sample, in_segment) are opaque non-negative integers:
#   walk position = scan_cursor * NODE_SPLIT + node  (node: index of the Redis node in the
#                   walk, 0 on a single Redis; cluster primaries sorted by host:port)
#   in_segment cursor = walk position * PAGE_SPLIT + members of that SCAN batch already served
NODE_SPLIT: Final = 1 << 10
PAGE_SPLIT: Final = 1 << 20
CURSOR_MAX: Final = (1 << 64) * NODE_SPLIT * PAGE_SPLIT - 1  # SCAN cursors are 64-bit
FLOW_TTL_S: Final = 25 * 3600  # transitions kept per wall minute: the dashboard looks back up to a day


def _lua(name: str) -> str:
    """A Lua script of state/lua/ (the files are the scripts Redis runs, comments and all)."""
    return resources.files("segstream.state").joinpath("lua", name).read_text(encoding="utf-8")


# One shard's save (state/lua/save.lua; FLOW_TTL is filled in here).
SAVE_LUA: Final = _lua("save.lua").replace("FLOW_TTL", str(FLOW_TTL_S))
# The stream clock: a field only moves forward (state/lua/clock.lua).
CLOCK_LUA: Final = _lua("clock.lua")

# The reads of customer documents in one command (state/lua/lookup.lua; read-only).
LOOKUP_LUA: Final = _lua("lookup.lua")
# The due customers of some due slots of one shard (state/lua/due.lua; read-only).
DUE_LUA: Final = _lua("due.lua")
SCRIPTS: Final = {hashlib.sha1(s.encode()).hexdigest(): s for s in (SAVE_LUA, CLOCK_LUA, LOOKUP_LUA, DUE_LUA)}
SAVE_SHA, CLOCK_SHA, LOOKUP_SHA, DUE_SHA = SCRIPTS

Client = aioredis.Redis | RedisCluster


@dataclass(slots=True)
class Loaded:
    """A customer as loaded: the version to check on save, and the state to update."""

    version: int
    state: CustomerState


@dataclass(slots=True)
class SaveItem:
    customer_id: str
    version: int  # as loaded
    state: CustomerState
    changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # segment moves
    buckets: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # histogram moves
    events: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # applied events per input topic (else all topic_kind)
    due_us: int | None = None  # None: leave the customer's due time as it is


def _sum_into(out: dict[str, int], raw: dict[bytes, bytes]) -> None:
    for k, v in raw.items():
        name = k.decode()
        out[name] = out.get(name, 0) + int(v)


class Store:
    """Customer state, clock and counters of one deployment (one key prefix), on one Redis
    or on a Redis Cluster (``client`` a :class:`redis.asyncio.cluster.RedisCluster`)."""

    def __init__(
        self, client: Client, prefix: str, shards: int, compress: bool = True, due_slots: int = K.DUE_SLOTS
    ) -> None:
        self.client = client
        self.keys = K.Keys(prefix, shards, due_slots)
        self.due_index = DueIndex(client, self.keys, self._run_scripts, DUE_SHA)
        self.cluster = isinstance(client, RedisCluster)
        self.compress = compress  # write customer records in format 3 (False: format 2)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        shards: int,
        cluster: bool = False,
        compress: bool = True,
        due_slots: int = K.DUE_SLOTS,
    ) -> Store:
        """A store on the Redis at ``url``; with ``cluster``, ``url`` is one startup node of a
        Redis Cluster (the others are discovered)."""
        client: Client
        if cluster:
            client = RedisCluster.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        else:
            client = aioredis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        return cls(client, prefix, shards, compress, due_slots)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """A store as the settings say (``redis_url``, ``redis_prefix``, ``redis_shards``,
        ``redis_cluster``, ``state_compression``, ``redis_due_slots``)."""
        s = settings
        return cls.from_url(
            s.redis_url, s.redis_prefix, s.redis_shards, s.redis_cluster, s.state_compression, s.redis_due_slots
        )

    async def close(self) -> None:
        await self.client.aclose()

    def _pipe(self) -> Any:
        return self.client.pipeline(transaction=False)

    @property
    def _shards(self) -> range:
        return range(self.keys.shards)

    async def load(
        self, customer_ids: Sequence[str], snapshots: Sequence[str] = ()
    ) -> tuple[dict[str, Loaded], dict[str, int], list[bytes | None]]:
        """The customers (missing ones empty, version 0), the stream clocks (µs, per source
        partition and ``global``) and the named model snapshots, in one pipeline: one MGET
        per shard present (one round trip on a single Redis)."""
        by_shard: dict[int, list[str]] = {}
        for c in customer_ids:
            by_shard.setdefault(self.keys.shard_of(c), []).append(c)
        pipe = self._pipe()
        for shard, cids in by_shard.items():
            head = self.keys.customer_head(shard)
            pipe.execute_command("MGET", *[head + c for c in cids])
        pipe.hgetall(self.keys.clock)
        for name in snapshots:
            pipe.get(self.keys.snapshot(name))
        res = await pipe.execute()
        loaded = {}
        for cids, blobs in zip(by_shard.values(), res, strict=False):
            for cid, blob in zip(cids, blobs, strict=True):
                version, state = unpack(blob)
                loaded[cid] = Loaded(version, state)
        clock, snaps = res[len(by_shard)], res[len(by_shard) + 1 :]
        return {c: loaded[c] for c in customer_ids}, {k.decode(): int(v) for k, v in clock.items()}, snaps

    async def save(self, items: Sequence[SaveItem], clock: dict[str, int], topic_kind: str) -> list[str]:
        """Write the items that nobody else changed since load; return the ids that conflicted
        (in item order).

        Each shard's customers are written atomically by one script; the shards and the
        clock are separate calls in one pipeline, so a failure part-way (a lost
        connection) can leave some shards written: a retry then reports those customers
        as conflicts, and the caller's reload finds their offsets already applied."""
        if not items:
            return []
        minute = int(time.time() // 60)
        groups: dict[int, list[int]] = {}
        for n, it in enumerate(items):
            groups.setdefault(self.keys.shard_of(it.customer_id), []).append(n)
        calls: list[tuple[Any, ...]] = []
        if clock:
            pairs = [x for f, v in clock.items() for x in (f, v)]
            calls.append(("EVALSHA", CLOCK_SHA, 1, self.keys.clock, *pairs))
        for shard, idx in groups.items():
            k = self.keys
            head = k.customer_head(shard)
            keys = [
                k.segment_counts(shard),
                k.stats(shard),
                k.histograms(shard),
                k.due_legacy(shard),
                k.flow(shard, minute),
                k.due_min(shard),
            ]
            argv: list[bytes | str | int] = [len(head.encode())]
            for n in idx:
                it = items[n]
                slot = k.due_slot_of(it.customer_id)
                keys += [head + it.customer_id, k.due(shard, slot)]
                moves = "".join(f"s\t{d}\t{_s(old)}\t{_s(new)}\n" for d, old, new in it.changes)
                moves += "".join(f"h\t{m}\t{_s(old)}\t{_s(new)}\n" for m, old, new in it.buckets if old != new)
                due = "" if it.due_us is None else str(it.due_us)
                counts = it.by_kind or ({topic_kind: it.events} if it.events else {})
                events = ",".join(f"{t}={n}" for t, n in counts.items())
                argv += [header(it.version), pack(it.version + 1, it.state, self.compress), moves, events, due, slot]
            calls.append(("EVALSHA", SAVE_SHA, len(keys), *keys, *argv))
        results = await self._run_scripts(calls)
        conflicts = sorted(
            idx[int(i) - 1] for idx, res in zip(groups.values(), results[1 if clock else 0 :], strict=True) for i in res
        )
        return [items[n].customer_id for n in conflicts]

    async def _run_scripts(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        """EVALSHA ``calls`` in one pipeline; scripts the server lacks (a fresh or restarted
        node) are loaded and just those calls sent again."""
        results = await self._pipe_results(calls)
        missing = [n for n, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            await self._load_scripts()
            for n, r in zip(missing, await self._pipe_results([calls[n] for n in missing]), strict=True):
                results[n] = r
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    async def _load_scripts(self) -> None:
        for text in SCRIPTS.values():
            await self.client.script_load(text)  # on a cluster: on every primary

    async def _pipe_results(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        pipe = self._pipe()
        for c in calls:
            pipe.execute_command(*c)
        return cast(list[Any], await pipe.execute(raise_on_error=False))

    async def _sum_hashes(self, names: Iterable[str]) -> dict[str, int]:
        pipe = self._pipe()
        for name in names:
            pipe.hgetall(name)
        out: dict[str, int] = {}
        for raw in await pipe.execute():
            _sum_into(out, raw)
        return out

    async def histograms(self) -> dict[str, dict[int, int]]:
        """The population histograms (metric -> bucket -> customers), summed over the shards."""
        out: dict[str, dict[int, int]] = {}
        for k, v in (await self._sum_hashes(self.keys.histograms(s) for s in self._shards)).items():
            name, _, b = k.partition(":")
            out.setdefault(name, {})[int(b)] = v
        return out

    async def due(self, now_us: int, limit: int) -> dict[str, int]:
        """At most ``limit`` customers whose re-scoring time has come (stream clock
        ``now_us``), earliest first over all shards, with the event time each was due at."""
        return await self.due_index.due(now_us, limit)

    async def _nodes(self) -> list[ClusterNode | None]:
        """The nodes a walk over every customer visits: the cluster's primaries (sorted by
        name, so positions stay meaningful between calls), or ``[None]`` on one Redis."""
        if not isinstance(self.client, RedisCluster):
            return [None]
        await self.client.initialize()
        return cast(list[ClusterNode | None], sorted(self.client.get_primaries(), key=lambda n: n.name))

    async def _scan(self, node: ClusterNode | None, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SCAN call for customer keys on ``node`` (None: the single Redis)."""
        if node is None:
            cur, keys = await self.client.scan(cursor, match=self.keys.customer_pattern, count=count)
            return int(cur), cast(list[bytes], keys)
        per_node, keys = await self.client.execute_command(
            "SCAN", cursor, "MATCH", self.keys.customer_pattern, "COUNT", count, target_nodes=node
        )  # a cluster answers {node name: cursor}
        return int(next(iter(per_node.values()))), cast(list[bytes], keys)

    async def sample(self, cursor: int, count: int) -> tuple[int, dict[str, CustomerState]]:
        """About ``count`` customers from a walk position (0: the start; see NODE_SPLIT), and
        the next position (0: wrapped round)."""
        nodes = await self._nodes()
        scan_cursor, node = divmod(cursor, NODE_SPLIT)
        out: dict[str, CustomerState] = {}
        if node >= len(nodes):  # the cluster lost nodes since: start again
            return 0, out
        while len(out) < count:
            scan_cursor, keys = await self._scan(nodes[node], scan_cursor, count)
            if keys:
                out.update(await self._get_many(keys))
            if scan_cursor == 0:
                node += 1
                if node == len(nodes):
                    return 0, out
        return scan_cursor * NODE_SPLIT + node, out

    async def mark_all_due(self, now_us: int = 0, chunk: int = 5000) -> int:
        """Make every customer due now (an operator's full re-score); returns how many."""
        return await self.due_index.mark_all(now_us, chunk)

    async def due_count(self, now_us: int) -> int:
        """How many customers are due at ``now_us``."""
        return await self.due_index.count(now_us)

    async def ping(self) -> None:
        await self.client.ping()

    def barrier(self) -> Barrier:
        """The event-time barrier's records (state/barrier.py) on this store's Redis."""
        return Barrier(self.client, self.keys)

    async def bump_rules_generation(self) -> int:
        """Ask every worker to reload its rules file; the new generation."""
        return int(await self.client.incr(self.keys.rules_generation))

    async def rules_generation(self) -> bytes | None:
        return cast(bytes | None, await self.client.get(self.keys.rules_generation))

    async def request_rescore(self) -> None:
        """Ask the leader for fresh snapshots and a re-score of every customer."""
        await self.client.set(self.keys.rescore_request, b"1")

    async def rescore_requested(self) -> bool:
        return bool(await self.client.exists(self.keys.rescore_request))

    async def clear_rescore_request(self) -> None:
        await self.client.delete(self.keys.rescore_request)

    async def put_snapshot(self, name: str, blob: bytes) -> None:
        await self.client.set(self.keys.snapshot(name), blob)

    async def get_snapshot(self, name: str) -> bytes | None:
        return cast(bytes | None, await self.client.get(self.keys.snapshot(name)))

    async def get_with_clock(self, customer_id: str) -> tuple[CustomerState | None, int]:
        """One customer and the global stream clock, in one pipeline (the profile API)."""
        pipe = self._pipe()
        pipe.get(self.keys.customer(customer_id))
        pipe.hget(self.keys.clock, K.CLOCK_GLOBAL)
        blob, clock = await pipe.execute()
        return (unpack(blob)[1] if blob else None), int(clock or 0)

    async def get_with_snapshots(
        self, customer_ids: Sequence[str], snapshots: Sequence[str]
    ) -> tuple[dict[str, Loaded], int, list[bytes | None], int]:
        """Customers (the ones that exist, with their versions), the global stream clock,
        the named model snapshots and the heartbeat (µs, 0: none): the customer documents
        outside the worker. One command on a single Redis (state/lua/lookup.lua, read-only,
        so a replica runs it too); a pipeline on a cluster, one round trip per node."""
        n = len(customer_ids)
        keys = [self.keys.customer(cid) for cid in customer_ids]
        keys += [self.keys.clock, self.keys.heartbeat, *(self.keys.snapshot(name) for name in snapshots)]
        if self.cluster:
            pipe = self._pipe()
            for key in keys[:n]:
                pipe.get(key)
            pipe.hget(self.keys.clock, K.CLOCK_GLOBAL)
            for key in keys[n + 1 :]:
                pipe.get(key)
            res = await pipe.execute()
        else:
            try:
                res = await self.client.execute_command("EVALSHA", LOOKUP_SHA, len(keys), *keys, n)
            except NoScriptError:  # a fresh or restarted server
                await self._load_scripts()
                res = await self.client.execute_command("EVALSHA", LOOKUP_SHA, len(keys), *keys, n)
        found = {cid: Loaded(*unpack(blob)) for cid, blob in zip(customer_ids, res[:n], strict=True) if blob}
        return found, int(res[n] or 0), list(res[n + 2 :]), int(res[n + 1] or 0)

    async def beat(self, now_us: int) -> None:
        """Write the heartbeat (wall time, µs) on this Redis (the primary)."""
        await self.client.set(self.keys.heartbeat, now_us)

    async def heartbeat(self) -> int:
        """The heartbeat as this Redis holds it (µs; 0: none)."""
        return int(await self.client.get(self.keys.heartbeat) or 0)

    async def in_segment(
        self, dimension: str, segment: str, cursor: int, limit: int, scan: int
    ) -> tuple[list[str], int, int]:
        """A page of at most ``limit`` customers in one segment, walking the customers with
        SCAN (node by node on a cluster) and examining about ``scan`` keys at most; returns
        (ids, next cursor (0: done), keys examined).

        The cursor is ``(scan_cursor * NODE_SPLIT + node) * PAGE_SPLIT + served``: which
        node (0 on a single Redis; cluster primaries sorted by host:port) and where on it
        the SCAN batch the page stopped in began, and how many of that batch's members
        were already served (a batch cannot be cut otherwise; SCAN returns more keys than
        asked for). No per-segment index is kept (it would cost more memory per customer
        than the state itself), so a page of a small segment may come back short, with a
        cursor; like SCAN, a listing may repeat a customer, or miss one while Redis
        resizes its table or the cluster changes its nodes."""
        pos, skip = divmod(cursor, PAGE_SPLIT)
        scan_cursor, node = divmod(pos, NODE_SPLIT)
        nodes = await self._nodes()
        found: list[str] = []
        examined = 0
        if node >= len(nodes):
            return found, 0, examined
        while True:
            start = scan_cursor
            scan_cursor, keys = await self._scan(nodes[node], scan_cursor, SCAN_COUNT)
            examined += len(keys)
            members = []
            if keys:
                members = [c for c, st in (await self._get_many(keys)).items()
                           if st.segments.get(dimension) == segment]  # fmt: skip
            members = sorted(members)[skip:]  # MGET order is SCAN order; sorted: stable across calls
            room = limit - len(found)
            if len(members) > room:
                found += members[:room]
                return found, (start * NODE_SPLIT + node) * PAGE_SPLIT + skip + room, examined
            found += members
            skip = 0
            if scan_cursor == 0:
                node += 1
                if node == len(nodes):
                    return found, 0, examined
            if examined >= scan or len(found) == limit:
                return found, (scan_cursor * NODE_SPLIT + node) * PAGE_SPLIT, examined

    async def get(self, customer_id: str) -> CustomerState | None:
        blob = cast(bytes | None, await self.client.get(self.keys.customer(customer_id)))
        return unpack(blob)[1] if blob else None

    async def clock(self) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], await self.client.hgetall(self.keys.clock))  # type: ignore[misc]
        return {k.decode(): int(v) for k, v in raw.items()}

    async def stats(self) -> dict[str, int]:
        """``customers``, ``events:{topic}`` and ``dlq:{reason}``, summed over the shards."""
        return await self._sum_hashes(self.keys.stats(s) for s in self._shards)

    async def segment_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for k, v in (await self._sum_hashes(self.keys.segment_counts(s) for s in self._shards)).items():
            dim, _, seg = k.partition(":")
            out.setdefault(dim, {})[seg] = v
        return out

    async def flows(self, minutes: int) -> dict[str, dict[tuple[str, str], int]]:
        """Segment transitions of the last ``minutes`` of wall time: dimension ->
        (from, to) -> customers ("" for from: entered the dimension)."""
        now = int(time.time() // 60)
        pipe = self._pipe()
        for m in range(now - minutes + 1, now + 1):
            for s in self._shards:
                pipe.hgetall(self.keys.flow(s, m))
        out: dict[str, dict[tuple[str, str], int]] = {}
        for raw in await pipe.execute():
            for k, v in raw.items():
                dim, old, new = k.decode().split("\t")
                per = out.setdefault(dim, {})
                per[(old, new)] = per.get((old, new), 0) + int(v)
        return out

    async def remember_churn_events(self, payloads: Sequence[bytes], keep: int = 200) -> None:
        """The newest churn-risk events (JSON), for the dashboard; older ones drop off."""
        pipe = self._pipe()
        pipe.lpush(self.keys.recent_churn, *payloads)
        pipe.ltrim(self.keys.recent_churn, 0, keep - 1)
        await pipe.execute()

    async def put_status(self, worker: str, blob: bytes, forget: Sequence[str] = ()) -> dict[str, bytes]:
        """Write one worker's status, remove the ``forget`` ones (workers long gone); every
        status as stored before this write."""
        pipe = self._pipe()
        pipe.hgetall(self.keys.workers)
        pipe.hset(self.keys.workers, worker, blob)
        if forget:
            pipe.hdel(self.keys.workers, *forget)
        before, *_ = await pipe.execute()
        return {k.decode(): v for k, v in before.items()}

    async def statuses(self) -> dict[str, bytes]:
        """Every worker's stored status (worker id -> JSON, state/status.py)."""
        raw = cast(dict[bytes, bytes], await self.client.hgetall(self.keys.workers))  # type: ignore[misc]
        return {k.decode(): v for k, v in raw.items()}

    async def recent_churn_events(self, limit: int) -> list[bytes]:
        return cast(list[bytes], await self.client.lrange(self.keys.recent_churn, 0, limit - 1))  # type: ignore[misc]

    async def count_dead_letters(self, reasons: Iterable[str]) -> None:
        """Count dead letters (in one shard's stats hash; :meth:`stats` includes them)."""
        key = self.keys.stats(K.DEAD_LETTER_SHARD)
        pipe = self._pipe()
        for r in reasons:
            pipe.hincrby(key, f"dlq:{r}", 1)
        await pipe.execute()

    async def replayed_dead_letters(self, ids: Sequence[str]) -> set[str]:
        """Which of these dead letters (ids of :func:`segstream.feeders.dlq.replay_id`) were
        re-sent already: one HMGET."""
        if not ids:
            return set()
        found = await self.client.hmget(self.keys.dlq_replayed, list(ids))  # type: ignore[misc]
        return {i for i, v in zip(ids, found, strict=True) if v is not None}

    async def record_replayed_dead_letters(self, sent: Mapping[str, str]) -> None:
        """Remember re-sent dead letters (id -> where the copy went): one HSET."""
        if sent:
            mapping: dict[Any, Any] = dict(sent)
            await self.client.hset(self.keys.dlq_replayed, mapping=mapping)  # type: ignore[misc]

    async def imported_events(self, topic_kind: str, digests: Sequence[bytes]) -> list[bool]:
        """Which of these event-id digests an import already sent to the topic: one SMISMEMBER."""
        if not digests:
            return []
        found = await self.client.smismember(self.keys.imported(topic_kind), list(digests))  # type: ignore[misc]
        return [bool(f) for f in found]

    async def record_imported_events(self, topic_kind: str, digests: Sequence[bytes]) -> None:
        """Remember event-id digests an import sent (after Kafka acknowledged them): one SADD."""
        if digests:
            await self.client.sadd(self.keys.imported(topic_kind), *digests)  # type: ignore[misc]

    async def scan_customers(self, count: int = 1000) -> dict[str, CustomerState]:
        """Every customer (for tests, replays and batch comparisons; not for the hot path)."""
        out: dict[str, CustomerState] = {}
        async for page in self.walk(count):
            out.update(page)
        return out

    async def walk(self, count: int = 1000) -> AsyncIterator[dict[str, CustomerState]]:
        """Every customer, a page at a time: one SCAN call (about ``count`` keys) and its
        MGETs per page, node by node on a cluster; only the current page is held.

        Like SCAN, a customer present from start to end is yielded at least once; one
        added or removed meanwhile may or may not be, and a resize of Redis's table (or a
        cluster changing its nodes) may yield a customer twice."""
        for node in await self._nodes():
            cursor = None
            while cursor != 0:
                cursor, keys = await self._scan(node, cursor or 0, count)
                if keys and (page := await self._get_many(keys)):
                    yield page

    async def _get_many(self, keys: list[bytes]) -> dict[str, CustomerState]:
        """The states of customer keys (any shards), in key order: one MGET per shard."""
        by_shard: dict[int, list[bytes]] = {}
        for k in keys:
            by_shard.setdefault(self.keys.shard_of_key(k), []).append(k)
        pipe = self._pipe()
        for ks in by_shard.values():
            pipe.execute_command("MGET", *ks)
        blobs = {k: b for ks, bs in zip(by_shard.values(), await pipe.execute(), strict=True)
                 for k, b in zip(ks, bs, strict=True)}  # fmt: skip
        return {self.keys.customer_id_of(k): unpack(blobs[k])[1] for k in keys if blobs[k]}


async def retry_forever(
    what: str,
    fn: Callable[[], Awaitable[T]],
    *,
    max_delay: float = 5.0,
    on_retry: Callable[[BaseException], None] | None = None,
    on_recover: Callable[[], None] | None = None,
) -> T:
    """Run ``fn`` until it succeeds, backing off on Redis connection errors.

    The batch being processed is held (its Kafka offsets are not acknowledged) until
    Redis answers again, so nothing is dropped and the worker does not crash-loop.
    """
    delay = 0.05
    failures = 0
    while True:
        try:
            result = await fn()
        except RETRYABLE as exc:
            failures += 1
            if on_retry:
                on_retry(exc)
            if failures == 1 or failures % 20 == 0:
                log.warning("Redis unavailable during %s (%s); retry %d in %.2fs", what, exc, failures, delay)
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)
            continue
        if failures:
            log.warning("Redis back after %d failed attempts during %s", failures, what)
            if on_recover:
                on_recover()
        return result
