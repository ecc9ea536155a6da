"""Retention playbook from YAML: the packaged default file, first-match evaluation, and rejected files."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from segstream.models.playbook import (
    PLAYBOOK_NAMES,
    Action,
    Playbook,
    PlaybookError,
    load_playbook,
    parse_playbook,
)
from segstream.models.rfm import RFM_SEGMENTS

# entries of the packaged default file, by position (first match wins)
(
    PRIORITY_SERVICE_CALL,
    SERVICE_CALL,
    RENEWAL,
    HIGH_VALUE_WIN_BACK,
    LOYALTY,
    SATISFACTION_CALL,
    REENGAGEMENT,
    CATCH_ALL,
) = range(8)
LAPSING = ("hibernating", "lost", "at_risk", "cannot_lose_them", "about_to_sleep")
LOYAL = ("champions", "loyal", "potential_loyalist", "need_attention")


def default_text() -> str:
    return files("segstream").joinpath("playbook/default.yaml").read_text(encoding="utf-8")


def default_playbook() -> Playbook:
    return parse_playbook(default_text())


def customer(**over: Any) -> dict[str, Any]:
    """A low-value, quiet customer that only the catch-all matches, with ``over`` applied."""
    names: dict[str, Any] = {
        "rfm": "promising",
        "lifecycle": "at_risk",
        "value_tier": "low",
        "churn_score": 0.7,
        "drivers": ("purchase_lapse",),
        "top_driver": "purchase_lapse",
        "nps_class": "passive",
        "open_complaints": 0,
        "contract": False,
        "days_to_renewal": None,
        "segments": {},
    }
    return names | over


def entry(**over: Any) -> int | None:
    """The position, in the default file, of the action suggested for ``customer(**over)``."""
    playbook = default_playbook()
    hit = playbook.action_for(customer(**over))
    return None if hit is None else next(i for i, a in enumerate(playbook.actions) if a is hit)


def playbook_file(*lines: str) -> str:
    """A playbook file from its lines (line 1 is the first argument)."""
    return "\n".join(lines) + "\n"


def rejection(text: str) -> str:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text)
    return str(info.value)


def one_action(when: str) -> str:
    """A file whose valid first action is on lines 2-3 and whose second ``when`` is on line 5."""
    return playbook_file(
        "actions:", "  - action: ok", "    when: purchases > 1", "  - action: bad", f"    when: {when}"
    )


# ------------------------------------------------------------------ the packaged default file


def test_default_file_lists_its_actions_in_priority_order() -> None:
    playbook = default_playbook()
    assert [a.code for a in playbook.actions] == [
        "service_call",
        "service_call",
        "renewal_reminder",
        "win_back_offer",
        "loyalty_offer",
        "service_call",
        "reengagement",
        "win_back_offer",
    ]
    assert playbook.source == default_text()


def test_default_actions_record_the_line_of_their_when_expression() -> None:
    lines = default_text().splitlines()
    for action in default_playbook().actions:
        assert str(yaml.safe_load(lines[action.line - 1])["when"]) == action.expression


def test_every_default_action_has_an_english_and_a_chinese_label() -> None:
    for action in default_playbook().actions:
        assert set(action.labels) == {"en", "zh-CN"}
        assert all(action.labels.values())


def test_every_name_the_default_file_uses_is_a_playbook_name() -> None:
    for action in default_playbook().actions:
        assert action.names <= PLAYBOOK_NAMES


def test_the_quiet_low_value_customer_of_the_factory_only_gets_the_catch_all() -> None:
    assert entry() == CATCH_ALL


# ------------------------------------------------------------------ one test per default action


def test_detractor_with_open_complaint_gets_a_priority_service_call() -> None:
    assert entry(nps_class="detractor", open_complaints=1) == PRIORITY_SERVICE_CALL
    assert entry(nps_class="passive", open_complaints=1) != PRIORITY_SERVICE_CALL
    assert entry(nps_class="detractor", open_complaints=0) != PRIORITY_SERVICE_CALL


def test_any_open_complaint_gets_a_service_call() -> None:
    assert entry(nps_class="promoter", open_complaints=2) == SERVICE_CALL
    assert entry(nps_class=None, open_complaints=1) == SERVICE_CALL
    assert entry(open_complaints=0) != SERVICE_CALL


@pytest.mark.parametrize("days", [-3, 0, 30, 60])
def test_contract_customer_within_sixty_days_of_renewal_gets_a_renewal_reminder(days: int) -> None:
    assert entry(contract=True, days_to_renewal=days) == RENEWAL


@pytest.mark.parametrize(
    "over",
    [
        {"contract": True, "days_to_renewal": 61},
        {"contract": True, "days_to_renewal": None},
        {"contract": False, "days_to_renewal": 30},
        {"contract": None, "days_to_renewal": 30},
    ],
)
def test_no_renewal_reminder_far_from_renewal_or_without_a_contract(over: dict[str, Any]) -> None:
    assert entry(**over) != RENEWAL


@pytest.mark.parametrize("rfm", LAPSING)
@pytest.mark.parametrize("tier", ["top", "high"])
def test_lapsing_high_value_customer_gets_a_win_back_offer(rfm: str, tier: str) -> None:
    assert entry(rfm=rfm, value_tier=tier) == HIGH_VALUE_WIN_BACK


@pytest.mark.parametrize("tier", ["medium", "low", None])
def test_lapsing_customer_of_lower_value_gets_no_high_value_win_back(tier: str | None) -> None:
    assert entry(rfm="hibernating", value_tier=tier) != HIGH_VALUE_WIN_BACK


@pytest.mark.parametrize("rfm", LOYAL)
def test_loyal_customer_gets_a_loyalty_offer_whatever_the_value(rfm: str) -> None:
    assert entry(rfm=rfm, value_tier="low") == LOYALTY


@pytest.mark.parametrize("rfm", ["new", "promising", None])
def test_high_value_customer_not_lapsing_gets_a_loyalty_offer(rfm: str | None) -> None:
    assert entry(rfm=rfm, value_tier="high") == LOYALTY


def test_no_loyalty_offer_for_a_medium_value_customer_outside_the_loyal_segments() -> None:
    assert entry(rfm="promising", value_tier="medium") != LOYALTY


def test_every_rfm_segment_is_covered_by_the_value_based_actions_for_a_top_customer() -> None:
    assert {entry(rfm=rfm, value_tier="top") for rfm in RFM_SEGMENTS} == {HIGH_VALUE_WIN_BACK, LOYALTY}


def test_falling_satisfaction_gets_a_service_call() -> None:
    assert entry(drivers=("purchase_lapse", "falling_satisfaction")) == SATISFACTION_CALL
    assert entry(drivers=["falling_satisfaction"]) == SATISFACTION_CALL  # a list works too


def test_detractor_without_complaint_gets_a_service_call_even_without_drivers() -> None:
    assert entry(nps_class="detractor") == SATISFACTION_CALL
    assert entry(nps_class="detractor", drivers=None) == SATISFACTION_CALL


def test_no_satisfaction_call_for_a_passive_customer_with_other_drivers() -> None:
    assert entry(nps_class="passive", drivers=("purchase_lapse", "complaints")) != SATISFACTION_CALL


def test_declining_usage_gets_a_reengagement_action() -> None:
    assert entry(drivers=("usage_decline",)) == REENGAGEMENT
    assert entry(drivers=("purchase_lapse", "usage_decline")) == REENGAGEMENT


def test_no_reengagement_without_usage_decline() -> None:
    assert entry(drivers=("purchase_lapse",)) != REENGAGEMENT
    assert entry(drivers=()) != REENGAGEMENT


def test_a_lapsing_low_value_customer_gets_the_catch_all_win_back_offer() -> None:
    assert entry(rfm="lost", value_tier="low") == CATCH_ALL
    assert default_playbook().actions[CATCH_ALL].code == "win_back_offer"


def test_a_customer_with_no_names_at_all_gets_the_catch_all() -> None:
    playbook = default_playbook()
    assert playbook.action_for({}) is playbook.actions[CATCH_ALL]


# ------------------------------------------------------------------ first match wins


def test_first_matching_action_wins_in_the_default_file() -> None:
    everything = {
        "nps_class": "detractor",
        "open_complaints": 1,
        "contract": True,
        "days_to_renewal": 10,
        "rfm": "at_risk",
        "value_tier": "top",
        "drivers": ("usage_decline", "falling_satisfaction"),
    }
    assert entry(**everything) == PRIORITY_SERVICE_CALL
    assert entry(**everything | {"nps_class": "passive"}) == SERVICE_CALL
    assert entry(**everything | {"open_complaints": 0}) == RENEWAL
    assert entry(**everything | {"open_complaints": 0, "contract": False}) == HIGH_VALUE_WIN_BACK
    assert entry(**everything | {"open_complaints": 0, "contract": False, "rfm": "loyal"}) == LOYALTY
    low = everything | {"open_complaints": 0, "contract": False, "value_tier": "low"}
    assert entry(**low) == SATISFACTION_CALL
    assert entry(**low | {"nps_class": "passive", "drivers": ("usage_decline",)}) == REENGAGEMENT


def test_first_matching_action_wins_and_codes_may_repeat() -> None:
    playbook = parse_playbook(
        playbook_file(
            "actions:",
            "  - action: call",
            "    when: spend >= 1000",
            "  - action: offer",
            "    when: spend >= 100",
            "  - action: call",
            "    when: spend >= 0",
        )
    )
    hits = [playbook.action_for({"spend": s}) for s in (5000, 500, 0, -1)]
    assert [h.code if h else None for h in hits] == ["call", "offer", "call", None]
    assert [h.line if h else None for h in hits] == [3, 5, 7, None]


def test_a_previous_customers_values_do_not_leak_into_the_next() -> None:
    playbook = default_playbook()
    first = playbook.action_for(customer(open_complaints=3))
    second = playbook.action_for({"rfm": "lost"})
    assert first is not None and first.code == "service_call"
    assert second is playbook.actions[CATCH_ALL]


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize(
    ("position", "en", "zh"),
    [
        (SERVICE_CALL, "Service call: resolve the open complaint", "客服回访：处理未结投诉"),
        (RENEWAL, "Renewal reminder before the contract ends", "合同到期前续约提醒"),
        (LOYALTY, "Loyalty-points offer", "积分回馈"),
        (REENGAGEMENT, "Re-engagement: show unused features", "促活：推荐未使用的功能"),
        (CATCH_ALL, "Win-back discount", "挽回优惠券"),
    ],
)
def test_action_label_in_english_and_simplified_chinese(position: int, en: str, zh: str) -> None:
    action = default_playbook().actions[position]
    assert action.label("en") == en
    assert action.label("zh-CN") == zh


def test_label_falls_back_to_english_then_to_the_action_code() -> None:
    playbook = parse_playbook(
        playbook_file(
            "actions:",
            "  - action: plain",
            "    when: purchases > 5",
            "  - action: chinese_only",
            "    label: {zh-CN: 仅中文}",
            "    when: purchases > 1",
        )
    )
    plain, chinese_only = playbook.actions
    assert default_playbook().actions[RENEWAL].label("fr") == "Renewal reminder before the contract ends"
    assert plain.label("zh-CN") == "plain"
    assert chinese_only.label("en") == "chinese_only"
    assert chinese_only.label("zh-CN") == "仅中文"


# ------------------------------------------------------------------ names


def test_a_missing_name_is_no_match_and_the_next_action_is_tried() -> None:
    playbook = parse_playbook(
        playbook_file(
            "actions:",
            "  - action: recent",
            "    when: recency_days < 30",
            "  - action: ratio",
            "    when: spend / purchases > 10",
            "  - action: driver",
            "    when: top_driver == 'complaints' or 'complaints' in drivers",
            "  - action: fallback",
            "    when: True",
        )
    )

    def code(**names: Any) -> str | None:
        hit = playbook.action_for(names)
        return hit.code if hit else None

    assert code() == "fallback"
    assert code(recency_days=10) == "recent"
    assert code(spend=100, purchases=2) == "ratio"
    assert code(spend=100, purchases=0) == "fallback"  # division by zero: no match
    assert code(drivers=("complaints",)) == "driver"
    assert code(top_driver="complaints") == "driver"


def test_segments_are_read_by_subscript_and_in_and_a_missing_key_is_no_match() -> None:
    playbook = parse_playbook(
        playbook_file(
            "actions:",
            "  - action: partner_call",
            "    when: segments['relationship'] == 'strategic_partner'",
            "  - action: sized",
            "    when: '\"company_size\" in segments'",
        )
    )

    def code(**names: Any) -> str | None:
        hit = playbook.action_for(names)
        return hit.code if hit else None

    assert code(segments={"relationship": "strategic_partner"}) == "partner_call"
    assert code(segments={"relationship": "repeat_buyer", "company_size": "sme"}) == "sized"
    assert code(segments={"industry": "retail"}) is None  # KeyError: no match
    assert code() is None  # segments missing (None): no match


def test_names_outside_the_playbook_vocabulary_are_ignored_when_evaluating() -> None:
    playbook = parse_playbook(playbook_file("actions:", "  - action: a", "    when: churn_score > 0.5"))
    assert playbook.action_for({"churn_score": 0.9, "not_a_name": 1}) is playbook.actions[0]


@pytest.mark.parametrize(
    "name",
    ["cluster", "clv", "p_alive", "expected_purchases", "lifecycle", "tenure_days", "usage_trend", "satisfaction",
     "partner", "kind", "industry", "company_size", "city_tier", "spend", "recency_days"],
)  # fmt: skip
def test_every_playbook_name_may_be_used(name: str) -> None:
    playbook = parse_playbook(playbook_file("actions:", "  - action: a", f"    when: {name} == 1"))
    assert playbook.action_for({name: 1}) is playbook.actions[0]
    assert playbook.actions[0].names == frozenset({name})


# ------------------------------------------------------------------ rejected files


def test_invalid_yaml_is_rejected_with_its_line() -> None:
    message = rejection(playbook_file("actions:", "  - action: a", "    when: purchases: 3"))
    assert message.startswith("line 3: not valid YAML:")
    assert "mapping values are not allowed here" in message


@pytest.mark.parametrize("text", ["", "rules: []\n", "actions:\n", "actions: []\n", "actions: {a: b}\n", "text\n"])
def test_a_file_without_an_actions_list_is_rejected(text: str) -> None:
    assert rejection(text) == "line 1: the file needs a top-level `actions:` list"


def test_an_unknown_name_is_rejected_with_its_line() -> None:
    assert rejection(one_action("revenue > 3 and churn_score > 0.5")) == (
        "line 5: unknown name(s) revenue in 'revenue > 3 and churn_score > 0.5'"
    )


def test_every_rule_name_is_a_playbook_name_and_a_misspelt_one_is_unknown() -> None:
    from segstream.models.rules import RULE_NAMES

    assert RULE_NAMES <= PLAYBOOK_NAMES
    assert parse_playbook(one_action('usage_rate > 1 and attrs["tier"] == "gold"')).actions[1].code == "bad"
    assert rejection(one_action("usage_rat > 1")) == "line 5: unknown name(s) usage_rat in 'usage_rat > 1'"


def test_a_syntax_error_in_an_expression_is_rejected_with_its_line() -> None:
    assert rejection(one_action("churn_score >")).startswith("line 5: invalid expression 'churn_score >':")


@pytest.mark.parametrize(
    "item",
    [
        ["  - label: {en: Bad}", "    when: purchases > 1"],
        ["  - action: bad", "    label: {en: Bad}"],
        ["  - action: [a, b]", "    when: purchases > 1"],
        ["  - just text"],
    ],
)
def test_an_action_without_action_text_or_when_is_rejected_with_its_line(item: list[str]) -> None:
    message = rejection(playbook_file("actions:", "  - action: ok", "    when: purchases > 1", *item))
    line = "0" if item == ["  - just text"] else "4"
    assert message == f"line {line}: each action needs `action:` (text) and `when:` (expression)"


@pytest.mark.parametrize(
    ("expression", "function"),
    [
        ("__import__('os')", "__import__"),
        ("open('/etc/passwd')", "open"),
        ("churn_score > 1 and eval('1')", "eval"),
        ("len(getattr(drivers, 'x'))", "getattr"),
    ],
)
def test_a_disallowed_function_call_is_rejected_with_its_line(expression: str, function: str) -> None:
    assert rejection(one_action(f'"{expression}"')) == f"line 5: function(s) {function} not allowed"


def test_allowed_functions_are_accepted() -> None:
    playbook = parse_playbook(playbook_file("actions:", "  - action: a", "    when: len(drivers) >= 2"))
    assert playbook.action_for({"drivers": ("a", "b")}) is playbook.actions[0]
    assert playbook.action_for({"drivers": ("a",)}) is None


@pytest.mark.parametrize(
    "expression",
    [
        "segments.get('relationship') == 'strategic_partner'",
        "drivers.count('complaints') > 0",
        "partner == True and industry.__class__ == 1",
    ],
)
def test_attribute_access_is_rejected_with_its_line(expression: str) -> None:
    message = rejection(one_action(f'"{expression}"'))
    assert message == f"line 5: attribute access is not allowed in {expression!r}"


def test_a_label_that_is_not_a_mapping_is_rejected_with_its_line() -> None:
    message = rejection(playbook_file("actions:", "  - action: a", "    label: Just text", "    when: True"))
    assert message == "line 3: `label:` needs languages, e.g. {en: ..., zh-CN: ...}"


# ------------------------------------------------------------------ load_playbook


def test_load_playbook_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "playbook.yaml"
    path.write_text(default_text(), encoding="utf-8")
    loaded = load_playbook(path)
    assert loaded == default_playbook()
    assert isinstance(loaded.actions[0], Action)


def test_load_playbook_on_a_missing_file_says_it_cannot_read_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert str(info.value) == f"{path}: cannot read: No such file or directory"


def test_load_playbook_prefixes_a_mistake_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(one_action("foo > 1"), encoding="utf-8")
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert str(info.value) == f"{path}: line 5: unknown name(s) foo in 'foo > 1'"
