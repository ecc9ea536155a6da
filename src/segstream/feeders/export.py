"""``segstream export``: the members of a segment, or of a whole dimension, as rows of fields.

A row is made of fields of the customer document the HTTP API serves
(:func:`segstream.scoring.document.customer_document`), named by their dotted path in it:
``purchases.spend``, ``segments.rfm.name``, ``value.clv``. :func:`catalogue` lists them with
their types; :func:`select_fields` turns the user's ``--fields`` into a list of them.

The customers come a page at a time (:meth:`segstream.state.store.Store.walk`: one SCAN
batch and its MGETs); :func:`pump` filters a page, turns its members into rows and hands
them to a writer (:mod:`segstream.feeders.export_writers`) before asking for the next
page, so memory holds one page and one writer buffer, whatever the number of customers.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from segstream.models.profile import ATTRIBUTES
from segstream.state.customer import CustomerState

if TYPE_CHECKING:
    from segstream.scoring.models import Models

log = logging.getLogger(__name__)

Kind = Literal["str", "int", "float", "bool", "time"]

#: Dimensions every deployment scores (rule dimensions come from the rules file).
BUILT_IN_DIMENSIONS: Final = ("rfm", "lifecycle", "cluster", "value", "churn_risk")


class ExportError(Exception):
    """An export cannot start or go on; the message is one line. ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Field:
    """One exportable field: its dotted name, where it is in the customer document, its type.

    ``time`` fields are ISO-8601 strings with an offset in the document, CSV and JSON
    Lines, and UTC timestamps (µs) in Parquet. A missing part of the document (a customer
    without purchases) leaves the field empty (``None``).
    """

    name: str
    path: tuple[str, ...]
    kind: Kind
    help: str

    def get(self, doc: Mapping[str, Any]) -> Any:
        """The field's value in a customer document, or None."""
        value: Any = doc
        for part in self.path:
            if type(value) is not dict:  # (not isinstance of Mapping: this runs for every cell)
                return None
            value = value.get(part)
        if type(value) is list:  # churn_risk.drivers: the names, heaviest first
            return ";".join(str(d["name"]) for d in value) or None
        return value


@dataclass(frozen=True, slots=True)
class CustomField(Field):
    """A custom profile attribute: text in every format (a CRM field may hold a string in
    one customer and a number in another), ``true``/``false`` for booleans."""

    def get(self, doc: Mapping[str, Any]) -> Any:
        value = Field.get(self, doc)
        if value is None or type(value) is str:
            return value
        return ("true" if value else "false") if type(value) is bool else f"{value:g}"


def _f(name: str, kind: Kind, help: str) -> Field:
    return Field(name, tuple(name.split(".")), kind, help)


_PROFILE_KINDS: Final[dict[str, Kind]] = {"city_tier": "int", "contract": "bool", "partner": "bool"}

_HEAD: Final = (
    _f("customer_id", "str", "the customer id"),
    _f("as_of", "time", "the stream clock the document is computed at"),
)
_REST: Final = (
    _f("rfm_score.r", "int", "RFM recency score (1-5)"),
    _f("rfm_score.f", "int", "RFM frequency score (1-5)"),
    _f("rfm_score.m", "int", "RFM monetary score (1-5)"),
    _f("first_event", "time", "first event of any kind"),
    _f("last_event", "time", "last event of any kind"),
    _f("purchases.count", "int", "purchases"),
    _f("purchases.spend", "float", "total spend (major units)"),
    _f("purchases.first", "time", "first purchase"),
    _f("purchases.last", "time", "last purchase"),
    _f("purchases.recency_days", "float", "days since the last purchase"),
    _f("purchases.discount_share", "float", "share of orders with a discount or coupon"),
    _f("purchases.discount_spend_share", "float", "share of spend on those orders"),
    _f("purchases.discount_depth", "float", "discounts / list price of all orders"),
    _f("purchases.channel", "str", "the channel of most orders"),
    _f("purchases.channel_share", "float", "its share of the orders that named a channel"),
    _f("purchases.categories", "int", "distinct categories bought (approximate)"),
    _f("purchases.top_category", "str", "the most bought category"),
    _f("usage.rate_short", "float", "usage events per day, short horizon"),
    _f("usage.rate_long", "float", "usage events per day, long horizon"),
    _f("usage.trend", "float", "rate_short / rate_long (< 1: declining)"),
    _f("usage.days_since_last", "float", "days since the last usage event"),
    _f("usage.events", "int", "usage events"),
    _f("usage.distinct_features", "int", "distinct features used (approximate)"),
    _f("usage.units_per_day", "float", "quantity used per day, long horizon"),
    _f("usage.minutes_per_day", "float", "minutes of use per day, long horizon"),
    _f("usage.services_30d", "int", "distinct services used in the last 30 days"),
    _f("usage.last", "time", "last usage event"),
    _f("satisfaction.level", "float", "satisfaction 0..1, long horizon"),
    _f("satisfaction.trend", "float", "short-horizon level minus long-horizon level"),
    _f("satisfaction.nps_class", "str", "promoter, passive or detractor (latest NPS answer)"),
    _f("satisfaction.open_complaints", "int", "complaints opened and not resolved"),
    _f("satisfaction.days_since_complaint", "float", "days since the last complaint"),
    _f("satisfaction.last_complaint", "time", "last complaint opened"),
    _f("satisfaction.last_complaint_text", "str", "its text"),
    _f("satisfaction.complaint_severity", "float", "mean severity (1-5) of the rated complaints"),
    *(_f(f"profile.{a}", _PROFILE_KINDS.get(a, "str"), "profile attribute") for a in ATTRIBUTES),
    _f("profile.signup", "time", "signup time"),
    _f("profile.tenure_days", "float", "days since signup (or the first event)"),
    _f("profile.contract_end", "time", "end of the current contract"),
    _f("churn_risk.score", "float", "churn risk 0..1"),
    _f("churn_risk.level", "str", "high or normal"),
    _f("churn_risk.since", "time", "when the level last changed"),
    _f("churn_risk.drivers", "str", "driver names, heaviest first, ;-separated"),
    _f("value.p_alive", "float", "probability the customer is still active (BG/NBD)"),
    _f("value.expected_purchases", "float", "expected purchases in the horizon"),
    _f("value.horizon_days", "float", "that horizon (days)"),
    _f("value.expected_spend_per_purchase", "float", "expected spend per purchase (Gamma-Gamma)"),
    _f("value.clv", "float", "customer lifetime value (discounted)"),
    _f("value.clv_months", "int", "months the CLV covers"),
    _f("value.tier", "str", "value tier (the value dimension's segment)"),
    _f("value.contribution", "float", "share of all revenue"),
    _f("value.model_version", "int", "value model snapshot scored with"),
)

#: Short names for fields or groups of them (``segment``: the exported dimension's code and name).
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "id": ("customer_id",),
    "rfm": ("rfm_score.r", "rfm_score.f", "rfm_score.m"),
    "spend": ("purchases.spend",),
    "p_alive": ("value.p_alive",),
    "clv": ("value.clv",),
    "churn": ("churn_risk.score", "churn_risk.level"),
}
#: Fields of an export without ``--fields``.
DEFAULT_FIELDS: Final = "id,segment,rfm,purchases.count,purchases.spend,purchases.last,p_alive,clv,churn"


def catalogue(dimensions: Iterable[str]) -> list[Field]:
    """Every exportable field, with a segment code and name per dimension (in the order given)."""
    segs = [
        f
        for d in dict.fromkeys(dimensions)
        for f in (
            Field(f"segments.{d}.code", ("segments", d, "code"), "str", f"segment code in {d}"),
            Field(f"segments.{d}.name", ("segments", d, "name"), "str", f"segment name in {d}"),
        )
    ]
    return [*_HEAD, *segs, *_REST]


_CUSTOM: Final = "profile.attributes."


def select_fields(spec: str, fields: Sequence[Field], dimension: str) -> list[Field]:
    """The fields a comma-separated ``spec`` names, in its order, each once.

    A name is ``all``, an alias (:data:`ALIASES`, or ``segment``), a field's name, the
    start of some (``purchases``: every ``purchases.*`` field; ``segments.rfm``: its code
    and name), or a custom profile attribute (``profile.attributes.tier``; text, as the
    profiles set it). ExportError (exit code 2) for anything else.

    >>> [f.name for f in select_fields("id,segment,purchases.count", catalogue(["rfm"]), "rfm")]
    ['customer_id', 'segments.rfm.code', 'segments.rfm.name', 'purchases.count']
    """
    by_name = {f.name: f for f in fields}
    aliases = ALIASES | {"segment": (f"segments.{dimension}.code", f"segments.{dimension}.name")}
    chosen: dict[str, Field] = {}
    tokens = [t.strip() for t in spec.split(",") if t.strip()]
    if not tokens:
        raise ExportError("--fields names no field", 2)
    for token in tokens:
        if token == "all":
            found = list(fields)
        elif token in aliases:
            found = [by_name[n] for n in aliases[token] if n in by_name]
        elif token in by_name:
            found = [by_name[token]]
        elif token.startswith(_CUSTOM) and re.fullmatch(r"[a-z][a-z0-9_]{0,31}", token[len(_CUSTOM) :]):
            found = [CustomField(token, tuple(token.split(".")), "str", "custom profile attribute")]
        else:
            found = [f for f in fields if f.name.startswith(token + ".")]
        if not found:
            raise ExportError(f"unknown field {token!r} (segstream export --list-fields lists them)", 2)
        chosen.update((f.name, f) for f in found)
    return list(chosen.values())


class Extractor:
    """Rows of chosen fields from customers, through the HTTP API's customer document.

    Parameters
    ----------
    fields
        The fields of a row, in order.
    models
        The worker's models (names of rule segments and clusters; value horizon).
    language
        ``en`` or ``zh-CN``: the language of segment names.
    now_us
        The stream clock: days since, tenure and recency are computed at it.
    """

    def __init__(self, fields: Sequence[Field], models: Models, language: str, now_us: int) -> None:
        from segstream.scoring.document import customer_document

        self.fields = list(fields)
        self.parts = frozenset(f.path[0] for f in self.fields)  # the document's sections to compute
        self._document = customer_document
        self.models, self.language, self.now_us = models, language, now_us

    def row(self, customer_id: str, state: CustomerState) -> list[Any]:
        doc = self._document(customer_id, state, self.now_us, self.models, self.language, self.parts)
        return [f.get(doc) for f in self.fields]


def members(dimension: str, segment: str | None) -> Callable[[CustomerState], bool]:
    """Whether a customer is in the segment (or, with ``segment`` None, has one in the dimension)."""
    if segment is None:
        return lambda st: dimension in st.segments
    return lambda st: st.segments.get(dimension) == segment


class Writer(Protocol):
    """Where rows go (:mod:`segstream.feeders.export_writers`)."""

    def write(self, rows: list[list[Any]]) -> None: ...


@dataclass(slots=True)
class Summary:
    """How far an export got; updated as it goes (an interrupted one says where it stopped)."""

    scanned: int = 0  # customers read from Redis
    rows: int = 0  # rows handed to the writer
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


async def pump(
    pages: AsyncIterator[Mapping[str, CustomerState]],
    keep: Callable[[CustomerState], bool],
    row: Callable[[str, CustomerState], list[Any]],
    writer: Writer,
    summary: Summary,
    tick: Callable[[Summary], None] | None = None,
) -> Summary:
    """Every page's members, as rows, to the writer; one page in memory at a time."""
    async for page in pages:
        rows = [row(cid, st) for cid, st in page.items() if keep(st)]
        if rows:
            writer.write(rows)
        summary.scanned += len(page)
        summary.rows += len(rows)
        if tick is not None:
            tick(summary)
    log.debug("exported %d rows of %d customers", summary.rows, summary.scanned)
    return summary
