"""Scores graded by what happened next: churn risk and value against the event stream.

Progressive validation, as in River: a prediction made at event time ``t`` is kept
pending until the horizon ``H`` has passed on the stream clock, then graded by the
customer's own events and moved into its model version's accumulators.

- **Churn**: label 1 (churned) when the customer had no activity (purchase or use) in
  ``(t, t + H]``, else 0. An activity at ``t`` itself or earlier (a late event) does not
  count: the score at ``t`` already knew it.
- **Value**: the predicted spend over the horizon (expected purchases × expected spend
  per purchase, minor units) against the spend realised in ``(t, t + H]``.

Per version the last ``window`` graded predictions are kept, and :meth:`ChurnGrader.report`
gives AUC (Mann-Whitney, ties counted half), the lift of the top decile of scores, a
calibration table by decile of score and whether it is calibrated (every decile's mean
score within ``tolerance`` of its observed churn rate); for value the sums, their ratio,
the mean absolute error, the correlation and a table by decile of predicted value.

Memory is bounded: at most one pending prediction per customer per ``sample_every_days``,
and at most ``max_pending`` in all. The pending ones belong to a random sample of customers
(a keyed hash of the id, seeded, below ``sample_rate``); when the cap is reached the rate
is halved and the customers above it leave, so a customer is followed through all its
predictions or not at all, and the same customers are kept after a restart.

Events are matched to the predictions pending when they arrive: an event that arrives
after its prediction was graded (later than the stream clock passed ``t + H``), or before
the prediction was recorded, is not counted. The stream clock is the caller's
(:meth:`ChurnGrader.advance`), e.g. the low watermark of the partitions consumed.

Pure numpy: no I/O. The state is encoded with msgpack (:meth:`ChurnGrader.to_bytes`).
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import inspect
from typing import Final

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

from segstream.models.decay import US_PER_DAY

__all__ = ["ChurnGrader", "ChurnGrades", "Decile", "Grades", "ValueGrades", "VersionGrades", "auc", "deciles"]

_MIN_RATE: Final = 2.0**-40
_SEQ_BITS: Final = 40  # a heap key is t_us << _SEQ_BITS | sequence number: one int, ordered by (t_us, seq)


class Decile(msgspec.Struct, frozen=True):
    """One decile: mean prediction, mean outcome (churn rate, or realised spend) and size."""

    predicted: float
    observed: float
    n: int


class ChurnGrades(msgspec.Struct, frozen=True):
    """Churn risk of one model version against the labels of its window (``None``: undefined)."""

    n: int = 0
    positives: int = 0
    graded_total: int = 0  # graded since the start, the window's and older ones
    auc: float | None = None
    lift_top_decile: float | None = None  # churn rate of the top decile of scores / overall rate
    deciles: list[Decile] = []
    max_calibration_gap: float | None = None  # largest |mean score - churn rate| over deciles
    calibrated: bool | None = None  # None: fewer than min_calibration graded


class ValueGrades(msgspec.Struct, frozen=True):
    """Predicted against realised spend over the horizon (minor units) of one version."""

    n: int = 0
    predicted_minor: float = 0.0
    realised_minor: int = 0
    ratio: float | None = None  # realised / predicted sums
    mae_minor: float | None = None
    correlation: float | None = None  # Pearson, per prediction
    deciles: list[Decile] = []  # by decile of predicted value


class VersionGrades(msgspec.Struct, frozen=True):
    version: int
    churn: ChurnGrades = msgspec.field(default_factory=ChurnGrades)
    value: ValueGrades = msgspec.field(default_factory=ValueGrades)


class Grades(msgspec.Struct, frozen=True):
    """What :meth:`ChurnGrader.report` publishes: per model version, ascending."""

    as_of_us: int = 0
    horizon_days: float = 0.0
    pending: int = 0
    sample_rate: float = 1.0
    versions: list[VersionGrades] = []


class _Pending(msgspec.Struct, array_like=True, gc=False):
    customer_id: str
    t_us: int
    score: float
    version: int
    value: float | None = None  # predicted spend over the horizon, minor units
    realised_minor: int = 0
    active: bool = False


class _Window(msgspec.Struct, array_like=True):
    version: int
    graded_total: int
    scores: list[float]
    labels: list[int]
    predicted: list[float]
    realised: list[int]


class _State(msgspec.Struct):
    params: dict[str, float | int]
    clock_us: int
    rate: float
    pending: list[_Pending]
    windows: list[_Window]


def auc(labels: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve of ``scores`` for binary ``labels``, ties counted half
    (Mann-Whitney U); ``None`` without both labels.

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), auc([0, 1], [0.5, 0.5]), auc([1, 1], [0.2, 0.3])
    (0.75, 0.5, None)
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pos = int(y.sum())
    neg = len(y) - pos
    if not pos or not neg:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # mean 1-based rank of each tie group
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def deciles(predicted: ArrayLike, observed: ArrayLike) -> list[Decile]:
    """Mean prediction and mean outcome by decile of prediction; empty deciles left out.

    A prediction with ``k`` of the ``n`` predictions strictly below it falls in decile
    ``10 k // n``: without ties the ``i``-th smallest is in ``10 i // n``, and tied
    predictions stay together, in the decile of the lowest of them (``rank(method="min")``).

    >>> [(d.predicted, d.observed, d.n) for d in deciles([0.9, 0.1, 0.5] * 4, [1, 0, 1, 0] * 3)]
    [(0.1, 0.5, 4), (0.5, 0.5, 4), (0.9, 0.5, 4)]
    """
    p = np.asarray(predicted, dtype=np.float64)
    o = np.asarray(observed, dtype=np.float64)
    group = _decile_of(p)
    n = np.bincount(group, minlength=10)
    mean_p = np.bincount(group, weights=p, minlength=10) / np.maximum(n, 1)
    mean_o = np.bincount(group, weights=o, minlength=10) / np.maximum(n, 1)
    return [Decile(float(mean_p[i]), float(mean_o[i]), int(n[i])) for i in range(10) if n[i]]


def _decile_of(p: NDArray[np.float64]) -> NDArray[np.int64]:
    below = np.searchsorted(np.sort(p), p, side="left")
    group: NDArray[np.int64] = below * 10 // max(len(p), 1)
    return group


class _Accumulator:
    """The last ``window`` graded predictions of one version."""

    def __init__(self, window: int, graded_total: int = 0) -> None:
        self.graded_total = graded_total
        self.scores: collections.deque[float] = collections.deque(maxlen=window)
        self.labels: collections.deque[int] = collections.deque(maxlen=window)
        self.predicted: collections.deque[float] = collections.deque(maxlen=window)
        self.realised: collections.deque[int] = collections.deque(maxlen=window)


class ChurnGrader:
    """Grades churn risk (and value) per model version against what each customer did next.

    Parameters
    ----------
    horizon_days
        ``H``: a prediction at ``t`` is graded by the customer's events in ``(t, t + H]``.
    sample_every_days
        Smallest event-time gap between two pending predictions of one customer.
    max_pending
        Most pending predictions at once (the customers' sample rate halves to stay under).
    window
        Graded predictions kept per version: the report is over the last ``window``.
    max_versions
        Versions kept; the lowest version numbers are dropped first.
    tolerance
        Largest gap between a decile's mean score and its churn rate that is calibrated.
    min_calibration
        Fewer graded predictions than this: ``calibrated`` is ``None`` (too few to say).
    seed
        Key of the hash that samples customers.

    Examples
    --------
    >>> D = US_PER_DAY
    >>> rng = np.random.default_rng(7)
    >>> grader = ChurnGrader(horizon_days=30, min_calibration=1000, seed=7)
    >>> risk = rng.uniform(0, 1, 5000)
    >>> for i, r in enumerate(risk):              # a score at day 0, then silence or a use
    ...     _ = grader.record(f"c{i}", 0, float(r), version=3, expected_purchases=2.0,
    ...                       expected_spend_minor=1000.0)
    ...     if rng.uniform() > r:                 # the customer churns with probability r
    ...         grader.observe(f"c{i}", int(rng.uniform(1, 30) * D), spend_minor=1500)
    >>> grader.advance(31 * D)
    >>> g = grader.report().versions[0]          # AUC 5/6 and ratio 0.375 in expectation
    >>> g.version, g.churn.n, round(g.churn.auc, 2), g.churn.calibrated, round(g.value.ratio, 2)
    (3, 5000, 0.82, True, 0.39)
    """

    def __init__(
        self,
        horizon_days: float = 90.0,
        sample_every_days: float = 7.0,
        max_pending: int = 60_000,
        window: int = 20_000,
        max_versions: int = 10,
        tolerance: float = 0.1,
        min_calibration: int = 1000,
        seed: int = 0,
    ) -> None:
        if horizon_days <= 0 or sample_every_days < 0 or tolerance <= 0:
            raise ValueError("horizon_days and tolerance must be > 0, sample_every_days >= 0")
        if max_pending < 1 or window < 1 or max_versions < 1 or min_calibration < 0:
            raise ValueError("max_pending, window and max_versions must be >= 1, min_calibration >= 0")
        self.horizon_days = horizon_days
        self.sample_every_days = sample_every_days
        self.max_pending = max_pending
        self.window = window
        self.max_versions = max_versions
        self.tolerance = tolerance
        self.min_calibration = min_calibration
        self.seed = seed
        # learned state
        self._h_us = round(horizon_days * US_PER_DAY)
        self._gap_us = round(sample_every_days * US_PER_DAY)
        self._key = str(seed).encode()
        self._clock_us = -(2**62)
        self._rate = 1.0
        self._count = 0
        self._seq = 0
        # per pending prediction one heap entry and one slot in its customer's tuple: ~0.38 KB
        # each with the id (tracemalloc), so max_pending bounds the memory: ~23 MB at 60,000
        self._by_customer: dict[str, tuple[_Pending, ...]] = {}
        self._due: list[tuple[int, _Pending]] = []  # (t_us << _SEQ_BITS | seq, pending), a heap
        self._versions: dict[int, _Accumulator] = {}

    @property
    def pending(self) -> int:
        """Predictions waiting for their horizon to pass."""
        return self._count

    @property
    def sample_rate(self) -> float:
        """Share of customers whose predictions are kept."""
        return self._rate

    def _u(self, customer_id: str) -> float:
        digest = hashlib.blake2b(customer_id.encode(), digest_size=8, key=self._key).digest()
        return int.from_bytes(digest, "little") / 2.0**64

    def record(
        self,
        customer_id: str,
        t_us: int,
        score: float,
        version: int,
        expected_purchases: float | None = None,
        expected_spend_minor: float | None = None,
    ) -> bool:
        """A churn risk in [0, 1] given at event time ``t_us`` by model ``version`` (with the
        expected purchases in the horizon and spend per purchase, minor units, if known).

        Returns whether it is kept: not when the customer is outside the sample, has a
        pending prediction within ``sample_every_days``, or the horizon has already passed.
        """
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {score}")
        if t_us + self._h_us < self._clock_us or self._u(customer_id) >= self._rate:
            return False
        mine = self._by_customer.get(customer_id)
        if mine and any(abs(p.t_us - t_us) < self._gap_us for p in mine):
            return False
        while self._count >= self.max_pending and self._rate > _MIN_RATE:
            self._resample(self._rate / 2)
            if self._u(customer_id) >= self._rate:
                return False
        if self._count >= self.max_pending:
            return False
        value = None
        if expected_purchases is not None and expected_spend_minor is not None:
            value = float(expected_purchases) * float(expected_spend_minor)
        p = _Pending(customer_id, int(t_us), float(score), int(version), value)
        self._by_customer[customer_id] = (*mine, p) if mine else (p,)
        self._push(p)
        self._count += 1
        return True

    def observe(self, customer_id: str, t_us: int, spend_minor: int = 0, active: bool = True) -> None:
        """An event of the customer at ``t_us``: a purchase or a use (``active``), and its
        spend; it grades the pending predictions ``t`` with ``t < t_us <= t + H``."""
        mine = self._by_customer.get(customer_id)
        if not mine:
            return
        for p in mine:
            if p.t_us < t_us <= p.t_us + self._h_us:
                p.active = p.active or active
                p.realised_minor += spend_minor

    def advance(self, now_us: int) -> None:
        """Move the stream clock to ``now_us`` (never back) and grade every prediction
        whose window ``(t, t + H]`` has passed (``t + H < now``)."""
        self._clock_us = max(self._clock_us, now_us)
        while self._due and (self._due[0][0] >> _SEQ_BITS) + self._h_us < self._clock_us:
            _, p = heapq.heappop(self._due)
            rest = tuple(q for q in self._by_customer[p.customer_id] if q is not p)
            if rest:
                self._by_customer[p.customer_id] = rest
            else:
                del self._by_customer[p.customer_id]
            self._count -= 1
            self._grade(p)
        if self._count < self.max_pending // 4 and self._rate < 1.0:
            self._rate = min(1.0, self._rate * 2)  # room again: take more customers

    def _push(self, p: _Pending) -> None:
        self._seq += 1
        heapq.heappush(self._due, (p.t_us << _SEQ_BITS | self._seq, p))

    def _resample(self, rate: float) -> None:
        self._rate = rate
        keep = {c for c in self._by_customer if self._u(c) < rate}
        self._by_customer = {c: ps for c, ps in self._by_customer.items() if c in keep}
        entries = [p for _, p in sorted(self._due) if p.customer_id in keep]
        self._due = []
        for p in entries:
            self._push(p)
        self._count = len(entries)

    def _grade(self, p: _Pending) -> None:
        acc = self._versions.get(p.version)
        if acc is None:
            acc = self._versions[p.version] = _Accumulator(self.window)
            if len(self._versions) > self.max_versions:
                del self._versions[min(self._versions)]
                if p.version not in self._versions:
                    return
        acc.graded_total += 1
        acc.scores.append(p.score)
        acc.labels.append(0 if p.active else 1)
        if p.value is not None:
            acc.predicted.append(p.value)
            acc.realised.append(p.realised_minor)

    def report(self) -> Grades:
        """The grades of every version kept, over each one's window."""
        versions = [self._grades(v, acc) for v, acc in sorted(self._versions.items())]
        as_of = max(self._clock_us, 0)
        return Grades(as_of, self.horizon_days, self._count, self._rate, versions)

    def _grades(self, version: int, acc: _Accumulator) -> VersionGrades:
        s = np.fromiter(acc.scores, dtype=np.float64, count=len(acc.scores))
        y = np.fromiter(acc.labels, dtype=np.float64, count=len(acc.labels))
        churn = ChurnGrades(graded_total=acc.graded_total)
        if len(s):
            table = deciles(s, y)
            gap = max(abs(d.predicted - d.observed) for d in table)
            rate = float(y.mean())
            top = _decile_of(s) == 9
            churn = ChurnGrades(
                n=len(s),
                positives=int(y.sum()),
                graded_total=acc.graded_total,
                auc=auc(y, s),
                lift_top_decile=float(y[top].mean()) / rate if rate and top.any() else None,
                deciles=table,
                max_calibration_gap=gap,
                calibrated=gap <= self.tolerance if len(s) >= self.min_calibration else None,
            )
        value = ValueGrades()
        if acc.predicted:
            pv = np.fromiter(acc.predicted, dtype=np.float64, count=len(acc.predicted))
            rv = np.fromiter(acc.realised, dtype=np.float64, count=len(acc.realised))
            total = float(pv.sum())
            corr = float(np.corrcoef(pv, rv)[0, 1]) if len(pv) > 1 and pv.std() > 0 and rv.std() > 0 else None
            value = ValueGrades(
                n=len(pv),
                predicted_minor=total,
                realised_minor=int(sum(acc.realised)),
                ratio=float(rv.sum()) / total if total > 0 else None,
                mae_minor=float(np.abs(pv - rv).mean()),
                correlation=corr,
                deciles=deciles(pv, rv),
            )
        return VersionGrades(version, churn, value)

    def to_bytes(self) -> bytes:
        """The parameters and the whole state, msgpack; see :meth:`from_bytes`."""
        params = {k: getattr(self, k) for k in _PARAMS}
        pending = [p for _, p in sorted(self._due)]  # in the order they will be graded
        windows = [
            _Window(v, a.graded_total, list(a.scores), list(a.labels), list(a.predicted), list(a.realised))
            for v, a in sorted(self._versions.items())
        ]
        return msgspec.msgpack.encode(_State(params, self._clock_us, self._rate, pending, windows))

    @classmethod
    def from_bytes(cls, data: bytes) -> ChurnGrader:
        """A grader with the parameters and state of :meth:`to_bytes`."""
        state = msgspec.msgpack.decode(data, type=_State)
        grader = cls(**{k: state.params[k] for k in _PARAMS})  # type: ignore[arg-type]
        grader._clock_us = state.clock_us
        grader._rate = state.rate
        for p in state.pending:
            grader._by_customer[p.customer_id] = (*grader._by_customer.get(p.customer_id, ()), p)
            grader._push(p)
            grader._count += 1
        for w in state.windows:
            acc = grader._versions[w.version] = _Accumulator(grader.window, w.graded_total)
            acc.scores.extend(w.scores)
            acc.labels.extend(w.labels)
            acc.predicted.extend(w.predicted)
            acc.realised.extend(w.realised)
        return grader


_PARAMS: Final = tuple(inspect.signature(ChurnGrader).parameters)  # stored as given, River style
