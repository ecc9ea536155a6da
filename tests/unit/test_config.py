from __future__ import annotations

from pathlib import Path

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


def test_a_redis_cluster_url_must_select_db_0() -> None:
    with pytest.raises(ConfigError, match="only db 0") as err:
        load_settings(redis_url="redis://127.0.0.1:7100/3", redis_cluster=True)
    assert "\n" not in str(err.value)
    assert load_settings(redis_url="redis://127.0.0.1:7100/0", redis_cluster=True).redis_cluster
    assert load_settings(redis_url="redis://127.0.0.1:7100", redis_cluster=True).redis_shards == 16
    with pytest.raises(ConfigError, match="only db 0"):
        load_settings(redis_url="redis://127.0.0.1:7100?db=2", redis_cluster=True)


@pytest.mark.parametrize("prefix", ["a{b", "x}", "p*", "q?"])
def test_a_key_prefix_may_not_hold_hash_tag_or_pattern_characters(prefix: str) -> None:
    with pytest.raises(ConfigError, match="SEGSTREAM_REDIS_PREFIX"):
        load_settings(redis_prefix=prefix)


def test_shards_are_bounded() -> None:
    with pytest.raises(ConfigError, match="SEGSTREAM_REDIS_SHARDS"):
        load_settings(redis_shards=0)
    with pytest.raises(ConfigError, match="SEGSTREAM_REDIS_SHARDS"):
        load_settings(redis_shards=4097)


def test_the_readme_settings_table_lists_every_setting_with_its_description() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [
        name
        for name, f in Settings.model_fields.items()
        if f"| `SEGSTREAM_{name.upper()}` |" not in readme or f" | {f.description} |" not in readme
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("host", "token", "dangerous", "refused"),
    [
        ("0.0.0.0", "", False, True),
        ("10.1.2.3", "", False, True),
        ("0.0.0.0", "t0ken", False, False),
        ("0.0.0.0", "", True, False),
        ("127.0.0.1", "", False, False),
        ("::1", "", False, False),
    ],
)
def test_the_api_bound_beyond_loopback_without_a_token_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, host: str, token: str, dangerous: bool, refused: bool
) -> None:
    from typer.testing import CliRunner

    from segstream.cli import cli

    s = Settings(api_host=host, api_token=token, dangerously_serve_customer_data_without_token=dangerous)
    assert (s.api_exposure_problem() is not None) is refused
    if refused:
        for k, v in s.as_env().items():
            monkeypatch.setenv(k, v)
        result = CliRunner().invoke(cli, ["api"])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "SEGSTREAM_API_TOKEN" in lines[0] and "SEGSTREAM_API_HOST" in lines[0]


def test_a_worker_serves_no_customer_data_so_it_may_bind_beyond_loopback(tmp_path: Path) -> None:
    """Its web server answers /health, /ready and /metrics only."""
    from segstream.app import create_app

    app, _ = create_app(Settings(web_host="0.0.0.0", api_token="", data_dir=str(tmp_path), event_epoch_s=0))
    assert {r.canonical for r in app.web.web_app.router.resources()} == {"/health", "/ready", "/metrics"}


def test_the_cluster_count_is_fixed_or_chosen_within_a_range(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().cluster_counts() == (5, None)
    monkeypatch.setenv("SEGSTREAM_CLUSTERS", "7")
    assert load_settings().cluster_counts() == (7, None)
    monkeypatch.setenv("SEGSTREAM_CLUSTERS", "auto")
    assert load_settings().cluster_counts() == (5, (2, 10))
    monkeypatch.setenv("SEGSTREAM_CLUSTERS_MIN", "6")
    monkeypatch.setenv("SEGSTREAM_CLUSTERS_MAX", "8")
    assert load_settings().cluster_counts() == (6, (6, 8))
    assert load_settings(clusters_min=3, clusters_max=3).cluster_counts() == (3, (3, 3))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clusters_min": 8, "clusters_max": 4}, "CLUSTERS_MIN (8) must not exceed SEGSTREAM_CLUSTERS_MAX (4)"),
        ({"clusters": "many"}, "SEGSTREAM_CLUSTERS"),
        ({"clusters": 1}, "SEGSTREAM_CLUSTERS"),
        ({"clusters_max": 51}, "SEGSTREAM_CLUSTERS_MAX"),
    ],
)
def test_bad_cluster_counts_fail_in_one_line(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load_settings(**overrides)
    assert "\n" not in str(err.value)
