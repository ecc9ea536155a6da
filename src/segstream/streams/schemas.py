"""Wire schemas: the JSON events segstream reads and writes (docs/events.md shows each).

Input events are keyed by ``customer_id`` and carry an ``event_id`` and an event-time ``ts``
(ISO-8601 *with* an offset). Checks that a type cannot express (finite amounts, aware
timestamps) live in :mod:`segstream.streams.codec`, which names the reason of each rejection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

CustomerId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
ShortText = Annotated[str, msgspec.Meta(max_length=128)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]

#: A custom profile attribute's name: lower-case letters, digits and ``_``, starting with a letter.
AttributeName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=32)]
AttributeText = Annotated[str, msgspec.Meta(max_length=64)]
#: Most custom attributes one profile event (and one customer) may carry.
MAX_ATTRIBUTES: Final = 16
#: Custom attributes: a map of name to a string, number or boolean; ``null`` removes one.
Attributes = Annotated[
    dict[AttributeName, AttributeText | float | bool | None], msgspec.Meta(max_length=MAX_ATTRIBUTES)
]

Channel = Literal["online", "offline", "partner", "sales_rep"]
FeedbackKind = Literal["nps", "csat", "complaint", "complaint_resolved", "review"]
FeedbackChannel = Literal["survey", "hotline", "social", "email", "in_app"]
CompanySize = Literal["micro", "sme", "large", "enterprise"]
Ownership = Literal["state_owned", "private", "foreign", "public_listed", "other"]


class Event(msgspec.Struct, kw_only=True, frozen=True):
    """Fields every input event has."""

    event_id: EventId
    customer_id: CustomerId
    ts: datetime


class Purchase(Event, frozen=True):
    """A purchase (or a contract payment). ``amount`` is in major units of ``currency``.

    ``currency`` may be left out: it is then the deployment's (``SEGSTREAM_CURRENCY``).
    """

    amount: float
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)] | None = None
    items: Count = 1
    category: ShortText | None = None
    channel: Channel | None = None
    discount: float = 0.0
    coupon: ShortText | None = None
    order_id: ShortText | None = None


class Usage(Event, frozen=True):
    """Use of the product or service: a login, a session, a feature used."""

    action: ShortText
    service: ShortText | None = None
    quantity: float = 1.0
    duration_s: float = 0.0
    session_id: ShortText | None = None


class Feedback(Event, frozen=True):
    """NPS (0-10), CSAT (1-5), a complaint (or its resolution), or a review with a 1-5 rating."""

    kind: FeedbackKind
    score: float | None = None
    channel: FeedbackChannel | None = None
    text: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class Profile(Event, frozen=True):
    """Attributes of an organisation (B2B) or a person (B2C); an upsert.

    ``attributes`` holds custom attributes (at most :data:`MAX_ATTRIBUTES`, names of up to
    32 characters, text of up to 64): each one given is set, ``null`` removes it, and the
    ones not named are kept."""

    kind: Literal["organisation", "person"] | None = None
    name: ShortText | None = None
    industry: ShortText | None = None
    company_size: CompanySize | None = None
    region: ShortText | None = None
    city: ShortText | None = None
    city_tier: Annotated[int, msgspec.Meta(ge=1, le=6)] | None = None
    ownership: Ownership | None = None
    contract: bool | None = None
    partner: bool | None = None
    age_band: ShortText | None = None
    gender: ShortText | None = None
    income_band: ShortText | None = None
    signup_date: datetime | None = None
    renewal_date: datetime | None = None  # when the current contract ends
    attributes: Attributes | None = None  # the CRM's own fields (lifestyle, account tier, ...)


# ---------------------------------------------------------------- outputs


class SegmentChange(msgspec.Struct, kw_only=True, frozen=True):
    """A customer moved from one segment to another in one dimension.

    ``event_id`` is derived from the source event position, so a replay after a crash
    produces the same id and consumers can drop the duplicate.
    """

    event_id: str
    customer_id: str
    dimension: str
    from_segment: str | None = msgspec.field(name="from")
    to_segment: str = msgspec.field(name="to")
    to_name: str
    ts: datetime
    reason: str
    features: dict[str, float]


class Driver(msgspec.Struct, frozen=True):
    name: str
    weight: float


class ChurnRisk(msgspec.Struct, kw_only=True, frozen=True):
    """A customer entered (``level="high"``) or left (``"normal"``) high churn risk.

    ``drivers`` are the signals behind the score with their share of it (summing to 1);
    ``action`` is the retention playbook's suggestion for the customer's segments and value.
    ``event_id`` is derived from the triggering position, so replays repeat it.
    """

    event_id: str
    customer_id: str
    ts: datetime
    score: float
    level: Literal["high", "normal"]
    drivers: list[Driver]
    value_tier: str | None = None
    action: str | None = None
    action_name: str | None = None
    reason: str = ""
    p_alive: float | None = None
    clv: float | None = None
    segments: dict[str, str] = msgspec.field(default_factory=dict)


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """An input event that could not be applied, with its original bytes (base64)."""

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    kafka_ts_ms: int | None
    key: bytes | None
    value: bytes
    rejected_at: datetime


class ClusterEvent(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A cluster was born, merged from others or retired when the leader learned a new snapshot.

    ``from`` lists the previous clusters nearest a new one; ``description`` is the new
    cluster's centre in words (English). A retirement has neither.
    """

    version: int
    event: Literal["birth", "merge", "retirement"]
    cluster: int
    from_clusters: list[int] | None = msgspec.field(default=None, name="from")
    description: str | None = None
