"""Profile attributes: upserts merged in event-time order, tenure in event time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from segstream.models.decay import US_PER_DAY


class ProfileState(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True, gc=False):
    """The customer's attributes and when they were last written (µs of event time).

    Stored as an array (an absent attribute costs one byte), so attribute names do not
    repeat in every customer's record.
    """

    updated_us: int = 0
    signup_us: int = 0
    kind: str | None = None
    name: str | None = None
    industry: str | None = None
    company_size: str | None = None
    region: str | None = None
    city: str | None = None
    city_tier: int | None = None
    ownership: str | None = None
    contract: bool | None = None
    partner: bool | None = None
    age_band: str | None = None
    gender: str | None = None
    income_band: str | None = None
    renewal_us: int = 0  # end of the current contract (event time), 0: unknown
    custom: dict[str, str | float | bool] = msgspec.field(default_factory=dict)  # custom attributes

    def attrs(self) -> dict[str, Any]:
        """The attributes that are set."""
        return {f: v for f in ATTRIBUTES if (v := getattr(self, f)) is not None}


ATTRIBUTES = tuple(
    f for f in ProfileState.__struct_fields__ if f not in ("updated_us", "signup_us", "renewal_us", "custom")
)
#: Most custom attributes a customer keeps (the same bound as one event's).
MAX_CUSTOM = 16


def merge_custom(old: Mapping[str, Any], given: Mapping[str, Any] | None, newer: bool) -> dict[str, str | float | bool]:
    """Custom attributes after an upsert: a newer event sets the ones it names and removes
    those it gives as ``None``; an older one only fills gaps. More than :data:`MAX_CUSTOM`
    is an error (the event goes to the dead letters; the customer keeps what it had).

    >>> merge_custom({"tier": "gold", "pets": 2.0}, {"tier": "silver", "pets": None}, newer=True)
    {'tier': 'silver'}
    >>> merge_custom({"tier": "gold"}, {"tier": "silver", "vegan": True}, newer=False)
    {'vegan': True, 'tier': 'gold'}
    """
    if not given:
        return dict(old)
    merged = {**old, **given} if newer else {**{k: v for k, v in given.items() if k not in old}, **old}
    out = {k: v for k, v in merged.items() if v is not None}
    if len(out) > MAX_CUSTOM:
        raise ValueError(f"custom attributes would be {len(out)}, more than {MAX_CUSTOM} per customer")
    return out


class ProfileModel:
    """Merge profile upserts; later event time wins, late events only fill gaps.

    Examples
    --------
    >>> m = ProfileModel()
    >>> s = m.learn_one(None, 10, {"industry": "制造业", "city_tier": 1}, signup_us=US_PER_DAY)
    >>> s = m.learn_one(s, 5, {"industry": "retail", "region": "华东"})  # older: fills gaps only
    >>> s.attrs() == {"industry": "制造业", "region": "华东", "city_tier": 1}
    True
    >>> m.tenure_days(s, now_us=31 * US_PER_DAY)
    30.0
    """

    def learn_one(
        self,
        state: ProfileState | None,
        ts_us: int,
        attrs: Mapping[str, Any],
        signup_us: int | None = None,
        renewal_us: int | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> ProfileState:
        s = state or ProfileState()
        given = {k: v for k, v in attrs.items() if v is not None and k in ATTRIBUTES}
        newer = ts_us >= s.updated_us
        merged = {**s.attrs(), **given} if newer else {**given, **s.attrs()}
        signup = s.signup_us
        if signup_us is not None and (not signup or newer):
            signup = signup_us
        renewal = s.renewal_us
        if renewal_us is not None and (not renewal or newer):
            renewal = renewal_us
        return ProfileState(
            updated_us=max(ts_us, s.updated_us),
            signup_us=signup,
            renewal_us=renewal,
            custom=merge_custom(s.custom, custom, newer),
            **merged,
        )

    def tenure_days(self, state: ProfileState | None, now_us: int, first_seen_us: int = 0) -> float | None:
        """Days since signup (or since first seen when the signup date is unknown)."""
        start = (state.signup_us if state and state.signup_us else 0) or first_seen_us
        return max(0, now_us - start) / US_PER_DAY if start else None

    def days_to_renewal(self, state: ProfileState | None, now_us: int) -> float | None:
        """Days until the contract ends (negative once it has ended), or ``None`` if unknown.

        >>> s = ProfileModel().learn_one(None, 0, {"contract": True}, renewal_us=45 * US_PER_DAY)
        >>> ProfileModel().days_to_renewal(s, now_us=15 * US_PER_DAY)
        30.0
        """
        return (state.renewal_us - now_us) / US_PER_DAY if state and state.renewal_us else None
