"""Every Redis key segstream writes, in one place.

All keys start with the deployment's prefix (``SEGSTREAM_REDIS_PREFIX``, default ``ss``).
Customers are spread over ``SEGSTREAM_REDIS_SHARDS`` shards (``shard = crc32(id) % shards``,
:meth:`Keys.shard_of`); every per-shard key carries the shard as a Redis Cluster hash tag,
``{p}:{<shard>}:…``, so all keys one save touches hash to one slot (one node):

===============================  ======  ==================================================
key                              type    holds
===============================  ======  ==================================================
``{p}:{s}:c:{customer_id}``      string  8-byte version header + msgpack customer state
``{p}:{s}:segcount``             hash    ``{dimension}:{segment}`` -> the shard's customers in it
``{p}:{s}:stats``                hash    ``customers``, ``events:{topic}``; shard 0 also
                                         ``dlq:{reason}``
``{p}:{s}:hist``                 hash    ``{metric}:{bucket}`` -> customers (RFM population)
``{p}:{s}:due:{slot}``           zset    customer id -> event time (µs) it must be re-scored;
                                         a customer's slot is :meth:`Keys.due_slot_of`
``{p}:{s}:duemin``               zset    due slot -> the earliest due time in it (the sweep
                                         reads only the slots whose time has come)
``{p}:{s}:due``                  zset    the due index of releases before 2026-12-03 (one
                                         zset per shard): still read; a customer leaves it
                                         when next saved with a due time
``{p}:{s}:flow:{minute}``        hash    ``{dim}\t{from}\t{to}`` -> moves in that wall minute
                                         (25 h TTL)
``{p}:clock``                    hash    stream clock: per source partition and ``global``, µs
``{p}:epoch``                    hash    ``next``: events at or after it wait (µs; -1: live),
                                         ``done``: the epoch whose sweep and snapshots ran
``{p}:barrier``                  hash    ``{topic}/{partition}`` -> ``{next}:held:{µs}`` (waits
                                         at an event of that time) or ``{next}:drained``
``{p}:snap:{model}``             string  the latest published model snapshot (msgpack)
``{p}:heartbeat``                string  wall time (µs) the standalone API last wrote on the
                                         primary; read on a replica, it bounds staleness
``{p}:workers``                  hash    worker id -> its status (JSON, state/status.py),
                                         rewritten every second by each worker
``{p}:rules:gen``                string  bumped by `segstream segments reload`
``{p}:rescore``                  string  set by `segstream segments rescore`; the leader clears it
``{p}:recent:churn``             list    the newest 200 churn-risk events (JSON), newest first
``{p}:dlq:replayed``             hash    dead letters `segstream dlq replay` re-sent:
                                         ``{dlq partition}/{dlq offset}@{topic}/{partition}/{offset}``
                                         -> where the copy went, ``{topic}/{partition}/{offset}``
``{p}:imported:{kind}``          set     8-byte digests of the event ids `segstream import`
                                         sent to an input topic (docs/IMPORT.md, the ledger)
===============================  ======  ==================================================

``{s}`` above is literal braces around the shard number, e.g. ``ss:{7}:c:alice``. Readers
of counters sum (or merge) the per-shard keys. The shard count may not change once data
exists: customers would be looked for in the wrong shard. Nor may the due slots per shard
(``SEGSTREAM_REDIS_DUE_SLOTS``): a customer's old entry would stay due in its old slot.

The due index is split into slots so that each zset stays small enough for Redis's compact
listpack encoding (``zset-max-listpack-entries``, 128 by default): about 20 B per customer
instead of the ~110 B of a skip-list member (docs/BENCHMARKS.md, "Redis bytes per customer
at 1M customers").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

from segstream.streams import kinds

CUSTOMER: Final = "c"
CLOCK: Final = "clock"
SEGMENT_COUNTS: Final = "segcount"
STATS: Final = "stats"
HISTOGRAMS: Final = "hist"
DUE: Final = "due"
DUE_MIN: Final = "duemin"
DUE_SLOTS: Final = 1024  # due slots per shard, unless the settings say otherwise
SNAPSHOT: Final = "snap"
FLOW: Final = "flow"
EPOCH: Final = "epoch"
BARRIER: Final = "barrier"
DLQ_REPLAYED: Final = "dlq:replayed"
IMPORTED: Final = "imported"
HEARTBEAT: Final = "heartbeat"
WORKERS: Final = "workers"

CLOCK_GLOBAL: Final = "global"
STAT_CUSTOMERS: Final = "customers"
DEAD_LETTER_SHARD: Final = 0  # the shard whose stats hash counts dead letters

#: One-letter codes of the source topics, used in offset and clock fields.
TOPIC_CODES: Final = kinds.CODES

#: Names of the published model snapshots (:meth:`Keys.snapshot`).
SNAPSHOT_RFM: Final = "rfm"
SNAPSHOT_CLUSTER: Final = "cluster"
SNAPSHOT_VALUE: Final = "value"
#: The snapshots every batch and every customer document reads, in this order.
SNAPSHOTS: Final = (SNAPSHOT_RFM, SNAPSHOT_CLUSTER, SNAPSHOT_VALUE)


def shard_of(customer_id: str, shards: int) -> int:
    """The shard of a customer: stable across processes and versions (CRC-32 of the UTF-8 id)."""
    return zlib.crc32(customer_id.encode()) % shards


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix, with customers spread over ``shards`` shards."""

    prefix: str
    shards: int
    due_slots: int = DUE_SLOTS

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError(f"a key prefix may not contain braces (Redis hash tags): {self.prefix!r}")
        if self.shards < 1:
            raise ValueError(f"shards must be at least 1, got {self.shards}")
        if self.due_slots < 1:
            raise ValueError(f"due slots must be at least 1, got {self.due_slots}")

    def shard_of(self, customer_id: str) -> int:
        return shard_of(customer_id, self.shards)

    def tag(self, shard: int) -> str:
        """``{p}:{shard}``: the start of every key of one shard (hash tag = the shard)."""
        return f"{self.prefix}:{{{shard}}}"

    def customer_head(self, shard: int) -> str:
        """What precedes the customer id in a customer key of ``shard``."""
        return f"{self.prefix}:{{{shard}}}:{CUSTOMER}:"

    def customer(self, customer_id: str) -> str:
        return self.customer_head(self.shard_of(customer_id)) + customer_id

    @property
    def customer_pattern(self) -> str:
        """SCAN MATCH pattern of every customer key (every shard)."""
        return f"{self.prefix}:{{*}}:{CUSTOMER}:*"

    def _split(self, key: str | bytes) -> tuple[int, str]:
        k = key.decode() if isinstance(key, bytes) else key
        start = len(self.prefix) + 2  # after "{prefix}:{"
        end = k.index("}", start)  # the shard is digits: the first "}" closes the tag
        return int(k[start:end]), k[end + 3 + len(CUSTOMER) :]  # skip "}:c:"

    def customer_id_of(self, key: str | bytes) -> str:
        """The customer id in a customer key (ids may hold any character, braces included)."""
        return self._split(key)[1]

    def shard_of_key(self, key: str | bytes) -> int:
        """The shard a customer key is in, read from its hash tag."""
        return self._split(key)[0]

    def segment_counts(self, shard: int) -> str:
        return f"{self.tag(shard)}:{SEGMENT_COUNTS}"

    def stats(self, shard: int) -> str:
        return f"{self.tag(shard)}:{STATS}"

    def histograms(self, shard: int) -> str:
        return f"{self.tag(shard)}:{HISTOGRAMS}"

    def due_slot_of(self, customer_id: str) -> int:
        """The due slot of a customer within its shard: the CRC-32 of the id above the
        shard's part (so the slots of one shard fill evenly), modulo the slots."""
        return zlib.crc32(customer_id.encode()) // self.shards % self.due_slots

    def due(self, shard: int, slot: int) -> str:
        """One due slot of ``shard``: customer id -> the event time it must be re-scored."""
        return f"{self.tag(shard)}:{DUE}:{slot}"

    def due_min(self, shard: int) -> str:
        """The earliest due time of each due slot of ``shard``."""
        return f"{self.tag(shard)}:{DUE_MIN}"

    def due_legacy(self, shard: int) -> str:
        """The due index of releases before 2026-12-03: one zset per shard."""
        return f"{self.tag(shard)}:{DUE}"

    def flow(self, shard: int, minute: int) -> str:
        return f"{self.tag(shard)}:{FLOW}:{minute}"

    @property
    def clock(self) -> str:
        return f"{self.prefix}:{CLOCK}"

    @property
    def rescore_request(self) -> str:
        return f"{self.prefix}:rescore"

    @property
    def rules_generation(self) -> str:
        return f"{self.prefix}:rules:gen"

    @property
    def recent_churn(self) -> str:
        return f"{self.prefix}:recent:churn"

    @property
    def dlq_replayed(self) -> str:
        """The dead letters `segstream dlq replay` has re-sent (one hash, not sharded)."""
        return f"{self.prefix}:{DLQ_REPLAYED}"

    def imported(self, topic_kind: str) -> str:
        """The event ids `segstream import` has sent to one input topic: one set of 8-byte
        digests (not sharded)."""
        return f"{self.prefix}:{IMPORTED}:{topic_kind}"

    def snapshot(self, name: str) -> str:
        return f"{self.prefix}:{SNAPSHOT}:{name}"

    @property
    def heartbeat(self) -> str:
        """Wall time (µs) last written on the primary by `segstream api`: read on a replica,
        ``now - heartbeat`` bounds how far that replica is behind."""
        return f"{self.prefix}:{HEARTBEAT}"

    @property
    def workers(self) -> str:
        """Every worker's status (state/status.py)."""
        return f"{self.prefix}:{WORKERS}"

    @property
    def epoch(self) -> str:
        """Event-time epochs of a catch-up (``SEGSTREAM_EVENT_EPOCH_S``): ``next`` and ``done``."""
        return f"{self.prefix}:{EPOCH}"

    @property
    def barrier(self) -> str:
        """Where each input partition stands in the current epoch."""
        return f"{self.prefix}:{BARRIER}"


def source_field(topic_kind: str, partition: int) -> str:
    """Field naming one source partition, e.g. ``p3`` for purchases partition 3."""
    return f"{TOPIC_CODES[topic_kind]}{partition}"


#: Every Redis command segstream sends (from Python, pipelines and its Lua scripts), for an
#: ACL user that may run only these on ``{p}:*`` keys (docs/SECURITY.md; a test runs the
#: worker and the CLI as such a user). ``hello`` is redis-py's connection handshake (its
#: ``CLIENT SETINFO``, Redis >= 7.2, may be denied: redis-py ignores the error); ``eval`` its
#: fallback when a script is not loaded.
REDIS_COMMANDS: tuple[str, ...] = (
    "del", "eval", "evalsha", "exists", "expire", "get", "getrange", "hdel", "hello", "hget", "hgetall", "hincrby",
    "hmget", "hset", "incr", "incrby", "lpush", "lrange", "ltrim", "mget", "ping", "scan", "script|load", "set",
    "zadd", "zcount", "zrange", "zrangebyscore", "zrem", "zscan",
)  # fmt: skip
