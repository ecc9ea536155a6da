"""The input agents: one per input topic, each a thin loop over batches."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import Any

import faust

from segstream.agents.pipeline import Pipeline

log = logging.getLogger(__name__)


def register(app: faust.App, pipeline: Pipeline) -> None:
    for kind, topic in pipeline.inputs.items():
        _register(app, pipeline, kind, topic)


def _register(app: faust.App, pipeline: Pipeline, kind: str, topic: faust.TopicT) -> None:
    size, within = pipeline.settings.batch_size, pipeline.settings.batch_within

    async def agent(stream: AsyncIterable[Any]) -> None:
        async for events in stream.take_events(size, within=within):  # type: ignore[attr-defined]
            try:
                await pipeline.process(kind, events)
            except Exception as exc:  # a bug must not lose the batch Faust is about to ack
                log.exception("%s batch of %d failed; sending it to the dead-letter topic", kind, len(events))
                await pipeline.dead_letter_batch(events, exc)

    app.agent(topic, name=kind)(agent)
