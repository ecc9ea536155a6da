"""Keeping every worker on the same models: published snapshots and the rules file.

The leader (one worker at a time, Faust's leader election) computes the RFM boundaries
from the population histograms in Redis and publishes a versioned snapshot; every worker
reads the snapshot in the same round trip that loads a batch and scores with it. Rule
segments come from a YAML file, reloaded when it changes or when `segstream segments
reload` bumps the rules generation in Redis; a bad file is refused and the previous rules
stay active.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import msgspec
import numpy as np

from segstream.config import Settings
from segstream.models.clusters import FEATURES, ClusterLearner, ClusterSnapshot
from segstream.models.playbook import PlaybookError, load_playbook
from segstream.models.rfm import RFMSnapshot, settle
from segstream.models.rules import RulesError
from segstream.models.value import ValueSnapshot, fit_now, fit_value
from segstream.scoring.behaviour import behaviours
from segstream.scoring.models import build_models, file_mtime, load_rules, playbook_path, rules_path
from segstream.state.customer import CustomerState
from segstream.state.keys import SNAPSHOT_CLUSTER as CLUSTER
from segstream.state.keys import SNAPSHOT_RFM as RFM
from segstream.state.keys import SNAPSHOT_VALUE as VALUE
from segstream.state.store import Store

log = logging.getLogger(__name__)
FIT_PAGE = 2000  # customers decoded at a time by a value refit


class ModelSync:
    """The worker's current models, kept in line with Redis and the rules file."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.models = build_models(settings)
        self.path = rules_path(settings)
        self._rules_mtime = file_mtime(self.path)
        self._playbook_mtime = file_mtime(playbook_path(settings))
        self._rules_generation: bytes | None = None
        self._snapshot_blob: bytes | None = None
        self._hist_seen: dict[str, dict[int, int]] | None = None
        self._decoder = msgspec.msgpack.Decoder(RFMSnapshot)
        self._cluster_decoder = msgspec.msgpack.Decoder(ClusterSnapshot)
        self._cluster_blob: bytes | None = None
        self._value_decoder = msgspec.msgpack.Decoder(ValueSnapshot)
        self._value_blob: bytes | None = None
        start, k_range = settings.cluster_counts()
        # the count is chosen every 5th snapshot (docs/QUALITY.md: its cost), the refinement ~0.08 s
        self.learner = ClusterLearner(
            n_clusters=start, k_range=k_range, seed=42, k_every=5, criterion=settings.clusters_criterion,
            max_step=settings.cluster_max_step, confirm=settings.clusters_confirm,
        )  # fmt: skip
        self._scan_cursor = 0
        self._early_fit = 0  # customers with purchases at the last fit before the interval
        # one learning and one fit at a time: an epoch's and an operator's re-score run in
        # two timers; interleaved, both would move the one learner and publish the same version
        self._learning = asyncio.Lock()
        self._fitting = asyncio.Lock()

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

    def use_value_snapshot(self, blob: bytes | None) -> None:
        if blob and blob != self._value_blob:
            self.models.value_snapshot = self._value_decoder.decode(blob)
            self._value_blob = blob

    def early_fit_due(self) -> bool:
        """The first value fit as soon as there are ``value_min_customers`` customers with
        purchases (the RFM snapshot counts them), not a refit interval later."""
        rfm = self.models.rfm_snapshot
        n = rfm.customers if rfm else 0
        if not fit_now(self.models.value_snapshot, n, self.models.value.min_customers, self._early_fit):
            return False
        self._early_fit = n
        return True

    async def fit_value(self, now_us: int) -> ValueSnapshot | None:
        """Leader only: refit BG/NBD and Gamma-Gamma on the customers' repeat histories as
        of the stream clock (at most ``value_fit_sample`` of them) and publish the result,
        versioned; a failed fit keeps the previous parameters and says so in ``status``."""
        async with self._fitting:
            return await self._fit_value(now_us)

    async def _fit_value(self, now_us: int) -> ValueSnapshot | None:
        unit, started = self.models.value.unit_days, time.monotonic()
        # the population in pages: each page's states are decoded, reduced to the four
        # numbers a fit needs, and dropped. One MGET and decode of everyone (50,000
        # customers: ~0.1 GB of objects, ~1 s on the event loop) stalled the batches and
        # left the worker's memory higher after every refit (benchmarks/soak.py). Each page's
        # numbers go straight into small arrays: dicts of tuples per customer peaked at ~0.5 KB
        # a buyer (51 MB at 100,000 by tracemalloc), the arrays, ids and seen set at 26 MB
        ids: list[str] = []
        pages: list[np.ndarray] = []  # (n, 4): the repeat history's four numbers
        spend_pages: list[np.ndarray] = []  # the spends, exact integers
        cursor, seen = 0, set[str]()
        while True:
            cursor, page = await self.store.sample(cursor, FIT_PAGE)
            rows, spends = [], []
            for cid, st in page.items():
                if cid not in seen and st.purchases:
                    ids.append(cid)
                    rows.append(st.purchases.repeat_history(now_us, unit))
                    spends.append(st.purchases.spend_minor)
                seen.add(cid)  # SCAN may return a key twice
            if rows:
                pages.append(np.array(rows, dtype=np.float64))
                spend_pages.append(np.array(spends, dtype=np.int64))
            del page, rows, spends
            if cursor == 0 or len(seen) >= self.settings.value_fit_sample:
                break
        if not ids:
            return None
        order = sorted(range(len(ids)), key=ids.__getitem__)  # by id, one order: the same fit
        hist = np.concatenate(pages)[order]
        spend = np.concatenate(spend_pages)[order]  # the revenue, its cap and the tier edges
        del pages, spend_pages, seen
        blob = await self.store.get_snapshot(VALUE)
        previous = self._value_decoder.decode(blob) if blob else None
        try:
            snap = await asyncio.to_thread(
                fit_value, self.models.value, hist[:, 0], hist[:, 1], hist[:, 2], hist[:, 3],
                as_of_us=now_us, version=(previous.version if previous else 0) + 1, spend_minor=spend,
                previous=previous, fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )  # fmt: skip
            new = msgspec.msgpack.encode(snap)
        except Exception:  # a defect in a fit on some population: the worker and the last fit stay
            log.exception("value fit on %d customers failed; the published parameters stay", len(ids))
            return None
        await self.store.put_snapshot(VALUE, new)
        self.use_value_snapshot(new)
        took = time.monotonic() - started  # read, fit and publish
        if snap.status != "ok":
            log.warning("value models v%d (%.1f s): %s", snap.version, took, snap.status)
        else:
            bg, gg, pn = snap.bgnbd, snap.gammagamma, snap.paretonbd
            log.info(
                "value models v%d on %d customers in %.1f s: BG/NBD r=%.4g alpha=%.4g a=%.4g b=%.4g LL=%.6g; "
                "Gamma-Gamma %s; Pareto/NBD %s",
                snap.version, snap.customers, took, bg.r, bg.alpha, bg.a, bg.b, bg.log_likelihood,  # type: ignore[union-attr]
                f"p={gg.p:.4g} q={gg.q:.4g} v={gg.v:.4g}" if gg else "not fitted",
                f"r={pn.r:.4g} alpha={pn.alpha:.4g} s={pn.s:.4g} beta={pn.beta:.4g} LL={pn.log_likelihood:.6g}"
                if pn else "not fitted",
            )  # fmt: skip
        return snap

    def _learn(self, customers: list[CustomerState], now_us: int) -> None:
        # without purchases or use a customer's vector is all defaults: not a behaviour
        customers = [st for st in customers if st.purchases or st.usage]
        if not customers:
            return
        for row in behaviours(customers, now_us, self.models).tolist():
            self.learner.learn_one(dict(zip(FEATURES, row, strict=True)))

    async def learn_clusters(self, now_us: int, sample: int = 2000) -> list[dict[str, object]]:
        """Leader only: learn from the next slice of the population (a SCAN cursor walks it
        round and round) and publish a cluster snapshot; return cluster births/merges/retirements."""
        async with self._learning:
            self._scan_cursor, customers = await self.store.sample(self._scan_cursor, sample)
            return await self._learn_from(list(customers.values()), now_us)

    async def learn_from(
        self, customers: list[CustomerState], now_us: int, choose: bool = False
    ) -> list[dict[str, object]]:
        """Learn from these customers, in this order, and publish a cluster snapshot (leader
        only); ``choose``: with ``clusters=auto``, choose the count at this snapshot."""
        async with self._learning:
            return await self._learn_from(customers, now_us, choose)

    async def _learn_from(
        self, customers: list[CustomerState], now_us: int, choose: bool = False
    ) -> list[dict[str, object]]:
        if not customers:
            return []
        # learning is CPU-bound (~0.1 s a sample): in a thread, so that the event loop (and
        # the batches' latency) gets its share of the GIL meanwhile; the learner is the
        # leader timer's alone
        await asyncio.to_thread(self._learn, customers, now_us)
        if self.learner.learned < self.learner.n_clusters * 20:
            return []
        blob = await self.store.get_snapshot(CLUSTER)
        previous = self._cluster_decoder.decode(blob) if blob else None
        k = self.learner.k
        snap, events = await asyncio.to_thread(self.learner.snapshot, previous, choose=choose)
        if self.learner.k != k:
            log.info("cluster count %d -> %d (scores by count: %s)", k, self.learner.k, self.learner.k_scores)
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
        if not force:  # an operator's full re-score takes the exact edges
            m = self.models
            snap = settle(self._decoder.decode(blob) if blob else current, snap, m.rfm_margin, m.rfm_margin_days)
        blob = msgspec.msgpack.encode(snap)
        await self.store.put_snapshot(RFM, blob)
        self.use_snapshot(blob)
        self._hist_seen = hists
        log.info("published RFM snapshot v%d over %d customers", snap.version, snap.customers)
        return snap

    # -- rules

    async def maybe_reload_playbook(self) -> bool:
        """Reload the playbook when its file changed; keep the previous one if it is bad."""
        path = playbook_path(self.settings)
        mtime = file_mtime(path)
        if mtime in (0.0, self._playbook_mtime):  # unreadable (kept as is) or unchanged
            return False
        self._playbook_mtime = mtime
        try:
            self.models.playbook = load_playbook(path)
        except PlaybookError as exc:
            log.error("playbook not reloaded, the previous one stays active: %s", exc)
            return False
        log.info("playbook reloaded from %s (%d actions)", path, len(self.models.playbook.actions))
        return True

    async def maybe_reload_rules(self) -> bool:
        """Reload the rules when the file changed or a reload was requested; keep them if bad."""
        generation = await self.store.rules_generation()
        mtime = file_mtime(self.path)
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
