"""The pure model step of a batch: loaded states + valid events -> new states + outputs.

No I/O here: the agent loads, calls :func:`apply_events`, emits and saves. An event is
skipped when its customer has already applied its source offset (a replay after a crash)
or its ``event_id`` (a producer retry written at a new offset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from segstream.agents.outlook import ACTIVITY_TOPICS, assess, customer_clock
from segstream.agents.score import Scored, ToScore, Trigger, assign_clusters, score_batch
from segstream.models.profile import ATTRIBUTES as PROFILE_ATTRIBUTES
from segstream.models.quantiles import bucket
from segstream.models.rfm import RFM_METRICS, PurchaseSummary, metric_values
from segstream.scoring.columns import Columns
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState, id_hash
from segstream.state.keys import CLOCK_GLOBAL
from segstream.state.store import Loaded, SaveItem
from segstream.streams import kinds
from segstream.streams.codec import to_us
from segstream.streams.schemas import ChurnRisk, Event, Feedback, Profile, Purchase, SegmentChange, Usage


@dataclass(frozen=True, slots=True)
class Positioned:
    """A valid event and where it came from (source partition field, Kafka offset)."""

    event: Event
    source: str
    offset: int
    ts_us: int


@dataclass(slots=True)
class StepResult:
    items: list[SaveItem] = field(default_factory=list)
    outputs: list[SegmentChange] = field(default_factory=list)
    churn_events: list[ChurnRisk] = field(default_factory=list)
    clock: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)  # offsets already applied (replays), per topic
    duplicates: Counter[str] = field(default_factory=Counter)  # event ids already applied (producer retries)
    failed: list[tuple[Positioned, str]] = field(default_factory=list)  # event, why


KIND_OF_CODE = {k.code: k.name for k in kinds.KINDS}

#: The part of the state each input topic (by its code) changes.
PARTS = {k.code: k.part for k in kinds.KINDS}
#: The part purchases change (a value tier moves down only with one: ``assess``).
PURCHASES = next(k.part for k in kinds.KINDS if k.name == "purchases")


def positioned(event: Event, source: str, offset: int) -> Positioned:
    return Positioned(event, source, offset, to_us(event.ts))


#: Default largest step (µs) an event may move its partition's clock by on its own: 1 day.
CLOCK_JUMP_US = 86_400_000_000
#: Default number of events past a gap that move a partition's clock over it.
CLOCK_QUORUM = 3


def top_field(source: str, i: int) -> str:
    """Clock hash field of the ``i``-th largest event time seen in a source partition."""
    return f"{source}#{i}"


def advance_clock(
    events: Sequence[Positioned],
    clocks: Mapping[str, int] | int,
    *,
    jump_us: int = CLOCK_JUMP_US,
    quorum: int = CLOCK_QUORUM,
) -> dict[str, int]:
    """The clock fields a batch moves: a watermark per source partition, its ``quorum``
    largest event times (``p3#0`` …), and the global clock (all forward only).

    A partition's watermark follows its events while each is at most ``jump_us`` past it or
    past the global clock (in event-time order); an event further ahead does not move it on
    its own. Once
    ``quorum`` events lie past a gap, the watermark moves over it (to the ``quorum``-th
    largest event time seen, and on from there). So one event, or up to ``quorum - 1`` events,
    stamped far ahead never drag the clock, and a stream that really jumped (a pause, a
    gap in a replay) moves on after ``quorum`` events. The global clock is the largest
    partition watermark, never moved backwards.

    >>> from types import SimpleNamespace as E
    >>> day = 86_400_000_000
    >>> evs = [E(source="p0", ts_us=t * day) for t in (10, 11, 900)]
    >>> c = advance_clock(evs, {"global": 0})
    >>> c["p0"] // day, c["global"] // day
    (11, 11)
    >>> c = advance_clock([E(source="p0", ts_us=t * day) for t in (901, 902)], c)
    >>> c["p0"] // day
    902
    """
    stored: Mapping[str, int] = clocks if isinstance(clocks, Mapping) else {CLOCK_GLOBAL: clocks}
    times: dict[str, list[int]] = {}
    for p in events:
        times.setdefault(p.source, []).append(p.ts_us)
    clock: dict[str, int] = {}
    marks: dict[str, int] = {}
    for source, ts in times.items():
        ts.sort()
        tops = {v for i in range(quorum) if (v := stored.get(top_field(source, i))) is not None}
        merged = sorted(tops.union(ts), reverse=True)[:quorum]  # distinct times: a repeat is no quorum
        for i, v in enumerate(merged):
            if v > stored.get(top_field(source, i), -1):
                clock[top_field(source, i)] = v
        marks[source] = max(stored.get(source, 0), merged[-1] if len(merged) == quorum else 0)
    # an event moves its partition when it is at most jump_us past the partition's watermark
    # or the global clock (the other partitions vouch for that time), so a sparse partition
    # keeps up; repeated until no watermark moves, as one partition's move can vouch for another
    glob = max([stored.get(CLOCK_GLOBAL, 0), *marks.values()])
    moved = True
    while moved:
        moved = False
        for source, ts in times.items():
            mark = marks[source]
            ref = max(mark, glob) or ts[0]  # a first event ever starts the clock
            for t in ts:
                if mark < t <= ref + jump_us:
                    mark = t
                    ref = max(ref, t)
            if mark > marks[source]:
                marks[source], moved = mark, True
                glob = max(glob, mark)
    for source, mark in marks.items():
        if mark > stored.get(source, -1):
            clock[source] = mark
    clock[CLOCK_GLOBAL] = glob
    return clock


def apply_one(st: CustomerState, p: Positioned, models: Models) -> None:
    """Update one customer's state with one event (mutates ``st``)."""
    ev = p.event
    if isinstance(ev, Purchase):
        amount = round(ev.amount * 100)
        st.purchases = (st.purchases or PurchaseSummary()).add(p.ts_us, amount)
        if ev.discount or ev.coupon or ev.channel or ev.category:  # a plain purchase changes no mix
            st.mix = models.mix.learn_one(
                st.mix, amount, discount_minor=round(ev.discount * 100), coupon=ev.coupon, channel=ev.channel,
                category=ev.category,
            )  # fmt: skip
    elif isinstance(ev, Usage):
        st.usage = models.usage.learn_one(
            st.usage, p.ts_us, 1.0, ev.action, quantity=ev.quantity, duration_s=ev.duration_s, service=ev.service
        )
    elif isinstance(ev, Feedback):
        st.feedback = models.satisfaction.learn_one(st.feedback, p.ts_us, ev.kind, ev.score, ev.text)
    elif isinstance(ev, Profile):
        attrs = {f: getattr(ev, f) for f in PROFILE_ATTRIBUTES}
        signup = to_us(ev.signup_date) if ev.signup_date else None
        renewal = to_us(ev.renewal_date) if ev.renewal_date else None
        st.profile = models.profile.learn_one(st.profile, p.ts_us, attrs, signup, renewal, ev.attributes)
    else:  # pragma: no cover - the codec only yields the four types
        raise TypeError(f"no model for {type(ev).__name__}")


def apply_events(
    loaded: dict[str, Loaded],
    events: Sequence[Positioned],
    clock_us: int,
    models: Models,
    language: str = "en",
    currency: str = "USD",
    active: Mapping[str, int] | None = None,
    clocks: Mapping[str, int] | None = None,
    jump_us: int = CLOCK_JUMP_US,
    quorum: int = CLOCK_QUORUM,
    score: bool = True,
) -> StepResult:
    """Apply a batch of events to the loaded customers (mutating their states).

    With ``score=False`` (a catch-up behind the event-time barrier) nothing is scored: each
    changed customer is made due at its latest event, and the barrier's sweep scores it.

    Customers are scored as of the stream clock after the batch (:func:`advance_clock`;
    ``clocks`` as loaded, else just the global ``clock_us``), held back to the clocks of
    their own purchase and usage partitions being consumed (``active``, see
    :func:`segstream.agents.outlook.customer_clock`). A customer whose own events lie
    ahead of the stream clock (an event the clock did not follow) is scored as of its
    latest event: it alone sees that time."""
    stored = clock_us if clocks is None else clocks
    out = StepResult(clock=advance_clock(events, stored, jump_us=jump_us, quorum=quorum))
    bounds = dict(active or {})
    for f, v in out.clock.items():  # the batch's own partitions are being consumed right now
        if f[0] in ACTIVITY_TOPICS and f != CLOCK_GLOBAL and "#" not in f:
            bounds[f] = max(v, bounds.get(f, 0))
    by_customer: dict[str, list[Positioned]] = {}
    for p in events:
        by_customer.setdefault(p.event.customer_id, []).append(p)
    now = out.clock[CLOCK_GLOBAL]
    to_score: list[ToScore] = []
    scored_items: list[SaveItem] = []
    held: dict[str, int] = {}  # partition index -> the clock its customers are scored at
    for cid, evs in by_customer.items():
        entry = loaded[cid]
        st = entry.state
        before = st.purchases  # frozen: a purchase replaces it
        last: Positioned | None = None
        applied = 0
        per_code: dict[str, int] = {}  # applied events per topic code
        for p in evs:
            topic = p.source[0]
            if st.offsets.get(p.source, -1) >= p.offset:
                out.skipped[KIND_OF_CODE[topic]] += 1
                continue
            h = id_hash(p.event.event_id)
            if h in st.recent.get(topic, ()):
                out.duplicates[KIND_OF_CODE[topic]] += 1
                st.offsets[p.source] = p.offset
                last = last or p
                continue
            try:
                apply_one(st, p, models)
            except (ArithmeticError, ValueError, TypeError) as exc:  # never let one event poison the batch
                out.failed.append((p, f"{type(exc).__name__}: {exc}"))
                continue
            st.remember_hash(topic, h, p.ts_us)
            st.offsets[p.source] = p.offset
            last = p
            applied += 1
            per_code[topic] = per_code.get(topic, 0) + 1
        if last is None:
            continue
        by_kind = {KIND_OF_CODE[c]: n for c, n in per_code.items()}
        item = SaveItem(cid, entry.version, st, events=applied, due_us=None, by_kind=by_kind)
        if applied:
            if st.purchases is not before:
                old = metric_values(before) if before else None
                item.buckets = histogram_moves(old, metric_values(st.purchases) if st.purchases else None)
            if not score:
                item.due_us = st.last_us
                out.items.append(item)
                continue
            trigger = Trigger(f"{last.source}-{last.offset}", last.ts_us)
            parts = frozenset(PARTS[k] for k in per_code)
            if st.last_us > now:
                at = st.last_us
            else:  # one bound per partition index (a customer's partitions share it): cached
                index = next(iter(st.offsets), "")[1:]
                if (at_index := held.get(index)) is None:
                    at_index = held[index] = customer_clock(st, now, bounds)
                at = at_index
            to_score.append((cid, st, at, trigger, parts))
            scored_items.append(item)
        out.items.append(item)
    _score_all(out, to_score, scored_items, models, language, currency)
    return out


def _score_all(
    out: StepResult,
    to_score: list[ToScore],
    items: list[SaveItem],
    models: Models,
    language: str,
    currency: str,
) -> None:
    """Score every dimension of the batch's customers at once (``items`` parallel to
    ``to_score``): segments, clusters, value and churn risk; collect outputs and due times."""
    if not to_score:
        return
    cols = Columns.of([t[1] for t in to_score], [t[2] for t in to_score])
    scored = score_batch(to_score, models, language, currency, cols)
    to_assign = [(cid, st, at, trigger, sc) for (cid, st, at, trigger, _), sc in zip(to_score, scored, strict=True)]
    for item, sc in zip(items, scored, strict=True):
        item.changes = sc.changes
    no_purchase = [parts is not None and PURCHASES not in parts for *_, parts in to_score]
    _finish(out, to_assign, items, models, language, currency, cols, no_purchase)


def _finish(
    out: StepResult,
    to_assign: list[tuple[str, CustomerState, int, Trigger, Scored]],
    items: list[SaveItem],
    models: Models,
    language: str,
    currency: str,
    cols: Columns | None = None,
    no_purchase: list[bool] | None = None,
) -> None:
    """Batch cluster assignment and value/churn scoring, then collect every scored
    customer's outputs and its due time (``items`` is parallel to ``to_assign``; value
    and churn scoring can bring a due time forward; ``no_purchase``: see :func:`assess`)."""
    assign_clusters(to_assign, models, language, cols)
    assess(to_assign, models, language, currency, cols, no_purchase)
    for item, (_, _, _, _, scored) in zip(items, to_assign, strict=True):
        out.outputs.extend(scored.outputs)
        out.churn_events.extend(scored.churn)
        item.due_us = scored.due_us


def rescore(
    loaded: dict[str, Loaded],
    at: dict[str, int],
    now: int,
    models: Models,
    language: str = "en",
    currency: str = "USD",
    full_now: int | None = None,
) -> StepResult:
    """Re-score customers without new events (the due-time sweep).

    Each customer is scored as of the event time it was due at (``at``), not the stream
    clock ``now``: a fast replay then moves a silent customer through the stages, and into
    high churn risk, at the event times a live stream would have. A due time before the
    customer's last event (an operator's full re-score) means ``full_now`` (default
    ``now``), the global clock.
    """
    out = StepResult()
    to_score: list[ToScore] = []
    for cid, entry in loaded.items():
        if not entry.version:  # vanished (nothing stored): nothing to score
            continue
        due = at.get(cid, now)
        when = (full_now or now) if due < entry.state.last_us else min(due, now)
        when = max(when, entry.state.last_us)  # a customer ahead of the clock: as of its own latest event
        to_score.append((cid, entry.state, when, Trigger(f"sweep-{when}", when), None))
        out.items.append(SaveItem(cid, entry.version, entry.state))
    _score_all(out, to_score, out.items, models, language, currency)
    return out


def histogram_moves(
    before: dict[str, int] | None, after: dict[str, int] | None
) -> list[tuple[str, int | None, int | None]]:
    """Bucket moves of each RFM metric when a customer's purchase summary changes."""
    moves: list[tuple[str, int | None, int | None]] = []
    for metric, exact in RFM_METRICS:
        old = bucket(before[metric], exact) if before else None
        new = bucket(after[metric], exact) if after else None
        if old != new:
            moves.append((metric, old, new))
    return moves
