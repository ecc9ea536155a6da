"""What the API and the CLI read: customers and the published models, never the worker's
internals.

A :class:`Reader` builds the models from the settings once (rules, playbook, thresholds)
and decodes a published snapshot only when its bytes change, so ``segstream customer``
and ``GET /customers/{id}`` name segments the same way as the worker that wrote them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

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


def set_snapshots(models: Models, blobs: Sequence[bytes | None]) -> None:
    """Decode the published snapshots (in :data:`SNAPSHOTS` order) onto ``models``; one not
    published yet leaves the models without it."""
    for i, blob in enumerate(blobs):
        if blob:
            setattr(models, _FIELDS[i], msgspec.msgpack.decode(blob, type=_TYPES[i]))


class Found(NamedTuple):
    """What :meth:`Reader.customers` read."""

    #: customer id -> (document, entity tag), for the customers that exist
    documents: dict[str, tuple[dict[str, Any], str]]
    #: the heartbeat (wall µs) as the Redis read from holds it; 0: none written
    heartbeat_us: int


class Reader:
    """Customers as documents, scored names from the latest published snapshots."""

    def __init__(self, settings: Settings, store: Store, snapshots_every_s: float = 0.0) -> None:
        """``snapshots_every_s``: re-read the model snapshots with a lookup at most this often
        (0: with every lookup); a published snapshot then shows within that time."""
        self.settings = settings
        self.store = store
        self.snapshots_every_s = snapshots_every_s
        self._snapshots_read = -math.inf  # monotonic time of the last read
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
        found = (await self.customers([customer_id])).documents
        return found[customer_id][0] if found else None

    async def customers(self, customer_ids: Sequence[str]) -> Found:
        """The documents of the customers that exist, each with its entity tag: it changes
        when the customer's state, the stream clock (recency is as of it) or a model
        snapshot changes, and only then; and the heartbeat read with them. One Redis round
        trip for them all."""
        due = time.monotonic() - self._snapshots_read >= self.snapshots_every_s
        found, now, blobs, heartbeat = await self.store.get_with_snapshots(customer_ids, SNAPSHOTS if due else ())
        if due:  # and the rules file, as often
            self._snapshots_read = time.monotonic()
            self.use(blobs)
            self._reload_rules()
        if not found:
            return Found({}, heartbeat)
        models = self.models
        snaps = (models.rfm_snapshot, models.cluster_snapshot, models.value_snapshot)
        versions = ".".join(str(s.version if s else 0) for s in snaps)
        lang = self.settings.language
        docs = {
            cid: (customer_document(cid, e.state, now, models, lang), f'"{e.version}.{now}.{versions}"')
            for cid, e in found.items()
        }
        return Found(docs, heartbeat)
