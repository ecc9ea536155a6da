"""The public CDNOW purchase data (shared/data/cdnow) as purchase events.

Two layouts: the master file (header, ``customer_id date number_of_cds dollar_value``)
and the 1/10 sample (no header, ``master_id sample_id date number_of_cds dollar_value``).
Events come out in event-time order (stable within a day), as they would have arrived live.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from segstream.streams.schemas import Purchase


def read_cdnow(path: str | Path) -> pd.DataFrame:
    """Columns ``customer_id`` (str), ``date`` (UTC midnight), ``cds``, ``amount``, ``line``."""
    path = Path(path)
    with path.open() as fh:
        first = fh.readline().split()
    if not first:
        raise ValueError(f"{path} is empty")
    if first[0] == "customer_id":
        df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
        df = df.rename(columns={"number_of_cds": "cds", "dollar_value": "amount"})
    elif len(first) == 5:
        df = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            names=["customer_id", "sample_id", "date", "cds", "amount"],
            dtype={"customer_id": str, "sample_id": str, "date": str},
        )
    else:
        raise ValueError(f"{path}: not a CDNOW master or sample file (first line {' '.join(first)!r})")
    df["line"] = range(len(df))
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d", utc=True)
    return df[["customer_id", "date", "cds", "amount", "line"]]


def cdnow_events(df: pd.DataFrame, source: str = "cdnow") -> Iterator[Purchase]:
    """Purchases in event-time order; ``event_id`` is the file line, so it is stable."""
    ordered = df.sort_values("date", kind="stable")
    for cid, ts, cds, amount, line in zip(
        ordered["customer_id"], ordered["date"], ordered["cds"], ordered["amount"], ordered["line"], strict=True
    ):
        yield Purchase(
            event_id=f"{source}-{line}",
            customer_id=str(cid),
            ts=datetime.fromtimestamp(ts.timestamp(), UTC),
            amount=float(amount),
            items=int(cds),
        )
