"""A batch of customers as columns: the numbers every dimension scores from, one array each.

Built in one pass over the batch's states (the only per-customer step before scoring);
every dimension then works on whole arrays. Absent parts are zeros with a ``has_*`` mask.

>>> from segstream.models.rfm import PurchaseSummary
>>> from segstream.state.customer import CustomerState
>>> st = CustomerState(first_us=5, last_us=9, purchases=PurchaseSummary(5, 9, 2, 700, 2, 300))
>>> c = Columns.of([st, CustomerState()], [10, 10])
>>> c.has_p.tolist(), c.p_count.tolist(), c.active.tolist()
([True, False], [2, 0], [9, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from segstream.models.satisfaction import FeedbackState
from segstream.state.customer import CustomerState

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

_ZERO_P = (0, 0, 0, 0, 0)
_ZERO_U = (0.0, 0.0, 0, 0, 0)
_ZERO_F = (0.0, 0.0, 0.0, 0.0, -1, 0, 0, 0, 0, 0)


def _feedback_row(f: FeedbackState) -> tuple[float | int, ...]:
    return (f.num_s, f.den_s, f.num_l, f.den_l, f.nps, f.complaints, f.resolved, f.complaint_us, f.severity_sum,
            f.severity_n)  # fmt: skip


@dataclass(slots=True)
class Columns:
    now: I64
    first_us: I64
    reactivated_us: I64
    has_p: Mask
    p_first: I64
    p_last: I64
    p_count: I64
    p_spend: I64
    p_discounted: I64  # orders on a discount or coupon (the purchase mix; 0 without one)
    has_u: Mask
    u_short: F64
    u_long: F64
    u_ref: I64
    u_last: I64
    u_count: I64
    has_f: Mask
    f_num_s: F64
    f_den_s: F64
    f_num_l: F64
    f_den_l: F64
    f_nps: I64
    f_complaints: I64
    f_resolved: I64
    f_complaint_us: I64
    f_severity_sum: I64
    f_severity_n: I64

    def __len__(self) -> int:
        return len(self.now)

    @property
    def active(self) -> I64:
        """Last purchase or use (0: neither yet)."""
        return np.maximum(np.where(self.has_p, self.p_last, 0), np.where(self.has_u, self.u_last, 0))

    @classmethod
    def of(cls, states: Sequence[CustomerState], nows: Sequence[int]) -> Columns:
        base, pur, use, fb = [], [], [], []
        for st in states:
            base.append((st.first_us, st.reactivated_us))
            p, u, f = st.purchases, st.usage, st.feedback
            m = st.mix
            pur.append((p.first_us, p.last_us, p.count, p.spend_minor, m.discounted if m else 0) if p else _ZERO_P)
            use.append((u.short, u.long, u.ref_us, u.last_us, u.count) if u else _ZERO_U)
            fb.append(_feedback_row(f) if f else _ZERO_F)
        n = len(states)
        b = np.array(base, dtype=np.int64).reshape(n, 2)
        pa = np.array(pur, dtype=np.int64).reshape(n, 5)
        ua = np.array(use, dtype=np.float64).reshape(n, 5)
        fa = np.array(fb, dtype=np.float64).reshape(n, 10)
        return cls(
            now=np.asarray(nows, dtype=np.int64),
            first_us=b[:, 0],
            reactivated_us=b[:, 1],
            has_p=np.array([st.purchases is not None for st in states], dtype=bool),
            p_first=pa[:, 0],
            p_last=pa[:, 1],
            p_count=pa[:, 2],
            p_spend=pa[:, 3],
            p_discounted=pa[:, 4],
            has_u=np.array([st.usage is not None for st in states], dtype=bool),
            u_short=ua[:, 0],
            u_long=ua[:, 1],
            u_ref=np.array([u[2] for u in use], dtype=np.int64),  # µs: exact, not through float
            u_last=np.array([u[3] for u in use], dtype=np.int64),
            u_count=ua[:, 4].astype(np.int64),
            has_f=np.array([st.feedback is not None for st in states], dtype=bool),
            f_num_s=fa[:, 0],
            f_den_s=fa[:, 1],
            f_num_l=fa[:, 2],
            f_den_l=fa[:, 3],
            f_nps=fa[:, 4].astype(np.int64),
            f_complaints=fa[:, 5].astype(np.int64),
            f_resolved=fa[:, 6].astype(np.int64),
            f_complaint_us=np.array([f[7] for f in fb], dtype=np.int64),
            f_severity_sum=fa[:, 8].astype(np.int64),
            f_severity_n=fa[:, 9].astype(np.int64),
        )
