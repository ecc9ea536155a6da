"""Keeping every worker on the same models: published snapshots and the rules file.

The leader (one worker at a time, Faust's leader election) computes the RFM boundaries
from the population histograms in Redis and publishes a versioned snapshot; every worker
reads the snapshot in the same round trip that loads a batch and scores with it. Rule
segments come from a YAML file, reloaded when it changes or when `segstream segments
reload` bumps the rules generation in Redis; a bad file is refused and the previous rules
stay active.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import msgspec

from segstream.agents.score import Models, behaviour_vector
from segstream.config import ConfigError, Settings
from segstream.models.clusters import FEATURES, ClusterLearner, ClusterSnapshot
from segstream.models.lifecycle import LifecycleModel
from segstream.models.rfm import FixedRFMScorer, RFMSnapshot
from segstream.models.rules import RulesError, RuleSet, parse_rules
from segstream.state.store import Store

log = logging.getLogger(__name__)

DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules" / "default.yaml"
RFM = "rfm"
CLUSTER = "cluster"


def rules_path(settings: Settings) -> Path:
    return Path(settings.rules_file) if settings.rules_file else DEFAULT_RULES


def load_rules(path: Path) -> RuleSet:
    """The rules of a file, or :class:`RulesError` naming the file, line and reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return parse_rules(text)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from None


def build_models(settings: Settings) -> Models:
    """The worker's models from the settings; a bad rules file is a configuration error."""
    try:
        rules = load_rules(rules_path(settings))
    except RulesError as exc:
        raise ConfigError(f"invalid rules file: {exc}") from None
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
        rules=rules,
        rescore_days=settings.rescore_days,
    )


class ModelSync:
    """The worker's current models, kept in line with Redis and the rules file."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.models = build_models(settings)
        self.path = rules_path(settings)
        self._rules_mtime = self._mtime()
        self._rules_generation: bytes | None = None
        self._snapshot_blob: bytes | None = None
        self._hist_seen: dict[str, dict[int, int]] | None = None
        self._decoder = msgspec.msgpack.Decoder(RFMSnapshot)
        self._cluster_decoder = msgspec.msgpack.Decoder(ClusterSnapshot)
        self._cluster_blob: bytes | None = None
        self.learner = ClusterLearner(n_clusters=settings.clusters, seed=42)
        self._scan_cursor = 0

    # -- snapshots

    def use_snapshot(self, blob: bytes | None) -> None:
        """Score with the snapshot just loaded (decoded only when it changed)."""
        if blob and blob != self._snapshot_blob:
            self.models.rfm_snapshot = self._decoder.decode(blob)
            self._snapshot_blob = blob

    def use_cluster_snapshot(self, blob: bytes | None) -> None:
        if blob and blob != self._cluster_blob:
            self.models.cluster_snapshot = self._cluster_decoder.decode(blob)
            self._cluster_blob = blob

    async def learn_clusters(self, now_us: int, sample: int = 2000) -> list[dict[str, object]]:
        """Leader only: learn from the next slice of the population (a SCAN cursor walks it
        round and round) and publish a cluster snapshot; return cluster births/merges/retirements."""
        self._scan_cursor, customers = await self.store.sample(self._scan_cursor, sample)
        if not customers:
            return []
        for st in customers.values():
            self.learner.learn_one(dict(zip(FEATURES, behaviour_vector(st, now_us, self.models), strict=True)))
        if self.learner.learned < self.learner.n_clusters * 20:
            return []
        blob = await self.store.get_snapshot(CLUSTER)
        previous = self._cluster_decoder.decode(blob) if blob else None
        snap, events = self.learner.snapshot(previous)
        new = msgspec.msgpack.encode(snap)
        if blob:
            await self.store.put_snapshot(CLUSTER + ":prev", blob)
        await self.store.put_snapshot(CLUSTER, new)
        self.use_cluster_snapshot(new)
        if events:
            log.info("cluster snapshot v%d: %s", snap.version, events)
        return [{"version": snap.version, **e} for e in events]

    async def publish(self, force: bool = False) -> RFMSnapshot | None:
        """Leader only: recompute the RFM boundaries from the histograms; publish if changed."""
        hists = await self.store.histograms()
        if not hists or (hists == self._hist_seen and not force):
            return None
        current = self.models.rfm_snapshot
        blob = await self.store.get_snapshot(RFM)
        version = self._decoder.decode(blob).version if blob else (current.version if current else 0)
        snap = RFMSnapshot.from_histograms(version + 1, hists)
        blob = msgspec.msgpack.encode(snap)
        await self.store.put_snapshot(RFM, blob)
        self.use_snapshot(blob)
        self._hist_seen = hists
        log.info("published RFM snapshot v%d over %d customers", snap.version, snap.customers)
        return snap

    # -- rules

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    async def maybe_reload_rules(self) -> bool:
        """Reload the rules when the file changed or a reload was requested; keep them if bad."""
        generation = cast(bytes | None, await self.store.client.get(self.store.keys.rules_generation))
        mtime = self._mtime()
        if mtime == self._rules_mtime and generation == self._rules_generation:
            return False
        self._rules_mtime, self._rules_generation = mtime, generation
        try:
            self.models.rules = load_rules(self.path)
        except RulesError as exc:
            log.error("rules not reloaded, the previous rules stay active: %s", exc)
            return False
        log.info("rules reloaded from %s (%d dimensions)", self.path, len(self.models.rules.dimensions))
        return True
