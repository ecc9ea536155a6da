"""What the API and the CLI read: customers and the published models, never the worker's
internals.

A :class:`Reader` builds the models from the settings once (rules, playbook, thresholds)
and decodes a published snapshot only when its bytes change, so ``segstream customer``
and ``GET /customers/{id}`` name segments the same way as the worker that wrote them.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import msgspec

from segstream.config import Settings
from segstream.models.clusters import ClusterSnapshot
from segstream.models.rfm import RFMSnapshot
from segstream.models.rules import RulesError
from segstream.models.value import ValueSnapshot
from segstream.scoring.document import customer_document
from segstream.scoring.models import Models, build_models, file_mtime, load_rules, rules_path
from segstream.state.keys import SNAPSHOTS
from segstream.state.store import Store

log = logging.getLogger(__name__)

_TYPES: Final = (RFMSnapshot, ClusterSnapshot, ValueSnapshot)
_FIELDS: Final = ("rfm_snapshot", "cluster_snapshot", "value_snapshot")


class Reader:
    """Customers as documents, scored names from the latest published snapshots."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.models: Models = build_models(settings)
        self._blobs: list[bytes | None] = [None] * len(SNAPSHOTS)
        self._decoders = [msgspec.msgpack.Decoder(t) for t in _TYPES]
        self._rules = rules_path(settings)
        self._rules_mtime = file_mtime(self._rules)

    def _reload_rules(self) -> None:
        """The rule labels follow the rules file as the worker does (a bad file keeps the last)."""
        mtime = file_mtime(self._rules)
        if mtime in (0.0, self._rules_mtime):
            return
        self._rules_mtime = mtime
        try:
            self.models.rules = load_rules(self._rules)
        except RulesError as exc:
            log.error("rules not reloaded, the previous rules stay: %s", exc)

    def use(self, blobs: list[bytes | None]) -> Models:
        """Set the snapshots just read (in :data:`SNAPSHOTS` order) on the models; a
        snapshot not published yet leaves the models without it."""
        for i, blob in enumerate(blobs):
            if blob and blob != self._blobs[i]:
                setattr(self.models, _FIELDS[i], self._decoders[i].decode(blob))
                self._blobs[i] = blob
        return self.models

    async def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer document (see :func:`segstream.scoring.document.customer_document`),
        ``None`` for an unknown customer; one Redis round trip."""
        state, now, blobs = await self.store.get_with_snapshots(customer_id, SNAPSHOTS)
        if state is None:
            return None
        self._reload_rules()
        return customer_document(customer_id, state, now, self.use(blobs), self.settings.language)
