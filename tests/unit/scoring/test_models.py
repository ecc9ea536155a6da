"""The models a worker builds from its settings: every setting reaches the model that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from segstream.config import ConfigError, Settings
from segstream.scoring.models import DEFAULT_PLAYBOOK, build_models, file_mtime, playbook_path


def test_every_scoring_setting_reaches_its_model() -> None:
    s = Settings(
        lifecycle_new_days=11, lifecycle_at_risk_days=22, lifecycle_churn_days=33,
        rfm_scheme="cn8", rfm_scoring="fixed", rfm_recency_bands=False,
        rfm_fixed_recency_days="1,2,3,4", rfm_edge_margin=0.03, rfm_edge_margin_days=3.5,
        value_tier_margin=0.04, value_tier_down_on_purchase=False, cluster_margin=0.05, rescore_days=2.5,
        value_horizon_days=60, clv_months=6, clv_discount_monthly=0.02, value_min_customers=77,
        churn_one_time_dropout=True, churn_lapse_model="paretonbd",
        churn_weights="complaints=0.25", churn_enter=0.8, churn_leave=0.6, churn_lapse_needs_silence=False,
    )  # fmt: skip
    m = build_models(s)
    assert (m.lifecycle.new_days, m.lifecycle.at_risk_days, m.lifecycle.churn_days) == (11, 22, 33)
    assert (m.rfm_scheme, m.rfm_scoring, m.rfm_bands) == ("cn8", "fixed", False)
    assert m.fixed_rfm.recency_days == (1, 2, 3, 4)
    assert (m.rfm_margin, m.rfm_margin_days, m.value_margin, m.cluster_margin) == (0.03, 3.5, 0.04, 0.05)
    assert m.value_down_on_purchase is False and build_models(Settings()).value_down_on_purchase is True
    assert m.rescore_days == 2.5
    v = m.value
    assert (v.horizon_days, v.clv_months, v.discount_monthly, v.min_customers) == (60, 6, 0.02, 77)
    assert (v.one_time_dropout, v.lapse_model) == (True, "paretonbd")
    c = m.churn
    assert (c.weights["complaints"], c.enter, c.leave, c.lapse_needs_silence) == (0.25, 0.8, 0.6, False)
    assert m.playbook is not None and m.playbook.actions and m.rules is not None


def test_the_packaged_playbook_is_used_unless_a_file_is_set(tmp_path: Path) -> None:
    assert playbook_path(Settings()) == DEFAULT_PLAYBOOK
    assert playbook_path(Settings(playbook_file=str(tmp_path / "p.yaml"))) == tmp_path / "p.yaml"


def test_a_bad_playbook_file_is_a_one_line_config_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "playbook.yaml"
    bad.write_text("actions: 3\n")
    with pytest.raises(ConfigError, match=r"^invalid playbook file: .*playbook\.yaml") as err:
        build_models(Settings(playbook_file=str(bad)))
    assert "\n" not in str(err.value)


def test_the_mtime_of_a_missing_file_is_zero(tmp_path: Path) -> None:
    assert file_mtime(tmp_path / "absent.yaml") == 0.0
    (tmp_path / "here.yaml").write_text("x")
    assert file_mtime(tmp_path / "here.yaml") > 0.0


def test_a_rules_dimension_is_named_by_its_rules_labels_and_others_by_the_catalogue() -> None:
    from segstream.scoring.models import segment_name

    m = build_models(Settings())  # the packaged rules: market_tier's tier1 is "Tier-1 city" / 一线城市
    assert segment_name("market_tier", "tier1", m, "en") == "Tier-1 city"
    assert segment_name("market_tier", "tier1", m, "zh-CN") == "一线城市"
    assert segment_name("lifecycle", "at_risk", m, "en") != "at_risk"  # not a rules dimension: the catalogue's


def test_a_dimension_nobody_names_shows_its_code_with_or_without_rules() -> None:
    from segstream.scoring.models import Models, segment_name

    assert segment_name("custom", "x1", Models(), "en") == "x1"  # no rules loaded
    assert segment_name("custom", "x1", build_models(Settings()), "en") == "x1"
