"""The due-time index: when each customer must next be re-scored, in event time.

Each shard's index is split into ``due_slots`` small zsets (``{p}:{s}:due:{slot}``, customer
id -> due time in µs; a customer's slot is :meth:`Keys.due_slot_of`) and one zset of each
slot's earliest due time (``{p}:{s}:duemin``). Small zsets stay in Redis's listpack
encoding, about 20 B per customer where one large zset per shard costs a skip-list member
each (~110 B, docs/SCALING.md); ``duemin`` lets the sweep read only the slots whose time
has come. The save script (state/lua/save.lua) writes a customer's due time and
recomputes its slot's earliest one. The one zset per shard of earlier releases
(``{p}:{s}:due``) is still read, and a customer leaves it when next saved with a due time.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from segstream.state.keys import Keys

RunScripts = Callable[[list[tuple[Any, ...]]], Awaitable[list[Any]]]


class DueIndex:
    """Reads and bulk changes of the due-time index (writes of single customers are the
    save script's); ``client`` is a redis.asyncio client or cluster client, ``run_scripts``
    the store's EVALSHA pipeline (which loads scripts a server lacks) and ``due_sha`` the
    script of state/lua/due.lua."""

    def __init__(self, client: Any, keys: Keys, run_scripts: RunScripts, due_sha: str) -> None:
        self.client = client
        self.keys = keys
        self._run_scripts = run_scripts
        self._due_sha = due_sha

    def _pipe(self) -> Any:
        return self.client.pipeline(transaction=False)

    async def _slots(self, now_us: int | str, limit: int | None) -> tuple[list[tuple[int, int, float]], list[Any]]:
        """The slots whose earliest due time is at most ``now_us`` (shard, slot, time), at most
        ``limit`` of them per shard, and each shard's legacy zset's answer to the same range."""
        pipe = self._pipe()
        for s in range(self.keys.shards):
            if limit is None:
                pipe.zrangebyscore(self.keys.due_min(s), "-inf", now_us, withscores=True)
                pipe.zcount(self.keys.due_legacy(s), "-inf", now_us)
            else:
                pipe.zrangebyscore(self.keys.due_min(s), "-inf", now_us, start=0, num=limit, withscores=True)
                pipe.zrangebyscore(self.keys.due_legacy(s), "-inf", now_us, start=0, num=limit, withscores=True)
        res = await pipe.execute()
        slots = [(s, int(j), t) for s in range(self.keys.shards) for j, t in cast(list[Any], res[2 * s])]
        return slots, res[1::2]

    async def due(self, now_us: int, limit: int) -> dict[str, int]:
        """At most ``limit`` customers whose due time is at most ``now_us``, earliest first over
        all shards, with the event time each was due at.

        A customer among the ``limit`` earliest lies in a slot whose earliest time is no later
        than its own, so the ``limit`` slots with the earliest times hold all of them."""
        slots, legacy = await self._slots(now_us, limit)
        pairs: list[tuple[bytes, float]] = [p for shard in legacy for p in shard]
        by_shard: dict[int, list[str]] = {}
        for s, j, _ in heapq.nsmallest(limit, slots, key=lambda x: x[2]):
            by_shard.setdefault(s, []).append(self.keys.due(s, j))
        calls = [("EVALSHA", self._due_sha, len(ks), *ks, now_us, limit) for ks in by_shard.values()]
        for flat in await self._run_scripts(calls) if calls else []:
            pairs += [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]
        out: dict[str, int] = {}
        for cid, score in heapq.nsmallest(limit, pairs, key=lambda p: p[1]):
            name = cid.decode()
            out[name] = min(out.get(name, int(score)), int(score))
        return out

    async def count(self, now_us: int) -> int:
        """How many customers are due at ``now_us`` (legacy entries included)."""
        slots, legacy = await self._slots(now_us, None)
        pipe = self._pipe()
        for s, j, _ in slots:
            pipe.zcount(self.keys.due(s, j), "-inf", now_us)
        return sum(int(c) for c in legacy) + sum(int(c) for c in (await pipe.execute() if slots else []))

    async def mark_all(self, now_us: int = 0, chunk: int = 5000) -> int:
        """Make every customer due at ``now_us`` (an operator's full re-score); returns how many."""
        slots, _ = await self._slots("+inf", None)
        n = 0
        for s in range(self.keys.shards):
            n += await self._mark(self.keys.due_legacy(s), now_us, chunk)
        for s, j, _ in slots:
            n += await self._mark(self.keys.due(s, j), now_us, chunk)
            await self.client.zadd(self.keys.due_min(s), {str(j): now_us}, lt=True)
        return n

    async def _mark(self, key: str, now_us: int, chunk: int) -> int:
        n = 0
        batch: list[bytes] = []
        async for member, _ in self.client.zscan_iter(key, count=chunk):
            batch.append(member)
            if len(batch) >= chunk:
                n += await self._set(key, batch, now_us)
                batch = []
        return n + (await self._set(key, batch, now_us) if batch else 0)

    async def _set(self, key: str, members: Iterable[bytes], now_us: int) -> int:
        mapping = dict.fromkeys(members, now_us)
        await self.client.zadd(key, mapping, xx=True)
        return len(mapping)
