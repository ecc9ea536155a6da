"""What a customer buys and how: discount sensitivity, preferred channel, category breadth.

Pure code. The state keeps numerators only; the denominators are the purchase summary's
order count and spend (:class:`segstream.models.rfm.PurchaseSummary`), so a customer whose
purchases never name a discount, coupon, channel or category keeps no mix at all (one nil
byte in its record). Purchases applied before this part existed count as undiscounted and
without channel or category.

``amount`` is what the customer paid, after the discount; ``discount`` is what was taken
off, so the list price is ``amount + discount`` (docs/events.md).
"""

from __future__ import annotations

import zlib
from typing import Final, NamedTuple

import msgspec

#: The purchase channels, in the order of :attr:`PurchaseMix.channels`.
CHANNELS: Final = ("online", "offline", "partner", "sales_rep")
#: How many categories the top-category summary tracks (space-saving; see :class:`PurchaseMixModel`).
TOP_CATEGORIES: Final = 3


class PurchaseMix(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Learned purchase-mix state of one customer (money in integer minor units)."""

    discounted: int = 0  # orders with a discount or a coupon
    discounted_minor: int = 0  # what was paid for those orders
    discount_minor: int = 0  # discounts given in total
    channels: list[int] = msgspec.field(default_factory=list)  # orders per channel (CHANNELS order)
    category_bits: int = 0  # 64-bit bitmap of hashed category names
    top: list[tuple[str, int]] = msgspec.field(default_factory=list)  # (category, count), space-saving


class MixFeatures(NamedTuple):
    discount_share: float | None  # share of orders bought with a discount or coupon
    discount_spend_share: float | None  # share of spend on those orders
    discount_depth: float | None  # discounts / list price (paid + discounts) of all orders
    channel: str | None  # the channel of most orders (ties: CHANNELS order)
    channel_share: float | None  # its share of the orders that named a channel
    categories: int  # distinct categories bought (approximate past a few dozen)
    top_category: str | None  # the most bought category (ties: the first seen)


def category_bit(name: str) -> int:
    return 1 << (zlib.crc32(name.encode("utf-8")) & 63)


class PurchaseMixModel:
    """Discount sensitivity, the preferred channel and category breadth of a customer.

    The top category is tracked with the space-saving algorithm over
    :data:`TOP_CATEGORIES` counters: a category never seen before takes the place of the
    least counted one and inherits its count plus one, so the state stays bounded whatever
    a customer buys, and any category bought by more than a third of the orders is on top.
    Breadth counts hashed category names in 64 bits (exact while the names do not collide,
    as for the distinct features of use).

    Examples
    --------
    >>> m = PurchaseMixModel()
    >>> s = m.learn_one(None, 9000, discount_minor=1000, coupon="SPRING", channel="online", category="shoes")
    >>> s = m.learn_one(s, 3000, channel="online", category="bags")
    >>> s = m.learn_one(s, 1000, channel="offline", category="shoes")
    >>> f = m.predict_one(s, orders=3, spend_minor=13000)
    >>> round(f.discount_share, 4), round(f.discount_spend_share, 4), round(f.discount_depth, 4)
    (0.3333, 0.6923, 0.0714)
    >>> f.channel, round(f.channel_share, 4), f.categories, f.top_category
    ('online', 0.6667, 2, 'shoes')
    >>> m.learn_one(None, 500) is None   # nothing to learn: no state is created
    True
    """

    def learn_one(
        self,
        state: PurchaseMix | None,
        amount_minor: int,
        *,
        discount_minor: int = 0,
        coupon: str | None = None,
        channel: str | None = None,
        category: str | None = None,
    ) -> PurchaseMix | None:
        discounted = discount_minor > 0 or bool(coupon)
        if state is None and not (discounted or channel or category):
            return None
        s = state or PurchaseMix()
        channels = s.channels
        if channel is not None:
            channels = list(channels) or [0] * len(CHANNELS)
            channels[CHANNELS.index(channel)] += 1
        bits, top = s.category_bits, s.top
        if category:
            bits |= category_bit(category)
            top = _space_saving(top, category)
        return PurchaseMix(
            discounted=s.discounted + discounted,
            discounted_minor=s.discounted_minor + (amount_minor if discounted else 0),
            discount_minor=s.discount_minor + discount_minor,
            channels=channels,
            category_bits=bits,
            top=top,
        )

    def predict_one(self, state: PurchaseMix | None, orders: int, spend_minor: int) -> MixFeatures:
        """The features, given the customer's order count and spend (its purchase summary)."""
        s = state or PurchaseMix()
        named = sum(s.channels)
        best = max(range(len(s.channels)), key=lambda i: (s.channels[i], -i)) if named else -1
        top = max(s.top, key=lambda kv: kv[1])[0] if s.top else None  # max keeps the first of equals
        list_price = spend_minor + s.discount_minor
        return MixFeatures(
            discount_share=s.discounted / orders if orders else None,
            discount_spend_share=s.discounted_minor / spend_minor if spend_minor else None,
            discount_depth=s.discount_minor / list_price if list_price else None,
            channel=CHANNELS[best] if named else None,
            channel_share=s.channels[best] / named if named else None,
            categories=s.category_bits.bit_count(),
            top_category=top,
        )


def _space_saving(top: list[tuple[str, int]], category: str) -> list[tuple[str, int]]:
    """One step of space-saving over at most :data:`TOP_CATEGORIES` counters.

    >>> t = []
    >>> for c in ["a", "b", "a", "c", "d"]:
    ...     t = _space_saving(t, c)
    >>> t   # d replaced the least counted (b, 1) and counts 2
    [('a', 2), ('d', 2), ('c', 1)]
    """
    out = list(top)
    for i, (name, n) in enumerate(out):
        if name == category:
            out[i] = (name, n + 1)
            return out
    if len(out) < TOP_CATEGORIES:
        out.append((category, 1))
        return out
    low = min(range(len(out)), key=lambda i: out[i][1])
    out[low] = (category, out[low][1] + 1)
    return out
