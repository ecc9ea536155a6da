"""The input kinds, in one table: what each input topic is called, its one-letter code in
source fields and clocks (``p3``: purchases partition 3), its event schema, the part of a
customer's state it changes, and whether its silence means inactivity.

>>> [k.name for k in KINDS], BY_CODE["u"].part, ACTIVITY_CODES
(['purchases', 'usage', 'feedback', 'profiles'], 'usage', ('p', 'u'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from segstream.streams.schemas import Event, Feedback, Profile, Purchase, Usage


@dataclass(frozen=True, slots=True)
class InputKind:
    name: str  # the topic kind (its setting name; the topic itself may be renamed)
    code: str  # one letter, in source fields, clocks and the recent-ids ring
    schema: type[Event]
    part: str  # the part of CustomerState its events change
    activity: bool  # silence in it means the customer is inactive (lifecycle, churn)


KINDS: Final = (
    InputKind("purchases", "p", Purchase, "purchases", activity=True),
    InputKind("usage", "u", Usage, "usage", activity=True),
    InputKind("feedback", "f", Feedback, "feedback", activity=False),
    InputKind("profiles", "r", Profile, "profile", activity=False),
)
NAMES: Final = tuple(k.name for k in KINDS)
BY_NAME: Final = {k.name: k for k in KINDS}
BY_CODE: Final = {k.code: k for k in KINDS}
BY_SCHEMA: Final = {k.schema: k for k in KINDS}
#: Topic kind -> code, e.g. ``purchases`` -> ``p``.
CODES: Final = {k.name: k.code for k in KINDS}
#: Topic kind -> event schema.
SCHEMAS: Final[dict[str, type[Event]]] = {k.name: k.schema for k in KINDS}
#: Codes of the inputs whose silence means inactivity.
ACTIVITY_CODES: Final = tuple(k.code for k in KINDS if k.activity)
