"""The models every worker scores with, built from the settings, and what segment codes are
called (pure: the published snapshots are set on :class:`Models` by whoever reads them).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

from segstream.config import ConfigError, Settings
from segstream.models.churn import ChurnModel, parse_weights
from segstream.models.clusters import ClusterSnapshot
from segstream.models.lifecycle import LifecycleModel
from segstream.models.mix import PurchaseMixModel
from segstream.models.playbook import Playbook, PlaybookError, load_playbook
from segstream.models.profile import ProfileModel
from segstream.models.rfm import FixedRFMScorer, MeanRFMScorer, QuintileRFMScorer, RFMSnapshot
from segstream.models.rules import RulesError, RuleSet, load_file, parse_rules
from segstream.models.satisfaction import SatisfactionModel
from segstream.models.usage import UsageModel
from segstream.models.value import ValueModel, ValueSnapshot
from segstream.scoring import catalogue


@dataclass(slots=True)
class Models:
    """The models and configuration every worker scores with (snapshots set as published)."""

    usage: UsageModel = field(default_factory=UsageModel)
    satisfaction: SatisfactionModel = field(default_factory=SatisfactionModel)
    profile: ProfileModel = field(default_factory=ProfileModel)
    mix: PurchaseMixModel = field(default_factory=PurchaseMixModel)
    lifecycle: LifecycleModel = field(default_factory=LifecycleModel)
    fixed_rfm: FixedRFMScorer = field(default_factory=FixedRFMScorer)
    rfm_scheme: str = "rfm11"  # or "cn8"
    rfm_scoring: str = "quintiles"  # or "fixed" (rfm11 only)
    rfm_snapshot: RFMSnapshot | None = None
    rfm_bands: bool = True  # segment names with R held to the lifecycle's recency bands
    # stabilising margins (docs/SEGMENTS.md, "Stable membership"): published RFM edges move
    # only by more than these; a customer leaves its value tier or cluster only past them
    rfm_margin: float = 0.1
    rfm_margin_days: float = 7.0
    value_margin: float = 0.1
    value_down_on_purchase: bool = True  # a tier moves down only on a purchase or the sweep
    cluster_margin: float = 0.2  # 0.1 until 2026-12-03 (docs/SEGMENTS.md, "Measuring it")
    min_population: int = 20  # below this, quintiles are not meaningful: fixed thresholds
    rules: RuleSet | None = None
    rescore_days: float = 7.0
    cluster_snapshot: ClusterSnapshot | None = None
    value: ValueModel = field(default_factory=ValueModel)
    value_snapshot: ValueSnapshot | None = None
    churn: ChurnModel = field(default_factory=ChurnModel)
    playbook: Playbook | None = None

    def rfm_scorer(self) -> FixedRFMScorer | QuintileRFMScorer | MeanRFMScorer | None:
        snap = self.rfm_snapshot
        usable = snap is not None and snap.customers >= self.min_population
        if self.rfm_scheme == "cn8":
            return MeanRFMScorer(snap) if usable and snap else None
        if self.rfm_scoring == "quintiles" and usable and snap:
            return QuintileRFMScorer(snap)
        return self.fixed_rfm


def cluster_number(code: str | None) -> int | None:
    """The id of a learned cluster's segment code (``"c3"``: 3); ``None`` for any other code.

    >>> cluster_number("c3"), cluster_number("insufficient"), cluster_number(None)
    (3, None, None)
    """
    return int(code[1:]) if code and code[:1] == "c" and code[1:].isdigit() else None


def segment_name(dimension: str, code: str, models: Models, language: str, parts: Container[str] | None = None) -> str:
    """The readable name of a segment code in a dimension; ``parts``: the behaviour parts of
    the customer it is shown for (see :func:`segstream.scoring.behaviour.cluster_name`)."""
    if dimension == "cluster" and (cid := cluster_number(code)) is not None:
        snap = models.cluster_snapshot
        if snap is None:  # not loaded yet
            return catalogue.reason("cluster_unloaded", language, code=code)
        if cid in snap.ids:
            if parts is None:
                return snap.description(cid, language)
            from segstream.scoring.behaviour import cluster_name  # behaviour imports this module

            return cluster_name(snap, cid, language, parts)
        # a cluster the latest model no longer has (customers move out of it as they are re-scored)
        return catalogue.reason("cluster_retired", language, code=code)
    if dimension in catalogue.NAMES:
        return catalogue.name(dimension, code, language)
    if models.rules and dimension in models.rules.dimensions:
        return models.rules.label(dimension, code, language)
    return code


DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules" / "default.yaml"
DEFAULT_PLAYBOOK = Path(__file__).resolve().parents[1] / "playbook" / "default.yaml"


def rules_path(settings: Settings) -> Path:
    return Path(settings.rules_file) if settings.rules_file else DEFAULT_RULES


def load_rules(path: Path) -> RuleSet:
    """The rules of a file, or :class:`RulesError` naming the file, line and reason."""
    return load_file(path, parse_rules, RulesError)


def playbook_path(settings: Settings) -> Path:
    return Path(settings.playbook_file) if settings.playbook_file else DEFAULT_PLAYBOOK


def file_mtime(path: Path) -> float:
    """A file's modification time, 0.0 when it cannot be read."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def build_models(settings: Settings) -> Models:
    """The worker's models from the settings; a bad rules or playbook file is a
    configuration error."""
    try:
        rules = load_rules(rules_path(settings))
    except RulesError as exc:
        raise ConfigError(f"invalid rules file: {exc}") from None
    try:
        playbook: Playbook = load_playbook(playbook_path(settings))
    except PlaybookError as exc:
        raise ConfigError(f"invalid playbook file: {exc}") from None
    lifecycle = LifecycleModel(
        new_days=settings.lifecycle_new_days,
        at_risk_days=settings.lifecycle_at_risk_days,
        churn_days=settings.lifecycle_churn_days,
    )
    money = settings.thresholds("rfm_fixed_monetary")
    fixed = FixedRFMScorer(
        recency_days=settings.thresholds("rfm_fixed_recency_days"),
        frequency=tuple(int(x) for x in settings.thresholds("rfm_fixed_frequency")),  # type: ignore[arg-type]
        monetary=tuple(round(x * 100) for x in money),  # type: ignore[arg-type]
    )
    return Models(
        lifecycle=lifecycle,
        fixed_rfm=fixed,
        rfm_scheme=settings.rfm_scheme,
        rfm_scoring=settings.rfm_scoring,
        rfm_bands=settings.rfm_recency_bands,
        rfm_margin=settings.rfm_edge_margin,
        rfm_margin_days=settings.rfm_edge_margin_days,
        value_margin=settings.value_tier_margin,
        value_down_on_purchase=settings.value_tier_down_on_purchase,
        cluster_margin=settings.cluster_margin,
        rules=rules,
        rescore_days=settings.rescore_days,
        value=ValueModel(
            horizon_days=settings.value_horizon_days,
            clv_months=settings.clv_months,
            discount_monthly=settings.clv_discount_monthly,
            min_customers=settings.value_min_customers,
            one_time_dropout=settings.churn_one_time_dropout,
            lapse_model=settings.churn_lapse_model,
        ),
        churn=ChurnModel(
            parse_weights(settings.churn_weights),
            settings.churn_enter,
            settings.churn_leave,
            settings.churn_lapse_needs_silence,
        ),
        playbook=playbook,
    )
