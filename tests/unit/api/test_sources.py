"""Where the standalone API reads a lookup (api/server.py ``Sources``): the replica while its
heartbeat is within the staleness bound, else the primary. Fake readers, no Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.exceptions

from segstream.api import server
from segstream.api.server import Freshness, Sources
from segstream.config import Settings
from segstream.state.reader import Found

NOW_US = 1_700_000_000_000_000


class FakeReader:
    def __init__(self, name: str, heartbeat_us: int = 0, fails: bool = False) -> None:
        self.name, self.heartbeat_us, self.fails, self.calls = name, heartbeat_us, fails, 0

    async def customers(self, ids: list[str]) -> Found:
        self.calls += 1
        if self.fails:
            raise redis.exceptions.ConnectionError("down")
        return Found({c: ({"from": self.name}, '"t"') for c in ids}, self.heartbeat_us)


def sources(replica: FakeReader | None, max_staleness_s: float = 2.0) -> tuple[Sources, FakeReader]:
    src = Sources(Settings(api_max_staleness_s=max_staleness_s), None, None)  # type: ignore[arg-type]
    primary = FakeReader("primary")
    src.primary, src.replica = primary, replica  # type: ignore[assignment]
    return src, primary


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "_now_us", lambda: NOW_US)


def read(src: Sources) -> tuple[Any, Freshness]:
    found, fresh = asyncio.run(src.customers(["c1"]))
    return found.documents["c1"][0]["from"], fresh


def test_without_a_replica_every_read_is_the_primary_s_and_never_stale() -> None:
    src, _ = sources(None)
    assert read(src) == ("primary", Freshness("primary", 0.0))


def test_a_replica_within_the_bound_answers_with_its_heartbeat_s_age_as_the_bound() -> None:
    replica = FakeReader("replica", heartbeat_us=NOW_US - 1_234_500)
    src, primary = sources(replica)
    assert read(src) == ("replica", Freshness("replica", 1234.5))
    assert primary.calls == 0


def test_a_replica_exactly_at_the_bound_still_answers_one_past_it_does_not() -> None:
    src, _ = sources(FakeReader("replica", heartbeat_us=NOW_US - 2_000_000))
    assert read(src)[0] == "replica"
    src, primary = sources(FakeReader("replica", heartbeat_us=NOW_US - 2_000_001))
    assert read(src) == ("primary", Freshness("primary", 0.0)) and primary.calls == 1


def test_a_replica_without_a_heartbeat_or_not_answering_falls_back_to_the_primary() -> None:
    for replica in (FakeReader("replica", heartbeat_us=0), FakeReader("replica", fails=True)):
        src, primary = sources(replica)
        assert read(src)[0] == "primary" and replica.calls == 1 and primary.calls == 1


def test_a_heartbeat_from_a_clock_ahead_counts_as_zero_staleness() -> None:
    src, _ = sources(FakeReader("replica", heartbeat_us=NOW_US + 500_000))
    assert read(src) == ("replica", Freshness("replica", 0.0))


def test_listings_use_the_replica_only_while_its_last_heartbeat_was_within_the_bound() -> None:
    replica = FakeReader("replica")
    src, primary = sources(replica)
    assert src.lister() is primary  # not known yet
    src.replica_behind_us = 1_999_999
    assert src.lister() is replica
    src.replica_behind_us = 2_000_001
    assert src.lister() is primary
