"""The catalogue: every code of every dimension named in every language, every template
with the same fields in every language, and the texts people read."""

from __future__ import annotations

import string

import pytest

from segstream.models.churn import DRIVERS
from segstream.models.clusters import FEATURES
from segstream.models.lifecycle import STAGES
from segstream.models.rfm import CN8_SEGMENTS, RFM_SEGMENTS
from segstream.models.value import TIERS
from segstream.scoring import catalogue
from segstream.scoring.catalogue import LANGUAGES, NAMES, TEMPLATES


@pytest.mark.parametrize(
    ("dimension", "codes"),
    [
        ("rfm", set(RFM_SEGMENTS) | set(CN8_SEGMENTS.values())),
        ("lifecycle", set(STAGES)),
        ("value", set(TIERS)),
        ("churn_risk", {"high", "normal"}),
    ],
)
def test_every_code_a_model_returns_has_a_name_in_every_language(dimension: str, codes: set[str]) -> None:
    for language in LANGUAGES:
        assert set(NAMES[dimension][language]) == codes
        assert all(NAMES[dimension][language].values())


def test_names_within_a_dimension_are_distinct_so_a_reader_can_tell_segments_apart() -> None:
    for dimension, by_language in NAMES.items():
        for language, names in by_language.items():
            assert len(set(names.values())) == len(names), (dimension, language)


def test_every_driver_and_cluster_feature_has_words_in_every_language() -> None:
    for language in LANGUAGES:
        assert set(catalogue.DRIVER_NAMES[language]) == set(DRIVERS)
        assert set(catalogue.TRAIT_WORDS[language]) == set(FEATURES)


def fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_every_template_takes_the_same_fields_in_every_language() -> None:
    for kind, by_language in TEMPLATES.items():
        assert set(by_language) == set(LANGUAGES), kind
        en = fields(by_language["en"])
        for language in LANGUAGES:
            assert fields(by_language[language]) == en, (kind, language)


def test_chinese_names_of_the_eight_class_scheme_are_the_usual_crm_terms() -> None:
    cn = NAMES["rfm"]["zh-CN"]
    assert {cn[c] for c in CN8_SEGMENTS.values()} == {
        "重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户",
        "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户",
    }  # fmt: skip
    assert cn["important_winback"] == "重要挽留客户"
    assert NAMES["rfm"]["en"]["important_winback"] == "Important win-back"


def test_an_unknown_code_is_shown_as_itself() -> None:
    assert catalogue.name("rfm", "not_a_segment", "en") == "not_a_segment"
    assert catalogue.name("no_such_dimension", "x", "zh-CN") == "x"


def test_reasons_read_as_sentences_in_both_languages() -> None:
    rfm = {"r": 5, "f": 4, "m": 3, "days": 2.4, "count": 7, "spend": 1234.5, "currency": "USD"}
    assert catalogue.reason("rfm", "en", **rfm) == (
        "R=5 F=4 M=3: last purchase 2 days ago, 7 purchase(s), 1234.50 USD in total"
    )
    zh = "R=5 F=4 M=3：最近一次购买在 2 天前，共 7 次购买，累计 1234.50 USD"
    assert catalogue.reason("rfm", "zh-CN", **rfm) == zh
    assert catalogue.reason("churn_high", "en", score=0.8123, enter=0.7, leave=0.5) == "churn risk 0.81 (high at 0.70)"
    assert catalogue.reason("value", "zh-CN", tier="高价值", clv=99.5, months=12, currency="CNY") == (
        "高价值：未来 12 个月预计贡献 99.50 CNY（折现）"
    )


def test_cluster_traits_join_with_the_language_s_separator() -> None:
    standouts = [("usage_trend", 0), ("usage_rate", 0), ("spend", 0)]
    assert catalogue.traits(standouts, "en") == "declining use, light user, small orders"
    assert catalogue.traits(standouts, "zh-CN") == "使用下降、轻度使用、小额订单"
    assert catalogue.traits([], "en") == "typical"


def test_an_unknown_driver_code_is_shown_as_itself() -> None:
    from segstream.scoring import catalogue

    assert catalogue.driver("new_driver", "en") == "new_driver"
    assert catalogue.driver("purchase_lapse", "en") != "purchase_lapse"
