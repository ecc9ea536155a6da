"""Rule segments from YAML: the packaged default file, evaluation, and rejected files."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

import pytest

from segstream.models.rules import RULE_NAMES, RulesError, RuleSet, parse_rules


def default_text() -> str:
    return files("segstream").joinpath("rules/default.yaml").read_text(encoding="utf-8")


def default_rules() -> RuleSet:
    return parse_rules(default_text())


def rules_file(*lines: str) -> str:
    """A rules file from its lines (line 1 is the first argument)."""
    return "\n".join(lines) + "\n"


def segments(rules: RuleSet, **names: Any) -> dict[str, str | None]:
    return {dim: (hit[0] if hit else None) for dim, hit in rules.evaluate(names).items()}


def segment(dimension: str, **names: Any) -> str | None:
    return segments(default_rules(), **names)[dimension]


def rejection(text: str) -> str:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    return str(info.value)


# ------------------------------------------------------------------ the packaged default file


def test_default_file_declares_four_dimensions_in_file_order() -> None:
    rules = default_rules()
    assert list(rules.dimensions) == ["industry", "company_size", "market_tier", "relationship"]
    assert [r.segment for r in rules.dimensions["relationship"]] == [
        "strategic_partner",
        "repeat_buyer",
        "one_off_buyer",
    ]
    assert rules.source == default_text()


def test_default_rules_record_the_line_of_their_when_expression() -> None:
    lines = default_text().splitlines()
    for rules in default_rules().dimensions.values():
        for rule in rules:
            assert lines[rule.line - 1].strip() == f"when: {rule.expression}"


@pytest.mark.parametrize(
    ("industry", "expected"),
    [
        ("manufacturing", "manufacturing"),
        ("制造业", "manufacturing"),
        ("retail", "retail"),
        ("零售", "retail"),
        ("software", "technology"),
        ("technology", "technology"),
        ("软件", "technology"),
        ("科技", "technology"),
        ("agriculture", "other_industry"),
        ("农业", "other_industry"),
    ],
)
def test_default_industry_rules_accept_english_and_chinese_values(industry: str, expected: str) -> None:
    assert segment("industry", industry=industry) == expected


def test_default_industry_is_no_segment_when_the_industry_is_unknown() -> None:
    assert segment("industry") is None


@pytest.mark.parametrize("size", ["micro", "sme", "large", "enterprise"])
def test_default_company_size_segment_is_the_size_itself(size: str) -> None:
    assert segment("company_size", company_size=size) == size


@pytest.mark.parametrize("names", [{}, {"company_size": "huge"}, {"company_size": "SME"}])
def test_default_company_size_is_no_segment_for_a_missing_or_unknown_size(names: dict[str, Any]) -> None:
    assert segment("company_size", **names) is None


@pytest.mark.parametrize(
    ("tier", "expected"),
    [(1, "tier1"), (2, "tier2"), (3, "lower_tier"), (4, "lower_tier"), (6, "lower_tier"), (None, None)],
)
def test_default_market_tier_groups_tier_three_and_below(tier: int | None, expected: str | None) -> None:
    assert segment("market_tier", city_tier=tier) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"partner": True, "purchases": 0}, "strategic_partner"),
        ({"partner": True}, "strategic_partner"),
        ({"contract": True, "purchases": 10}, "strategic_partner"),
        ({"contract": True, "purchases": 25}, "strategic_partner"),
        ({"contract": True, "purchases": 9}, "repeat_buyer"),
        ({"contract": False, "purchases": 10}, "repeat_buyer"),
        ({"partner": False, "purchases": 3}, "repeat_buyer"),
        ({"purchases": 2}, "repeat_buyer"),
        ({"purchases": 1}, "one_off_buyer"),
        ({"contract": True, "purchases": 1}, "one_off_buyer"),
        ({"purchases": 0}, None),
        ({}, None),
        ({"contract": True}, None),
    ],
)
def test_default_relationship_rules(names: dict[str, Any], expected: str | None) -> None:
    assert segment("relationship", **names) == expected


def test_default_rules_evaluate_every_dimension_of_a_full_profile_at_once() -> None:
    names = {"industry": "零售", "company_size": "large", "city_tier": 2, "contract": True, "purchases": 12}
    assert segments(default_rules(), **names) == {
        "industry": "retail",
        "company_size": "large",
        "market_tier": "tier2",
        "relationship": "strategic_partner",
    }


def test_default_rules_give_no_segment_at_all_without_any_attribute() -> None:
    assert set(segments(default_rules()).values()) == {None}


@pytest.mark.parametrize(
    ("dimension", "segment_code", "en", "zh"),
    [
        ("industry", "manufacturing", "Manufacturing", "制造业"),
        ("industry", "retail", "Retail", "零售"),
        ("company_size", "sme", "SME", "中小企业"),
        ("company_size", "enterprise", "Enterprise", "集团企业"),
        ("market_tier", "tier1", "Tier-1 city", "一线城市"),
        ("market_tier", "lower_tier", "Lower-tier city", "三线及以下城市"),
        ("relationship", "strategic_partner", "Strategic partner", "战略合作伙伴"),
        ("relationship", "one_off_buyer", "One-off buyer", "一次性购买客户"),
    ],
)
def test_label_in_english_and_chinese(dimension: str, segment_code: str, en: str, zh: str) -> None:
    rules = default_rules()
    assert rules.label(dimension, segment_code, "en") == en
    assert rules.label(dimension, segment_code, "zh-CN") == zh


def test_every_default_segment_has_an_english_and_a_chinese_label() -> None:
    for rules in default_rules().dimensions.values():
        for rule in rules:
            assert set(rule.labels) == {"en", "zh-CN"}
            assert all(rule.labels.values())


def test_label_falls_back_to_english_then_to_the_segment_code() -> None:
    rules = default_rules()
    assert rules.label("industry", "retail", "fr") == "Retail"
    assert rules.label("industry", "no_such_segment", "zh-CN") == "no_such_segment"
    assert rules.label("no_such_dimension", "retail", "en") == "retail"
    unlabelled = parse_rules(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: plain",
            "      when: purchases > 0",
            "    - segment: chinese_only",
            "      label: {zh-CN: 仅中文}",
            "      when: purchases > 5",
        )
    )
    assert unlabelled.label("d", "plain", "zh-CN") == "plain"
    assert unlabelled.label("d", "chinese_only", "en") == "chinese_only"
    assert unlabelled.label("d", "chinese_only", "zh-CN") == "仅中文"


# ------------------------------------------------------------------ evaluation


def test_first_matching_segment_wins() -> None:
    rules = parse_rules(
        rules_file(
            "dimensions:",
            "  value:",
            "    - segment: big",
            "      when: spend >= 1000",
            "    - segment: medium",
            "      when: spend >= 100",
            "    - segment: any",
            "      when: spend >= 0",
        )
    )
    assert segments(rules, spend=5000)["value"] == "big"
    assert segments(rules, spend=500)["value"] == "medium"
    assert segments(rules, spend=0)["value"] == "any"
    assert segments(rules, spend=-1)["value"] is None


def test_evaluate_returns_the_matching_rule_with_its_expression_and_names() -> None:
    hits = default_rules().evaluate({"purchases": 12, "contract": True})
    assert {dim for dim, hit in hits.items() if hit} == {"relationship"}
    hit = hits["relationship"]
    assert hit is not None
    seg, rule = hit
    assert seg == rule.segment == "strategic_partner"
    assert rule.expression == "partner == True or (contract == True and purchases >= 10)"
    assert rule.names == frozenset({"partner", "contract", "purchases"})


def test_a_missing_attribute_is_no_match_and_the_next_segment_is_tried() -> None:
    rules = parse_rules(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: recent",
            "      when: recency_days < 30",
            "    - segment: with_arithmetic",
            "      when: spend / purchases > 10",
            "    - segment: with_function",
            "      when: max(satisfaction, 3) > 4",
            "    - segment: fallback",
            "      when: True",
        )
    )
    assert segments(rules)["d"] == "fallback"
    assert segments(rules, recency_days=10)["d"] == "recent"
    assert segments(rules, spend=100, purchases=2)["d"] == "with_arithmetic"
    assert segments(rules, spend=100, purchases=0)["d"] == "fallback"  # division by zero: no match
    assert segments(rules, satisfaction=4.5)["d"] == "with_function"


def test_names_outside_the_rule_vocabulary_are_ignored_when_evaluating() -> None:
    rules = parse_rules(rules_file("dimensions:", "  d:", "    - segment: s", "      when: purchases > 1"))
    assert segments(rules, purchases=5, not_a_rule_name=1)["d"] == "s"


def test_rules_may_use_the_customers_current_segments() -> None:
    rules = parse_rules(
        rules_file(
            "dimensions:",
            "  vip:",
            "    - segment: vip_at_risk",
            "      when: rfm in ('champions', 'loyal') and lifecycle == 'at_risk'",
        )
    )
    assert segments(rules, rfm="loyal", lifecycle="at_risk")["vip"] == "vip_at_risk"
    assert segments(rules, rfm="loyal", lifecycle="active")["vip"] is None


def test_every_name_the_default_file_uses_is_a_rule_name() -> None:
    for rules in default_rules().dimensions.values():
        for rule in rules:
            assert rule.names <= RULE_NAMES


# ------------------------------------------------------------------ rejected files


def test_invalid_yaml_is_rejected_with_its_line() -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: s",
            "      when: purchases: 3",
        )
    )
    assert message.startswith("line 4: not valid YAML:")
    assert "mapping values are not allowed here" in message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "rules:\n  d: []\n",
        "- dimensions\n",
        "dimensions:\n",
        "dimensions: [a, b]\n",
        "just text\n",
    ],
)
def test_a_file_without_a_dimensions_mapping_is_rejected(text: str) -> None:
    assert rejection(text) == "line 1: the file needs a top-level `dimensions:` mapping"


def test_an_unknown_name_is_rejected_with_its_line() -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: ok",
            "      when: purchases > 1",
            "    - segment: bad",
            "      when: revenue > 3 and purchases > 1",
        )
    )
    assert message == "line 6: unknown name(s) revenue in 'revenue > 3 and purchases > 1'"


def test_a_syntax_error_is_rejected_with_its_line() -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: bad",
            "      when: purchases >",
        )
    )
    assert message.startswith("line 4: invalid expression 'purchases >':")


@pytest.mark.parametrize(
    "expression",
    ["industry.__class__", "industry.__class__.__name__ == 'str'", "purchases.__class__ == 1"],
)
def test_attribute_access_is_rejected_with_its_line(expression: str) -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: ok",
            "      when: purchases > 1",
            "    - segment: bad",
            f"      when: {expression}",
        )
    )
    assert message.startswith("line 6: ")
    assert "__class__" in message or "__name__" in message
    assert expression in message


def test_attribute_access_is_rejected_even_behind_a_condition_that_is_false_at_load_time() -> None:
    # At load time every name is None, so `partner == True` is false and `and` would never
    # reach the attribute: the check must not depend on that.
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: bad",
            "      when: partner == True and industry.__class__ == 1",
        )
    )
    assert message.startswith("line 4: ")


@pytest.mark.parametrize(
    ("expression", "function"),
    [
        ("__import__('os')", "__import__"),
        ("open('/etc/passwd')", "open"),
        ("purchases > 1 and eval('1')", "eval"),
        ("len(getattr(industry, 'x'))", "getattr"),
    ],
)
def test_a_disallowed_function_call_is_rejected_with_its_line(expression: str, function: str) -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: ok",
            "      when: purchases > 1",
            "    - segment: bad",
            f'      when: "{expression}"',
        )
    )
    assert message == f"line 6: function(s) {function} not allowed"


def test_allowed_functions_are_accepted() -> None:
    rules = parse_rules(
        rules_file("dimensions:", "  d:", "    - segment: s", "      when: max(purchases, abs(spend)) >= 3")
    )
    assert segments(rules, purchases=1, spend=-4)["d"] == "s"
    assert segments(rules, purchases=1, spend=2)["d"] is None


def test_a_segment_entry_without_when_is_rejected_with_its_line() -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: ok",
            "      when: purchases > 1",
            "    - segment: bad",
            "      label: {en: Bad}",
        )
    )
    assert message == "line 5: each segment needs `segment:` (text) and `when:` (expression)"


@pytest.mark.parametrize("entry", ["    - when: purchases > 1", "    - segment: 5\n      when: purchases > 1"])
def test_a_segment_entry_without_a_text_segment_is_rejected_with_its_line(entry: str) -> None:
    message = rejection(rules_file("dimensions:", "  d:", entry))
    assert message == "line 3: each segment needs `segment:` (text) and `when:` (expression)"


@pytest.mark.parametrize("value", ["[]", "{segment: s, when: purchases > 1}", "purchases > 1"])
def test_a_dimension_that_is_not_a_list_of_segments_is_rejected(value: str) -> None:
    message = rejection(rules_file("dimensions:", f"  d: {value}"))
    assert message == "line 2: dimension 'd' needs a list of segments"


def test_a_dimension_that_is_not_a_list_is_reported_at_its_own_line() -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  good:",
            "    - segment: s",
            "      when: purchases > 1",
            "  empty: []",
        )
    )
    assert message == "line 5: dimension 'empty' needs a list of segments"


def test_a_label_that_is_not_a_mapping_is_rejected_as_a_rules_error() -> None:
    message = rejection(
        rules_file(
            "dimensions:",
            "  d:",
            "    - segment: s",
            "      label: Some text",
            "      when: purchases > 1",
        )
    )
    assert re.match(r"line [34]: ", message)  # the entry's line or its label's line
