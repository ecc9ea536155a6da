"""The purchases agent: batches of purchase events through the pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

import faust

from segstream.agents.pipeline import Pipeline


def register(app: faust.App, pipeline: Pipeline) -> None:
    settings = pipeline.settings

    @app.agent(pipeline.inputs["purchases"], name="purchases")
    async def purchases(stream: AsyncIterable[Any]) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within):  # type: ignore[attr-defined]
            await pipeline.process_purchases(events)
