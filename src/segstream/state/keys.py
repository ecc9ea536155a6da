"""Every Redis key segstream writes, in one place.

All keys start with the deployment's prefix (``SEGSTREAM_REDIS_PREFIX``, default ``ss``):

=========================  ======  =====================================================
key                        type    holds
=========================  ======  =====================================================
``{p}:c:{customer_id}``    string  8-byte version header + msgpack customer state
``{p}:clock``              hash    stream clock: per source partition and ``global``, µs
``{p}:segcount``           hash    ``{dimension}:{segment}`` -> customers in it
``{p}:stats``              hash    ``customers``, ``events:{topic}``, ``dlq:{reason}``
``{p}:hist``               hash    ``{metric}:{bucket}`` -> customers (RFM population)
``{p}:due``                zset    customer key -> event time (µs) it must be re-scored
``{p}:snap:{model}``       string  the latest published model snapshot (msgpack)
``{p}:rules:gen``          string  bumped by `segstream segments reload`
``{p}:rescore``            string  set by `segstream segments rescore`; the leader clears it
``{p}:flow:{minute}``      hash    ``{dim}\t{from}\t{to}`` -> moves in that wall minute (25 h TTL)
``{p}:recent:churn``       list    the newest 200 churn-risk events (JSON), newest first
=========================  ======  =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CUSTOMER: Final = "c"
CLOCK: Final = "clock"
SEGMENT_COUNTS: Final = "segcount"
STATS: Final = "stats"
HISTOGRAMS: Final = "hist"
DUE: Final = "due"
SNAPSHOT: Final = "snap"
FLOW: Final = "flow"

CLOCK_GLOBAL: Final = "global"
STAT_CUSTOMERS: Final = "customers"

#: One-letter codes of the source topics, used in offset and clock fields.
TOPIC_CODES: Final = {"purchases": "p", "usage": "u", "feedback": "f", "profiles": "r"}


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix."""

    prefix: str

    def customer(self, customer_id: str) -> str:
        return f"{self.prefix}:{CUSTOMER}:{customer_id}"

    @property
    def customer_pattern(self) -> str:
        return f"{self.prefix}:{CUSTOMER}:*"

    def customer_id_of(self, key: str | bytes) -> str:
        k = key.decode() if isinstance(key, bytes) else key
        return k[len(self.prefix) + len(CUSTOMER) + 2 :]

    @property
    def clock(self) -> str:
        return f"{self.prefix}:{CLOCK}"

    @property
    def segment_counts(self) -> str:
        return f"{self.prefix}:{SEGMENT_COUNTS}"

    @property
    def stats(self) -> str:
        return f"{self.prefix}:{STATS}"

    @property
    def histograms(self) -> str:
        return f"{self.prefix}:{HISTOGRAMS}"

    @property
    def due(self) -> str:
        return f"{self.prefix}:{DUE}"

    @property
    def rescore_request(self) -> str:
        return f"{self.prefix}:rescore"

    @property
    def rules_generation(self) -> str:
        return f"{self.prefix}:rules:gen"

    def flow(self, minute: int) -> str:
        return f"{self.prefix}:{FLOW}:{minute}"

    @property
    def recent_churn(self) -> str:
        return f"{self.prefix}:recent:churn"

    def snapshot(self, name: str) -> str:
        return f"{self.prefix}:{SNAPSHOT}:{name}"


def source_field(topic_kind: str, partition: int) -> str:
    """Field naming one source partition, e.g. ``p3`` for purchases partition 3."""
    return f"{TOPIC_CODES[topic_kind]}{partition}"
