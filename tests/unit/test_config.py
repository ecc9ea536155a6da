from __future__ import annotations

import pytest

from segstream.config import ConfigError, Settings, load_settings


def test_defaults_point_at_local_servers() -> None:
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092" and s.redis_url.startswith("redis://127.0.0.1:6379")
    assert s.topic("segment_changes") == "segment-changes"


def test_topic_suffix_isolates_topic_names() -> None:
    assert Settings(topic_suffix="-x1").topic("purchases") == "purchases-x1"


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("SEGSTREAM_PARTITIONS", "many", "SEGSTREAM_PARTITIONS"),
        ("SEGSTREAM_PARTITIONS", "0", "greater than or equal to 1"),
        ("SEGSTREAM_KAFKA_BOOTSTRAP", "localhost", "host:port"),
        ("SEGSTREAM_REDIS_URL", "http://x", "redis://"),
        ("SEGSTREAM_LANGUAGE", "fr", "SEGSTREAM_LANGUAGE"),
        ("SEGSTREAM_MIN_EVENT_TIME", "1990-01-01T00:00:00", "offset"),
    ],
)
def test_bad_setting_gives_a_one_line_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert fragment in msg and env in msg and "\n" not in msg
