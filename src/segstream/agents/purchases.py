"""The purchases agent: batches of purchase events through the pipeline."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import Any

import faust

from segstream.agents.pipeline import Pipeline

log = logging.getLogger(__name__)


def register(app: faust.App, pipeline: Pipeline) -> None:
    settings = pipeline.settings

    @app.agent(pipeline.inputs["purchases"], name="purchases")
    async def purchases(stream: AsyncIterable[Any]) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within):  # type: ignore[attr-defined]
            try:
                await pipeline.process_purchases(events)
            except Exception as exc:  # a bug must not lose the batch Faust is about to ack
                log.exception("purchases batch of %d failed; sending it to the dead-letter topic", len(events))
                await pipeline.dead_letter_batch(events, exc)
