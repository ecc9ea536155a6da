"""The Redis store: load a batch of customers in one round trip, save it atomically in one.

Saving goes through one Lua script per batch. For each customer it compares the stored
version header with the one loaded; on a match it writes the new state (which carries the
applied offsets) and moves the segment counters, otherwise it reports a conflict so the
caller reloads and recomputes that customer. The stream clock only moves forward.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from segstream.state import keys as K
from segstream.state.customer import CustomerState, header, pack, unpack

log = logging.getLogger(__name__)


def _s(v: object) -> str:
    return "" if v is None else str(v)


T = TypeVar("T")

RETRYABLE: Final = (ConnectionError, TimeoutError, BusyLoadingError, OSError)

# KEYS: clock, segcount, stats, hist, due, flow (this wall minute's transitions), customer...
# ARGV: nclock, (field, value) * nclock, then per customer: header, blob, moves, events, due,
#   and last the stats field of the applied-event counter.
#   moves = "kind\tname\told\tnew\n" lines; kind s = segment (count in segcount under
#   name:segment), h = histogram bucket (count in hist under name:bucket); old may be empty.
#   due = event time (µs) at which the customer must be re-scored, or empty: unchanged.
SCAN_COUNT: Final = 500  # keys one SCAN call of a segment listing asks for (fixed: pages re-read a batch)
PAGE_SPLIT: Final = 1 << 20  # segment-listing cursor = SCAN cursor * PAGE_SPLIT + members already served
FLOW_TTL_S: Final = 25 * 3600  # transitions kept per wall minute: the dashboard looks back up to a day
SAVE_LUA: Final = """
local nclock = tonumber(ARGV[1])
local i = 2
for _ = 1, nclock do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
local conflicts = {}
local events = 0
local created = 0
local function move(key, field, by)
  if redis.call('HINCRBY', key, field, by) == 0 then redis.call('HDEL', key, field) end
end
local flows = 0
for k = 7, #KEYS do
  local expect, blob, moves, n, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if redis.call('GETRANGE', KEYS[k], 0, 7) ~= expect then
    conflicts[#conflicts + 1] = k - 6
  else
    redis.call('SET', KEYS[k], blob)
    if expect == '' then created = created + 1 end
    for kind, name, old, new in string.gmatch(moves, '(%a)\\t([^\\t\\n]*)\\t([^\\t\\n]*)\\t([^\\t\\n]*)\\n') do
      local h = KEYS[2]
      if kind == 'h' then h = KEYS[4] end
      if old ~= '' then move(h, name .. ':' .. old, -1) end
      if new ~= '' then move(h, name .. ':' .. new, 1) end
      if kind == 's' then
        redis.call('HINCRBY', KEYS[6], name .. '\t' .. old .. '\t' .. new, 1)
        flows = flows + 1
      end
    end
    if due ~= '' then redis.call('ZADD', KEYS[5], due, KEYS[k]) end
    events = events + tonumber(n)
  end
end
if flows > 0 then redis.call('EXPIRE', KEYS[6], FLOW_TTL) end
if created > 0 then redis.call('HINCRBY', KEYS[3], 'customers', created) end
if events > 0 then redis.call('HINCRBY', KEYS[3], ARGV[#ARGV], events) end
return conflicts
""".replace("FLOW_TTL", str(FLOW_TTL_S))


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
    due_us: int | None = None  # None: leave the customer's due time as it is


class Store:
    """Customer state, clock and counters of one deployment (one key prefix)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = K.Keys(prefix)
        self._save = client.register_script(SAVE_LUA)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> Store:
        client = aioredis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        return cls(client, prefix)

    async def close(self) -> None:
        await self.client.aclose()

    async def load(
        self, customer_ids: Sequence[str], snapshots: Sequence[str] = ()
    ) -> tuple[dict[str, Loaded], dict[str, int], list[bytes | None]]:
        """The customers (missing ones empty, version 0), the stream clocks (µs, per source
        partition and ``global``) and the named model snapshots, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.mget([self.keys.customer(c) for c in customer_ids])
        pipe.hgetall(self.keys.clock)
        for name in snapshots:
            pipe.get(self.keys.snapshot(name))
        blobs, clock, *snaps = await pipe.execute()
        loaded = {}
        for cid, blob in zip(customer_ids, blobs, strict=True):
            version, state = unpack(blob)
            loaded[cid] = Loaded(version, state)
        return loaded, {k.decode(): int(v) for k, v in clock.items()}, snaps

    async def save(self, items: Sequence[SaveItem], clock: dict[str, int], topic_kind: str) -> list[str]:
        """Write the items that nobody else changed since load; return the ids that conflicted."""
        if not items:
            return []
        argv: list[bytes | str | int] = [len(clock)]
        for f, v in clock.items():
            argv += [f, v]
        minute = int(time.time() // 60)
        keys = [self.keys.clock, self.keys.segment_counts, self.keys.stats, self.keys.histograms, self.keys.due]
        keys.append(self.keys.flow(minute))
        for it in items:
            keys.append(self.keys.customer(it.customer_id))
            moves = "".join(f"s\t{d}\t{_s(old)}\t{_s(new)}\n" for d, old, new in it.changes)
            moves += "".join(f"h\t{m}\t{_s(old)}\t{_s(new)}\n" for m, old, new in it.buckets if old != new)
            due = "" if it.due_us is None else str(it.due_us)
            argv += [header(it.version), pack(it.version + 1, it.state), moves, it.events, due]
        argv.append(f"events:{topic_kind}")
        conflicts = await self._save(keys=keys, args=argv)
        return [items[int(i) - 1].customer_id for i in conflicts]

    async def histograms(self) -> dict[str, dict[int, int]]:
        """The population histograms (metric -> bucket -> customers)."""
        out: dict[str, dict[int, int]] = {}
        for k, v in (await self._int_hash(self.keys.histograms)).items():
            name, _, b = k.partition(":")
            out.setdefault(name, {})[int(b)] = v
        return out

    async def due(self, now_us: int, limit: int) -> dict[str, int]:
        """Customers whose re-scoring time has come (stream clock ``now_us``), earliest
        first, with the event time each was due at."""
        pairs = await self.client.zrangebyscore(self.keys.due, "-inf", now_us, start=0, num=limit, withscores=True)
        return {self.keys.customer_id_of(k): int(score) for k, score in cast(list[tuple[bytes, float]], pairs)}

    async def sample(self, cursor: int, count: int) -> tuple[int, dict[str, CustomerState]]:
        """About ``count`` customers from a SCAN cursor, and the next cursor (0: wrapped round)."""
        out: dict[str, CustomerState] = {}
        while len(out) < count:
            cursor, keys = await self.client.scan(cursor, match=self.keys.customer_pattern, count=count)
            if keys:
                out.update(await self._get_many(cast(list[bytes], keys)))
            if cursor == 0:
                break
        return int(cursor), out

    async def mark_all_due(self, now_us: int = 0, chunk: int = 5000) -> int:
        """Make every customer due now (an operator's full re-score); returns how many."""
        n = 0
        batch: list[bytes] = []
        async for member, _ in self.client.zscan_iter(self.keys.due, count=chunk):
            batch.append(member)
            if len(batch) >= chunk:
                await self.client.zadd(self.keys.due, dict.fromkeys(batch, now_us), xx=True)
                n += len(batch)
                batch = []
        if batch:
            await self.client.zadd(self.keys.due, dict.fromkeys(batch, now_us), xx=True)
            n += len(batch)
        return n

    async def due_count(self, now_us: int) -> int:
        return int(await self.client.zcount(self.keys.due, "-inf", now_us))

    async def put_snapshot(self, name: str, blob: bytes) -> None:
        await self.client.set(self.keys.snapshot(name), blob)

    async def get_snapshot(self, name: str) -> bytes | None:
        return cast(bytes | None, await self.client.get(self.keys.snapshot(name)))

    async def get_with_clock(self, customer_id: str) -> tuple[CustomerState | None, int]:
        """One customer and the global stream clock, in one round trip (the profile API)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.customer(customer_id))
        pipe.hget(self.keys.clock, K.CLOCK_GLOBAL)
        blob, clock = await pipe.execute()
        return (unpack(blob)[1] if blob else None), int(clock or 0)

    async def in_segment(
        self, dimension: str, segment: str, cursor: int, limit: int, scan: int
    ) -> tuple[list[str], int, int]:
        """A page of at most ``limit`` customers in one segment, walking the customers with
        a SCAN cursor and examining about ``scan`` keys at most; returns (ids, next cursor
        (0: done), keys examined).

        The cursor is ``scan_cursor * PAGE_SPLIT + served``: where the SCAN batch the page
        stopped in began, and how many of that batch's members were already served (a
        batch cannot be cut otherwise; SCAN returns more keys than asked for). No
        per-segment index is kept (it would cost more memory per customer than the state
        itself), so a page of a small segment may come back short, with a cursor; like
        SCAN, a listing may repeat a customer, or miss one while Redis resizes its table."""
        scan_cursor, skip = divmod(cursor, PAGE_SPLIT)
        found: list[str] = []
        examined = 0
        while True:
            start = scan_cursor
            scan_cursor, keys = await self.client.scan(scan_cursor, match=self.keys.customer_pattern, count=SCAN_COUNT)
            examined += len(keys)
            members = []
            if keys:
                members = [c for c, st in (await self._get_many(cast(list[bytes], keys))).items()
                           if st.segments.get(dimension) == segment]  # fmt: skip
            members = sorted(members)[skip:]  # MGET order is SCAN order; sorted: stable across calls
            room = limit - len(found)
            if len(members) > room:
                found += members[:room]
                return found, start * PAGE_SPLIT + skip + room, examined
            found += members
            skip = 0
            if scan_cursor == 0 or examined >= scan or len(found) == limit:
                return found, int(scan_cursor) * PAGE_SPLIT, examined

    async def get(self, customer_id: str) -> CustomerState | None:
        blob = cast(bytes | None, await self.client.get(self.keys.customer(customer_id)))
        return unpack(blob)[1] if blob else None

    async def _int_hash(self, key: str) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], await self.client.hgetall(key))  # type: ignore[misc]
        return {k.decode(): int(v) for k, v in raw.items()}

    async def clock(self) -> dict[str, int]:
        return await self._int_hash(self.keys.clock)

    async def stats(self) -> dict[str, int]:
        return await self._int_hash(self.keys.stats)

    async def segment_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for k, v in (await self._int_hash(self.keys.segment_counts)).items():
            dim, _, seg = k.partition(":")
            out.setdefault(dim, {})[seg] = v
        return out

    async def flows(self, minutes: int) -> dict[str, dict[tuple[str, str], int]]:
        """Segment transitions of the last ``minutes`` of wall time: dimension ->
        (from, to) -> customers ("" for from: entered the dimension)."""
        now = int(time.time() // 60)
        pipe = self.client.pipeline(transaction=False)
        for m in range(now - minutes + 1, now + 1):
            pipe.hgetall(self.keys.flow(m))
        out: dict[str, dict[tuple[str, str], int]] = {}
        for raw in await pipe.execute():
            for k, v in raw.items():
                dim, old, new = k.decode().split("\t")
                per = out.setdefault(dim, {})
                per[(old, new)] = per.get((old, new), 0) + int(v)
        return out

    async def remember_churn_events(self, payloads: Sequence[bytes], keep: int = 200) -> None:
        """The newest churn-risk events (JSON), for the dashboard; older ones drop off."""
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(self.keys.recent_churn, *payloads)
        pipe.ltrim(self.keys.recent_churn, 0, keep - 1)
        await pipe.execute()

    async def recent_churn_events(self, limit: int) -> list[bytes]:
        return cast(list[bytes], await self.client.lrange(self.keys.recent_churn, 0, limit - 1))  # type: ignore[misc]

    async def count_dead_letters(self, reasons: Iterable[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for r in reasons:
            pipe.hincrby(self.keys.stats, f"dlq:{r}", 1)
        await pipe.execute()

    async def scan_customers(self, count: int = 1000) -> dict[str, CustomerState]:
        """Every customer (for tests, replays and batch comparisons; not for the hot path)."""
        out: dict[str, CustomerState] = {}
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=self.keys.customer_pattern, count=count):
            batch.append(key)
            if len(batch) >= count:
                out.update(await self._get_many(batch))
                batch = []
        if batch:
            out.update(await self._get_many(batch))
        return out

    async def _get_many(self, keys: list[bytes]) -> dict[str, CustomerState]:
        blobs = cast(list[bytes | None], await self.client.mget(keys))
        return {self.keys.customer_id_of(k): unpack(b)[1] for k, b in zip(keys, blobs, strict=True) if b}


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
