"""The leader's catch-up: when a drained stream counts as the backlog's end."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from segstream.agents import epochs
from segstream.agents.epochs import Catchup
from segstream.state.keys import CLOCK_GLOBAL


class Store:
    def __init__(self) -> None:
        self.global_clock = 100

    async def clock(self) -> dict[str, int]:
        return {CLOCK_GLOBAL: self.global_clock}


async def test_a_drained_stream_is_its_end_only_once_the_clock_stood_still_long_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker faster than its producer drains the partitions between two sends; the
    epoch may close only after the stream clock stood still for the quiet time."""
    store, wall = Store(), [0.0]
    monkeypatch.setattr(epochs.time, "monotonic", lambda: wall[0])
    catchup = Catchup(SimpleNamespace(store=store), barrier=None)  # type: ignore[arg-type]
    assert not await catchup._quiet_for(5.0)  # drained just now
    wall[0] = 4.9
    assert not await catchup._quiet_for(5.0)
    store.global_clock, wall[0] = 160, 6.0  # events came meanwhile: the quiet starts again
    assert not await catchup._quiet_for(5.0)
    wall[0] = 10.9
    assert not await catchup._quiet_for(5.0)
    wall[0] = 11.0
    assert await catchup._quiet_for(5.0)
