"""The leader's cluster learning: which customers it learns from and when it chooses the count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from segstream.agents.leader import Leader
from segstream.config import Settings
from segstream.state.customer import CustomerState


class Sync:
    """Records what the leader asks the model sync to learn from (no events: nothing sent)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def learn_from(self, *args: Any, **kwargs: Any) -> list[dict[str, object]]:
        self.calls.append(("learn_from", args, kwargs))
        return []

    async def learn_clusters(self, *args: Any, **kwargs: Any) -> list[dict[str, object]]:
        self.calls.append(("learn_clusters", args, kwargs))
        return []


def leader(sync: Sync, sample: int) -> Leader:
    async def redis(_what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await call()

    pipeline = SimpleNamespace(settings=Settings(cluster_sample=sample), redis=redis, sync=sync)
    return Leader(pipeline)  # type: ignore[arg-type]


async def test_an_epochs_learning_chooses_the_count_from_its_own_customers_in_order() -> None:
    sync = Sync()
    customers = [CustomerState() for _ in range(12)]
    await leader(sync, sample=10).learn_clusters(customers, now=7)
    assert len(sync.calls) == 1
    name, args, kwargs = sync.calls[0]
    assert name == "learn_from"
    assert args[0] == customers[:10] and args[1] == 7  # the first cluster_sample, as of the epoch
    assert kwargs == {"choose": True}


async def test_the_live_timer_learns_a_slice_and_leaves_the_choice_to_the_learners_own_rhythm() -> None:
    sync = Sync()
    await leader(sync, sample=10).learn_clusters(None, now=7)
    assert sync.calls == [("learn_clusters", (7, 10), {})]
