"""Prometheus metrics of one worker (its own registry: no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from segstream.scoring.stability import FlipBacks


class Metrics:
    """The worker's counters; exposed at ``/metrics`` in the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("segstream_events", "Input events by topic and outcome", ["topic", "outcome"], registry=r)
        self.dead_letters = Counter(
            "segstream_dead_letters", "Events sent to the dead-letter topic", ["reason"], registry=r
        )
        self.segment_changes = Counter("segstream_segment_changes", "Segment-change events", ["dimension"], registry=r)
        self.redis_retries = Counter(
            "segstream_redis_retries", "Redis calls retried after an error", ["op"], registry=r
        )
        self.redis_unavailable = Gauge("segstream_redis_unavailable", "1 while Redis does not answer", registry=r)
        self.kafka_send_retries = Counter("segstream_kafka_send_retries", "Kafka sends retried", ["topic"], registry=r)
        self.batch_seconds = Histogram(
            "segstream_batch_seconds",
            "Time to process one batch of the input topics (decode to save)",
            ["topic"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.churn_events = Counter(
            "segstream_churn_risk_events", "Churn-risk events (entered high / back to normal)", ["level"], registry=r
        )
        self.processing_latency = Histogram(
            "segstream_processing_latency_seconds",
            "Wall time from an input event's append to Kafka to its outputs emitted and state saved",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.consumer_lag = Gauge(
            "segstream_consumer_lag",
            "Messages behind the partition's end, after the last batch",
            ["topic", "partition"],
            registry=r,
        )
        self.redis_seconds = Histogram(
            "segstream_redis_seconds",
            "Redis round trips (including retries) by operation",
            ["op"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.model_version = Gauge(
            "segstream_model_version", "Version of the model snapshot this worker scores with", ["model"], registry=r
        )
        self.segment_customers = Gauge(
            "segstream_segment_customers",
            "Customers per segment (the population, read from Redis when scraped: the same on every worker)",
            ["dimension", "segment"],
            registry=r,
        )
        self.flip_backs = Counter(
            "segstream_segment_flip_backs",
            "Segment moves that undo the customer's previous move within 24 event-hours (A -> B -> A)",
            ["dimension"],
            registry=r,
        )
        self.flip_back_rate = Gauge(
            "segstream_segment_flip_back_rate",
            "Flip-backs among this worker's segment moves since it started",
            ["dimension"],
            registry=r,
        )
        self.volatility = Gauge(
            "segstream_segment_volatility_per_hour",
            "(adds + drops) / customers in the dimension, per hour, over the last hour (the population's)",
            ["dimension"],
            registry=r,
        )
        self.conflicts = Counter(
            "segstream_version_conflicts", "Customers recomputed after a concurrent write", registry=r
        )

    def set_populations(self, counts: dict[str, dict[str, int]]) -> None:
        """Segment populations as gauges (segments that emptied drop out)."""
        self.segment_customers.clear()
        for dim, segs in counts.items():
            for seg, n in segs.items():
                self.segment_customers.labels(dim, seg).set(n)

    def set_stability(self, volatility: dict[str, float], flips: FlipBacks) -> None:
        """Volatility per hour of each dimension (the population's) and this worker's flip-back rates."""
        for dim, v in volatility.items():
            self.volatility.labels(dim).set(v)
        for dim in list(flips.moves):  # a copy: the worker's thread adds dimensions
            self.flip_back_rate.labels(dim).set(flips.rate(dim))

    def render(self) -> bytes:
        return generate_latest(self.registry)
