"""The Faust app: the only place that creates it, and its wiring."""

from __future__ import annotations

from pathlib import Path

import faust

from segstream.agents import ingest, maintenance, web
from segstream.agents.pipeline import Pipeline
from segstream.agents.status import StatusReporter
from segstream.api import http
from segstream.config import Settings
from segstream.streams.security import faust_credentials


def create_app(settings: Settings) -> tuple[faust.App, Pipeline]:
    """A configured Faust app with segstream's agents and HTTP views registered."""
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)  # Faust creates one level only
    app = faust.App(
        # the inputs are consumed in the group named app_id (agents/ingest.py); Faust's own
        # group (leader election) gets a name of its own
        f"{settings.app_id}-app",
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=f"{settings.data_dir}/{settings.app_id}-data",
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=2,
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        # the API gets its own thread and event loop: the leader's CPU-bound timers (cluster
        # learning, sweeps) would otherwise hold every request behind them
        web_in_thread=True,
        web_application_options=http.web_options(),  # every error answered as JSON
        broker_credentials=faust_credentials(settings),
        # the leader election group: a worker starts ingesting only once it has joined it, so
        # it gets the same static membership and session as the inputs' group (agents/ingest.py)
        consumer_group_instance_id=settings.group_instance_id(),
        broker_session_timeout=settings.session_timeout_s,
    )
    if settings.web_enabled:
        http.install_json_error_handler()
    pipeline = Pipeline(app, settings)
    ingest.register(app, pipeline)
    reporter = StatusReporter(pipeline)
    maintenance.register(app, pipeline, reporter)
    web.register(app, pipeline)
    return app, pipeline
