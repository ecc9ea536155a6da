"""The pure model step of a batch: loaded states + valid events -> new states + outputs.

No I/O here: the agent loads, calls :func:`apply_purchases`, emits and saves. Events whose
source offset a customer has already applied are skipped, which makes replays idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from segstream.models.rfm import SEGMENT_NAMES, US_PER_DAY, FixedRFMScorer, RFMScore
from segstream.state.customer import CustomerState
from segstream.state.keys import CLOCK_GLOBAL
from segstream.state.store import Loaded, SaveItem
from segstream.streams.codec import from_us, to_us
from segstream.streams.schemas import Purchase, SegmentChange


@dataclass(frozen=True, slots=True)
class Positioned:
    """A valid event and where it came from (source partition field, Kafka offset)."""

    event: Purchase
    source: str
    offset: int
    ts_us: int


@dataclass(slots=True)
class StepResult:
    items: list[SaveItem] = field(default_factory=list)
    outputs: list[SegmentChange] = field(default_factory=list)
    clock: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    failed: list[tuple[Positioned, str]] = field(default_factory=list)  # event, why


def positioned(event: Purchase, source: str, offset: int) -> Positioned:
    return Positioned(event, source, offset, to_us(event.ts))


def advance_clock(events: Sequence[Positioned], clock_us: int) -> dict[str, int]:
    """Largest event time per source partition, and the global clock (never backwards)."""
    clock: dict[str, int] = {}
    for p in events:
        if p.ts_us > clock.get(p.source, -1):
            clock[p.source] = p.ts_us
    clock[CLOCK_GLOBAL] = max([clock_us, *clock.values()])
    return clock


def _reason(score: RFMScore, days: float, state: CustomerState, language: str, currency: str) -> str:
    spend = state.p_spend_minor / 100
    if language == "zh-CN":
        return (
            f"R={score.r} F={score.f} M={score.m}：最近一次购买在 {days:.0f} 天前，"
            f"共 {state.p_count} 次购买，累计 {spend:.2f} {currency}"
        )
    return (
        f"R={score.r} F={score.f} M={score.m}: last purchase {days:.0f} days ago, "
        f"{state.p_count} purchase(s), {spend:.2f} {currency} in total"
    )


def apply_purchases(
    loaded: dict[str, Loaded],
    events: Sequence[Positioned],
    clock_us: int,
    scorer: FixedRFMScorer,
    language: str = "en",
    currency: str = "USD",
) -> StepResult:
    """Apply a batch of purchases to the loaded customers (mutating their states)."""
    out = StepResult(clock=advance_clock(events, clock_us))
    # Each customer is scored as of the stream clock at its last event in the batch (the
    # running maximum in arrival order), not at the batch's end: a fast replay then gives
    # the recency a live stream would have given.
    by_customer: dict[str, list[Positioned]] = {}
    now_at: dict[str, int] = {}
    running = clock_us
    for p in events:
        running = max(running, p.ts_us)
        by_customer.setdefault(p.event.customer_id, []).append(p)
        now_at[p.event.customer_id] = running
    names = SEGMENT_NAMES[language]
    for cid, evs in by_customer.items():
        entry = loaded[cid]
        st = entry.state
        summary = st.purchases
        last: Positioned | None = None
        applied = 0
        for p in evs:
            if st.offsets.get(p.source, -1) >= p.offset:
                out.skipped += 1
                continue
            try:
                summary = summary.add(p.ts_us, round(p.event.amount * 100))
            except (ArithmeticError, ValueError) as exc:  # never let one event poison the batch
                out.failed.append((p, f"{type(exc).__name__}: {exc}"))
                continue
            st.offsets[p.source] = p.offset
            st.last_event_us = max(st.last_event_us, p.ts_us)
            last = p
            applied += 1
        if last is None:
            continue
        st.set_purchases(summary)
        item = SaveItem(cid, entry.version, st, events=applied)
        now = now_at[cid]
        score = scorer.score_one(summary, now)
        old = st.segments.get("rfm")
        if score.segment != old:
            st.segments["rfm"] = score.segment
            item.changes.append(("rfm", old, score.segment))
            days = max(0, now - summary.last_us) / US_PER_DAY
            out.outputs.append(
                SegmentChange(
                    event_id=f"{last.source}-{last.offset}-rfm",
                    customer_id=cid,
                    dimension="rfm",
                    from_segment=old,
                    to_segment=score.segment,
                    to_name=names[score.segment],
                    ts=from_us(last.ts_us),
                    reason=_reason(score, days, st, language, currency),
                    features={
                        "recency_days": round(days, 3),
                        "frequency": summary.count,
                        "monetary": summary.spend_minor / 100,
                        "r": score.r,
                        "f": score.f,
                        "m": score.m,
                    },
                )
            )
        out.items.append(item)
    return out
