"""Every name and reason a person reads, in one table per vocabulary, in en and zh-CN.

The models and the scoring core deal in codes and numbers only (``champions``,
``at_risk``, ``purchase_lapse``); what a code is called and how a change is explained
live here. Adding a language is adding a column to each table; adding a dimension is
adding its names and templates (tests/unit/scoring/test_catalogue.py checks that every
code has a name and every template the same fields in every language).

>>> name("rfm", "champions", "zh-CN"), name("lifecycle", "at_risk", "en")
('冠军客户', 'At risk')
>>> reason("lifecycle", "en", stage="At risk", days=45)
'At risk: no purchase or use for 45 days'
>>> traits([("spend", 1), ("recency", 0)], "zh-CN")
'大额订单、近期活跃'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

LANGUAGES: Final = ("en", "zh-CN")

#: Segment names by dimension, language and code. Rule dimensions take theirs from the
#: rules file, clusters from the traits of their centre (:func:`traits`).
NAMES: Final[dict[str, dict[str, dict[str, str]]]] = {
    "rfm": {
        "en": {
            "champions": "Champions",
            "loyal": "Loyal",
            "potential_loyalist": "Potential loyalist",
            "new": "New",
            "promising": "Promising",
            "need_attention": "Need attention",
            "about_to_sleep": "About to sleep",
            "at_risk": "At risk",
            "cannot_lose_them": "Cannot lose them",
            "hibernating": "Hibernating",
            "lost": "Lost",
            "important_value": "Important value",
            "important_development": "Important development",
            "important_retention": "Important retention",
            "important_winback": "Important win-back",
            "general_value": "General value",
            "general_development": "General development",
            "general_retention": "General retention",
            "general_winback": "General win-back",
        },
        "zh-CN": {
            "champions": "冠军客户",
            "loyal": "忠诚客户",
            "potential_loyalist": "潜在忠诚客户",
            "new": "新客户",
            "promising": "有潜力客户",
            "need_attention": "需要关注客户",
            "about_to_sleep": "即将沉睡客户",
            "at_risk": "有流失风险客户",
            "cannot_lose_them": "不能失去的客户",
            "hibernating": "休眠客户",
            "lost": "流失客户",
            "important_value": "重要价值客户",
            "important_development": "重要发展客户",
            "important_retention": "重要保持客户",
            "important_winback": "重要挽留客户",
            "general_value": "一般价值客户",
            "general_development": "一般发展客户",
            "general_retention": "一般保持客户",
            "general_winback": "一般挽留客户",
        },
    },
    "lifecycle": {
        "en": {
            "new": "New",
            "active": "Active",
            "at_risk": "At risk",
            "churned": "Churned",
            "reactivated": "Reactivated",
        },
        "zh-CN": {
            "new": "新客户",
            "active": "活跃客户",
            "at_risk": "流失预警客户",
            "churned": "已流失客户",
            "reactivated": "回流客户",
        },
    },
    "value": {
        "en": {"top": "Top value", "high": "High value", "medium": "Medium value", "low": "Low value"},
        "zh-CN": {"top": "顶级价值", "high": "高价值", "medium": "中等价值", "low": "低价值"},
    },
    "cluster": {  # learned clusters are named by their centre's traits (:func:`traits`)
        "en": {"insufficient": "Not enough data"},
        "zh-CN": {"insufficient": "数据不足"},
    },
    "churn_risk": {
        "en": {"high": "High churn risk", "normal": "Normal churn risk"},
        "zh-CN": {"high": "高流失风险", "normal": "正常"},
    },
}

#: What each churn driver means, for reasons and the customer document.
DRIVER_NAMES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "purchase_lapse": "no purchase expected soon",
        "usage_decline": "usage declining",
        "detractor": "NPS detractor",
        "complaints": "open complaints",
        "falling_satisfaction": "satisfaction falling",
    },
    "zh-CN": {
        "purchase_lapse": "近期预计不会再购买",
        "usage_decline": "使用量下降",
        "detractor": "NPS 贬损者",
        "complaints": "有未结投诉",
        "falling_satisfaction": "满意度下降",
    },
}

#: Words for a cluster centre's standout features: (below the population, above it).
TRAIT_WORDS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "en": {
        "spend": ("small orders", "large orders"),
        "frequency": ("rare buyer", "frequent buyer"),
        "recency": ("recent", "lapsed"),
        "usage_rate": ("light user", "heavy user"),
        "usage_trend": ("declining use", "growing use"),
        "satisfaction": ("unhappy", "satisfied"),
        "discount": ("pays full price", "deal seeker"),
    },
    "zh-CN": {
        "spend": ("小额订单", "大额订单"),
        "frequency": ("低频购买", "高频购买"),
        "recency": ("近期活跃", "久未购买"),
        "usage_rate": ("轻度使用", "重度使用"),
        "usage_trend": ("使用下降", "使用增长"),
        "satisfaction": ("不满意", "满意"),
        "discount": ("原价购买", "偏好优惠"),
    },
}
_TYPICAL: Final = {"en": "typical", "zh-CN": "普通"}
_SEPARATOR: Final = {"en": ", ", "zh-CN": "、"}

#: Reason templates (``str.format`` fields) by kind and language.
TEMPLATES: Final[dict[str, dict[str, str]]] = {
    "rfm": {
        "en": (
            "R={r} F={f} M={m}: last purchase {days:.0f} days ago, {count} purchase(s), {spend:.2f} {currency} in total"
        ),
        "zh-CN": "R={r} F={f} M={m}：最近一次购买在 {days:.0f} 天前，共 {count} 次购买，累计 {spend:.2f} {currency}",
    },
    "rfm_band": {
        "en": "{head}; named as R={band}, the band of its recency (docs/SEGMENTS.md)",
        "zh-CN": "{head}；按最近购买天数所在区间以 R={band} 命名（见 docs/SEGMENTS.md）",
    },
    "lifecycle": {
        "en": "{stage}: no purchase or use for {days:.0f} days",
        "zh-CN": "{stage}：已 {days:.0f} 天没有购买或使用",
    },
    "cluster": {
        "en": "nearest centre of cluster {code} ({name}) in snapshot v{version}",
        "zh-CN": "距快照 v{version} 中簇 {code}（{name}）的中心最近",
    },
    "cluster_insufficient": {
        "en": "no purchase and no use yet: no behaviour to cluster",
        "zh-CN": "尚无购买和使用记录：没有可聚类的行为",
    },
    "cluster_unloaded": {"en": "cluster {code}", "zh-CN": "簇 {code}"},
    "cluster_retired": {"en": "retired cluster {code}", "zh-CN": "已停用的簇 {code}"},
    "rule": {"en": "rule at line {line}: {expression}", "zh-CN": "第 {line} 行规则：{expression}"},
    "rule_none": {"en": "no rule matches any more", "zh-CN": "不再符合任何规则"},
    "value": {
        "en": "{tier}: expected {clv:.2f} {currency} over the next {months} months (discounted)",
        "zh-CN": "{tier}：未来 {months} 个月预计贡献 {clv:.2f} {currency}（折现）",
    },
    "churn_high": {
        "en": "churn risk {score:.2f} (high at {enter:.2f})",
        "zh-CN": "流失风险 {score:.2f}（≥ {enter:.2f} 为高）",
    },
    "churn_down": {
        "en": "churn risk down to {score:.2f} (below {leave:.2f})",
        "zh-CN": "流失风险降至 {score:.2f}（低于 {leave:.2f}）",
    },
    "with_drivers": {"en": "{head}: {drivers}", "zh-CN": "{head}：{drivers}"},
}


def name(dimension: str, code: str, language: str) -> str:
    """The name of a segment code in a fixed dimension; the code itself when unknown."""
    return NAMES.get(dimension, {}).get(language, {}).get(code, code)


def driver(code: str, language: str) -> str:
    return DRIVER_NAMES[language].get(code, code)


def reason(kind: str, language: str, **fields: Any) -> str:
    """The reason text of ``kind`` in ``language`` with its fields filled in."""
    return TEMPLATES[kind][language].format(**fields)


def join(parts: Sequence[str], language: str) -> str:
    return _SEPARATOR[language].join(parts)


def split(text: str, language: str) -> list[str]:
    """The parts :func:`join` put together.

    >>> split(join(["large orders", "recent"], "en"), "en"), split("大额订单、近期活跃", "zh-CN")
    (['large orders', 'recent'], ['大额订单', '近期活跃'])
    """
    return text.split(_SEPARATOR[language])


def traits(standouts: Sequence[tuple[str, int]], language: str) -> str:
    """A cluster's description from its standout features, each ``(feature, 1 if above
    the population else 0)``, strongest first; ``typical`` when none stands out."""
    if not standouts:
        return _TYPICAL[language]
    return join([TRAIT_WORDS[language][f][above] for f, above in standouts], language)
