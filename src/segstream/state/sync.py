"""A :class:`~segstream.state.store.Store` for synchronous command-line loops (the dead-letter
replay's and the import's ledgers): one event loop of its own, closed with the store."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from segstream.config import Settings

T = TypeVar("T")


class SyncStore:
    """The store of ``settings``, its coroutines run to completion one at a time."""

    def __init__(self, settings: Settings) -> None:
        from segstream.state.store import Store

        self._runner = asyncio.Runner()
        self._store = Store.from_settings(settings)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def close(self) -> None:
        try:
            self._runner.run(self._store.close())
        finally:
            self._runner.close()
