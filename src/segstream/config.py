"""The one Settings object. Every setting comes from a ``SEGSTREAM_*`` environment variable.

Nothing else in segstream reads ``os.environ``: build a :class:`Settings` (or call
:func:`load_settings`, which turns a validation error into a one-line
:class:`ConfigError`) and pass it down.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DANGEROUS_NO_TOKEN = "SEGSTREAM_DANGEROUSLY_SERVE_CUSTOMER_DATA_WITHOUT_TOKEN"

TOPIC_BASE_NAMES = {
    "purchases": "purchases",
    "usage": "usage",
    "feedback": "feedback",
    "profiles": "profiles",
    "segment_changes": "segment-changes",
    "churn_risk": "churn-risk",
    "dlq": "dlq",
    "cluster_events": "cluster-events",
}


def redis_db(url: str) -> int:
    """The database number a Redis URL selects (path ``/n`` or query ``db=n``; default 0)."""
    parts = urlsplit(url)
    db = parse_qs(parts.query).get("db", [parts.path.strip("/") if parts.scheme != "unix" else ""])[0]
    return int(db) if db.isdigit() else 0


class ConfigError(Exception):
    """A setting is invalid; the message is one line, fit for a terminal."""


class Settings(BaseSettings):
    """segstream settings, read from ``SEGSTREAM_<NAME>`` environment variables.

    The table in README.md lists them with their defaults.
    """

    model_config = SettingsConfigDict(env_prefix="SEGSTREAM_", extra="ignore", frozen=True)

    # -- connections
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (db number selects the database)")
    redis_prefix: str = Field("ss", min_length=1, max_length=32, description="Prefix of every Redis key")
    redis_cluster: bool = Field(
        False, description="The Redis URL is one startup node of a Redis Cluster (its db must be 0)"
    )
    redis_shards: int = Field(
        16,
        ge=1,
        le=4096,
        description="Shards (hash tags) customers are spread over in Redis; may not change once data exists",
    )
    redis_due_slots: int = Field(
        1024,
        ge=1,
        le=65536,
        description="Zsets per shard the due-time index is split into, so each stays in Redis's compact encoding "
        "(keep customers / (shards x slots) under zset-max-listpack-entries); may not change once data exists",
    )
    state_compression: bool = Field(
        True,
        description="Write customer records compressed (state format 3, about a third fewer bytes); false: format 2, "
        "readable by releases before 2026-12-03",
    )

    # -- Kafka security (docs/SECURITY.md); each secret may come from a file instead
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str = Field("", description="SASL user name")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), description="SASL password (or SEGSTREAM_KAFKA_SASL_PASSWORD_FILE)"
    )
    kafka_sasl_password_file: str = Field("", description="File holding the SASL password (one line)")
    kafka_ssl_cafile: str = Field(
        "", description="PEM file of the CAs that signed the brokers' certificates (empty: the system CAs)"
    )
    kafka_ssl_certfile: str = Field("", description="PEM client certificate (chain), for brokers that require one")
    kafka_ssl_keyfile: str = Field("", description="PEM private key of the client certificate")
    kafka_ssl_key_password: SecretStr = Field(
        SecretStr(""), description="Password of the client key (or SEGSTREAM_KAFKA_SSL_KEY_PASSWORD_FILE)"
    )
    kafka_ssl_key_password_file: str = Field("", description="File holding the client key's password (one line)")
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check that each broker's certificate names the host connected to"
    )

    # -- Kafka topics and the consumer group
    app_id: str = Field("segstream", min_length=1, description="Faust app id = Kafka consumer group")
    topic_suffix: str = Field("", description="Appended to every topic name (isolates test runs)")
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of the topics segstream creates")
    replication_factor: int = Field(1, ge=1, le=16, description="Replication factor of created topics")
    instance_id: str = Field(
        "auto",
        description="Static group membership: a name this worker keeps across restarts, unique among the running "
        "workers, so a restarted worker takes its partitions back at once (auto: host name and web port, "
        "when the web server is on; empty: dynamic membership)",
    )
    session_timeout_s: float = Field(
        10.0, ge=6, le=85, description="Seconds a silent worker keeps its partitions before they move to others"
    )
    stall_after_s: float = Field(
        30.0, gt=0, description="/ready and the dashboard say stalled when events wait and none was applied this long"
    )

    # -- outputs
    cloudevents: bool = Field(
        False, description="Add CloudEvents 1.0 binary-mode headers (ce_id, ce_type, ...) to the output topics"
    )
    cloudevents_source: str = Field(
        "/segstream", min_length=1, max_length=256, description="The ce_source of those headers (a URI reference)"
    )

    # -- processing
    batch_size: int = Field(5000, ge=1, le=100_000, description="Max events per batch (one getmany of the inputs)")
    batch_within: float = Field(0.2, gt=0, le=60, description="Seconds to wait to fill a batch")
    max_event_bytes: int = Field(16_384, ge=256, le=1_048_576, description="Larger events go to the DLQ")
    currency: str = Field("USD", min_length=3, max_length=3, description="The one currency amounts are kept in")
    min_event_time: datetime = Field(
        datetime(1990, 1, 1, tzinfo=UTC), description="Events stamped before this are rejected"
    )
    max_future_skew_s: float = Field(
        86_400.0, ge=0, description="Events stamped this far past wall-clock time are rejected"
    )
    max_lateness_days: float = Field(
        3653.0, gt=0, description="Events this far behind their partition's clock are rejected as too_late"
    )
    clock_max_jump_s: float = Field(
        86_400.0, gt=0, description="Largest step one event may move its partition's clock by (event time)"
    )
    clock_quorum: int = Field(
        3, ge=1, le=100, description="Distinct event times past a larger gap that move a partition's clock over it"
    )
    event_epoch_s: float = Field(
        7 * 86_400.0,
        ge=0,
        description="Catch-up in event-time epochs of this length: same events, same results on any machine "
        "(0: off; docs/PROCESSING.md)",
    )
    slow_batch_s: float = Field(
        0.0, ge=0, le=60, description="Testing only: sleep this long per batch (a slow machine, for determinism tests)"
    )
    redis_retry_max_s: float = Field(5.0, gt=0, description="Longest back-off between Redis retries")

    # -- segmentation
    language: Literal["en", "zh-CN"] = Field("en", description="Language of segment names and reasons")
    rfm_scheme: Literal["rfm11", "cn8"] = Field(
        "rfm11", description="rfm11: the 11 named RFM segments; cn8: R/F/M high/low vs the mean, 8 classes"
    )
    rfm_scoring: Literal["quintiles", "fixed"] = Field(
        "quintiles", description="rfm11 scores: quintiles of the population, or fixed thresholds"
    )
    rfm_fixed_recency_days: str = Field(
        "30,60,120,240", description="rfm_scoring=fixed: days since last purchase at which R drops to 4, 3, 2, 1"
    )
    rfm_fixed_frequency: str = Field(
        "2,3,5,10", description="rfm_scoring=fixed: purchase counts at which F reaches 2..5"
    )
    rfm_fixed_monetary: str = Field(
        "50,100,250,500", description="rfm_scoring=fixed: total spend (major units) at which M reaches 2..5"
    )
    rfm_recency_bands: bool = Field(
        True,
        description="Name RFM segments with R held to the band of the lifecycle thresholds (no Champions who are "
        "churned, no Lost who bought last week; docs/SEGMENTS.md); false: pure quintile names",
    )
    rfm_edge_margin: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="RFM frequency and spend edges: published again only when one moved by more than this share, "
        "and a customer keeps its segment while edges moved by this share would still give it",
    )
    rfm_edge_margin_days: float = Field(
        7.0,
        ge=0,
        description="RFM recency edges: published again only when one moved by more than this many days, and a "
        "customer keeps its segment while edges moved by these days would still give it",
    )
    value_tier_margin: float = Field(
        0.1, ge=0, lt=1, description="A customer leaves its value tier only with a CLV this share past the edge"
    )
    value_tier_down_on_purchase: bool = Field(
        True,
        description="A value tier moves down only when a purchase or the due-time re-score is scored, not on a use, "
        "an answer or a profile change (its CLV lower only because time passed until that event; the re-score "
        "every SEGSTREAM_RESCORE_DAYS still brings the silent down); false: on any event",
    )
    cluster_margin: float = Field(
        0.2, ge=0, lt=1, description="A customer leaves its cluster only for a centre this share nearer"
    )
    cluster_max_step: float = Field(
        0.5,
        ge=0,
        description="A kept cluster's published centre moves at most this many standard units from one snapshot to "
        "the next, the rest at the following ones (0: no limit)",
    )
    rules_file: str = Field("", description="YAML rule segments (empty: the packaged default)")
    clusters: int | Literal["auto"] = Field(
        5,
        description="Number of behavioural clusters, or auto: chosen from the data between SEGSTREAM_CLUSTERS_MIN "
        "and SEGSTREAM_CLUSTERS_MAX (docs/QUALITY.md)",
    )
    clusters_min: int = Field(2, ge=2, le=50, description="clusters=auto: the fewest behavioural clusters")
    clusters_max: int = Field(10, ge=2, le=50, description="clusters=auto: the most behavioural clusters")
    clusters_criterion: Literal["prediction_strength", "silhouette"] = Field(
        "prediction_strength", description="clusters=auto: how the count is chosen (docs/QUALITY.md)"
    )
    clusters_confirm: int = Field(
        3, ge=1, le=100, description="clusters=auto: a new count replaces the current one only once this many "
        "consecutive choices picked it (the first choice at once)",
    )  # fmt: skip
    rescore_days: float = Field(7.0, gt=0, description="Silent customers are re-scored this often (event days)")
    lifecycle_new_days: float = Field(30.0, gt=0, description="Days a customer counts as new")
    lifecycle_at_risk_days: float = Field(45.0, gt=0, description="Days without activity before at risk")
    lifecycle_churn_days: float = Field(90.0, gt=0, description="Days without activity before churned")
    snapshot_interval_s: float = Field(2.0, gt=0, description="How often the leader publishes model snapshots")
    cluster_interval_s: float = Field(2.0, gt=0, description="How often the leader learns and publishes clusters")
    cluster_sample: int = Field(2000, ge=10, description="Customers the leader learns from per cluster interval")
    cluster_event_interval_s: float = Field(
        7 * 86_400.0,
        gt=0,
        description="Behind the event-time barrier (a catch-up), the leader learns clusters every this much event "
        "time, from a stable sample of the customers re-scored since, and at the end of the backlog",
    )
    sweep_interval_s: float = Field(1.0, gt=0, description="How often the leader re-scores due customers")

    # -- value and churn risk
    value_horizon_days: float = Field(
        90.0, gt=0, description="Horizon of expected purchases and of P(no purchase) (event days)"
    )
    clv_months: int = Field(12, ge=1, le=120, description="Months of expected purchases in the CLV")
    clv_discount_monthly: float = Field(0.01, ge=0, le=1, description="Monthly discount rate of the CLV")
    value_fit_interval_s: float = Field(60.0, gt=0, description="How often the leader refits BG/NBD and Gamma-Gamma")
    value_fit_event_interval_s: float = Field(
        30 * 86_400.0,
        gt=0,
        description="Behind the event-time barrier (a catch-up), the leader refits every this much event time, "
        "and at the end of the backlog",
    )
    value_fit_sample: int = Field(200_000, ge=100, description="At most this many customers per refit")
    value_min_customers: int = Field(50, ge=10, description="Fewer customers with purchases: no fit yet")
    churn_weights: str = Field(
        "", description="Churn driver weights, e.g. purchase_lapse=0.9,complaints=0.5 (others: defaults)"
    )
    churn_enter: float = Field(0.7, gt=0, le=1, description="Churn risk at which a customer enters high risk")
    churn_leave: float = Field(0.5, gt=0, le=1, description="Churn risk below which a customer leaves high risk")
    churn_lapse_needs_silence: bool = Field(
        True,
        description="For a customer who uses the product, the purchase-lapse driver counts only as far as its usage "
        "silence is unusual (a one-time buyer who uses the product daily is not leaving)",
    )
    churn_one_time_dropout: bool = Field(
        False,
        description="Where the purchase lapse is BG/NBD's: the purchase-lapse driver of a one-time buyer lets it "
        "have dropped out after its first purchase, as far as its silence since says (modified BG/NBD, "
        "docs/QUALITY.md; off by default: it raises recall but delays alerts past issue 5's 30-day median through "
        "Kafka); false: BG/NBD's, under which a one-time buyer never dies",
    )
    churn_lapse_model: Literal["auto", "bgnbd", "paretonbd"] = Field(
        "auto",
        description="Model of the purchase-lapse driver, P(no purchase in the horizon): auto (Pareto/NBD's for a "
        "customer with purchases only, BG/NBD's for one who uses the product; ranks churn above both baselines on "
        "the CDNOW holdout), bgnbd or paretonbd (for everyone). Pareto/NBD raised false alarms among product users "
        "on the simulated population (docs/QUALITY.md). P(alive), expected purchases and CLV are BG/NBD's either way",
    )
    idle_partition_s: float = Field(
        300.0,
        gt=0,
        description="An input partition with no events for this long (wall time) is idle: "
        "it no longer holds back the clock customers are scored at",
    )
    playbook_file: str = Field("", description="YAML retention playbook (empty: the packaged default)")

    # -- HTTP
    web_enabled: bool = Field(True, description="Serve /health, /ready and /metrics from the worker")
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's web server")
    api_host: str = Field("127.0.0.1", description="Address the standalone API (`segstream api`) binds")
    api_port: int = Field(6068, ge=1, le=65535, description="Port of the standalone API")
    api_processes: int = Field(2, ge=1, le=64, description="Processes of the standalone API, sharing its port")
    redis_read_url: str = Field(
        "", description="Redis (a replica) the standalone API reads from; empty: SEGSTREAM_REDIS_URL"
    )
    api_max_staleness_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Farthest a replica (SEGSTREAM_REDIS_READ_URL) may be behind the primary before the API reads "
        "from the primary instead",
    )
    api_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token required by the customer-data endpoints (empty: no token, loopback use only)",
    )
    dangerously_serve_customer_data_without_token: bool = Field(
        False,
        description="Let the standalone API bound beyond loopback serve customer data with no SEGSTREAM_API_TOKEN "
        "(anyone who reaches the port reads every customer)",
    )

    data_dir: str = Field(".cache/faust", description="Faust's local data folder (one sub-folder per app id)")

    log_level: Literal["debug", "info", "warn", "error"] = Field("info", description="Worker log level")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, v: str) -> str:
        for part in v.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {v!r}")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected redis://host:port/db, got {v!r}")
        return v

    @field_validator("redis_prefix")
    @classmethod
    def _plain_prefix(cls, v: str) -> str:
        if bad := sorted(set(v) & set("{}*?[]\\")):
            raise ValueError(f"may not contain {' '.join(bad)} (Redis hash tags and SCAN patterns), got {v!r}")
        return v

    @field_validator("min_event_time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a timezone offset, e.g. 1990-01-01T00:00:00+00:00")
        return v

    @field_validator("rfm_fixed_recency_days", "rfm_fixed_frequency", "rfm_fixed_monetary")
    @classmethod
    def _four_ascending(cls, v: str) -> str:
        try:
            nums = [float(x) for x in v.split(",")]
        except ValueError:
            raise ValueError(f"expected four comma-separated numbers, got {v!r}") from None
        if len(nums) != 4 or nums != sorted(nums) or nums[0] < 0:
            raise ValueError(f"expected four ascending non-negative numbers, got {v!r}")
        return v

    @field_validator("clusters", mode="before")
    @classmethod
    def _cluster_count(cls, v: object) -> object:
        if v == "auto":
            return v
        try:
            n = int(v)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            n = 0
        if not 2 <= n <= 50 or str(n) != str(v).strip():
            raise ValueError(f"expected a number of clusters from 2 to 50, or auto, got {v!r}")
        return n

    @field_validator("churn_weights")
    @classmethod
    def _weights(cls, v: str) -> str:
        from segstream.models.churn import parse_weights

        parse_weights(v)
        return v

    @model_validator(mode="after")
    def _hysteresis(self) -> Settings:
        if self.churn_leave >= self.churn_enter:
            raise ValueError(f"churn_leave ({self.churn_leave}) must be below churn_enter ({self.churn_enter})")
        return self

    @model_validator(mode="after")
    def _cluster_range(self) -> Settings:
        if self.clusters_min > self.clusters_max:
            raise ValueError(
                f"SEGSTREAM_CLUSTERS_MIN ({self.clusters_min}) must not exceed SEGSTREAM_CLUSTERS_MAX "
                f"({self.clusters_max})"
            )
        return self

    def cluster_counts(self) -> tuple[int, tuple[int, int] | None]:
        """The cluster learner's starting count and, with ``clusters=auto``, the range it
        chooses the count from (None: a fixed count)."""
        if self.clusters == "auto":
            lo, hi = self.clusters_min, self.clusters_max
            return min(max(5, lo), hi), (lo, hi)
        return self.clusters, None

    @model_validator(mode="after")
    def _cluster_db0(self) -> Settings:
        if self.redis_cluster and (db := redis_db(self.redis_url)) != 0:
            raise ValueError(f"a Redis Cluster has only db 0, but SEGSTREAM_REDIS_URL selects db {db}")
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        """Consistent Kafka security settings; readable files. Never echoes a secret."""
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        for name, value, file in (
            ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password, self.kafka_sasl_password_file),
            ("KAFKA_SSL_KEY_PASSWORD", self.kafka_ssl_key_password, self.kafka_ssl_key_password_file),
        ):
            if value.get_secret_value() and file:
                raise ValueError(f"set SEGSTREAM_{name} or SEGSTREAM_{name}_FILE, not both")
        has_password = bool(self.kafka_sasl_password.get_secret_value() or self.kafka_sasl_password_file)
        if sasl and not (self.kafka_sasl_username and has_password):
            raise ValueError(
                f"SEGSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} needs SEGSTREAM_KAFKA_SASL_USERNAME and a password"
            )
        if not sasl and (self.kafka_sasl_username or has_password):
            raise ValueError(f"SASL credentials are set but SEGSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} has no SASL")
        files = {
            "KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        if not tls and any(files.values()):
            raise ValueError(f"TLS files are set but SEGSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} has no TLS")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("SEGSTREAM_KAFKA_SSL_KEYFILE needs SEGSTREAM_KAFKA_SSL_CERTFILE")
        files["KAFKA_SASL_PASSWORD_FILE"] = self.kafka_sasl_password_file
        files["KAFKA_SSL_KEY_PASSWORD_FILE"] = self.kafka_ssl_key_password_file
        for name, path in files.items():
            if path and not os.access(path, os.R_OK):
                raise ValueError(f"SEGSTREAM_{name}: cannot read {path}")
        if tls:
            import ssl

            from segstream.streams.security import ssl_context

            try:
                ssl_context(self)  # loads the CA, certificate and key: a wrong key password fails here
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"the Kafka TLS files do not load ({getattr(exc, 'reason', None) or exc})") from None
        return self

    def thresholds(self, name: str) -> tuple[float, float, float, float]:
        a, b, c, d = (float(x) for x in getattr(self, name).split(","))
        return a, b, c, d

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    def topic(self, name: str) -> str:
        """Full Kafka topic name of one of :data:`TOPIC_BASE_NAMES`' keys."""
        return TOPIC_BASE_NAMES[name] + self.topic_suffix

    def as_env(self) -> dict[str, str]:
        """These settings as ``SEGSTREAM_*`` variables, for a worker or CLI subprocess."""

        def text(v: object) -> str:
            if isinstance(v, SecretStr):
                return v.get_secret_value()
            return v.isoformat() if isinstance(v, datetime) else str(v)

        return {f"SEGSTREAM_{name.upper()}": text(value) for name, value in self.model_dump().items()}

    def token(self) -> str:
        """The API's bearer token (empty: none)."""
        return self.api_token.get_secret_value()

    def kafka_password(self) -> str:
        return _secret(self.kafka_sasl_password, self.kafka_sasl_password_file)

    def kafka_key_password(self) -> str:
        return _secret(self.kafka_ssl_key_password, self.kafka_ssl_key_password_file)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold (for the log filter and the tests)."""
        found = [self.kafka_password(), self.kafka_key_password(), self.token(), urlsplit(self.redis_url).password]
        return [v for v in found if v and len(v) >= 4]

    def group_instance_id(self) -> str | None:
        """This worker's static member name in its consumer groups, or None (dynamic membership)."""
        if self.instance_id != "auto":
            return self.instance_id or None
        return f"{socket.gethostname()}-{self.web_port}" if self.web_enabled else None

    def api_exposure_problem(self) -> str | None:
        """Why the standalone API must not start: customer data served beyond loopback with
        no token (the worker serves none: only /health, /ready and /metrics)."""
        host = self.api_host
        if host not in LOOPBACK_HOSTS and not self.token() and not self.dangerously_serve_customer_data_without_token:
            return (
                f"SEGSTREAM_API_HOST={host} serves customer data beyond this machine: set "
                f"SEGSTREAM_API_TOKEN (or {DANGEROUS_NO_TOKEN}=true to serve it to anyone)"
            )
        return None

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_s)


def _secret(value: SecretStr, file: str) -> str:
    """A secret from its file (read when used, never kept) or from its variable."""
    if file:
        return Path(file).read_text(encoding="utf-8").rstrip("\r\n")
    return value.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (plus overrides), or a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        if not field:  # a check across settings
            raise ConfigError(f"invalid settings: {err['msg'].removeprefix('Value error, ')}") from None
        raise ConfigError(f"invalid setting SEGSTREAM_{field.upper()}: {err['msg']}") from None
