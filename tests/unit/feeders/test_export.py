"""`segstream export`: fields from hand-built customers, the writers read back, interruption,
the command's errors, and memory that stays flat (a fake store: the real Redis is in
tests/integration/test_export.py)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segstream.cli import cli
from segstream.feeders.export import (
    BUILT_IN_DIMENSIONS,
    DEFAULT_FIELDS,
    ExportError,
    Extractor,
    Field,
    Summary,
    catalogue,
    members,
    pump,
    select_fields,
)
from segstream.feeders.export_writers import Output, output_format
from segstream.models.decay import US_PER_DAY
from segstream.models.profile import ProfileState
from segstream.models.rfm import PurchaseSummary
from segstream.models.satisfaction import FeedbackState
from segstream.models.usage import UsageState
from segstream.scoring.models import Models
from segstream.state import keys as K
from segstream.state.customer import CustomerState, Outlook, pack
from segstream.state.store import Store
from segstream.streams.codec import to_us

T0 = datetime(2024, 1, 1, tzinfo=UTC)
D = US_PER_DAY
NOW = to_us(T0) + 100 * D  # the stream clock: 2024-04-10


def at(day: float) -> int:
    return to_us(T0) + int(day * D)


def full_state() -> CustomerState:
    """A customer with every part of the document set."""
    return CustomerState(
        first_us=at(0),
        last_us=at(95),
        purchases=PurchaseSummary(at(10), at(90), 3, 12_345, 3, 1000),
        usage=UsageState(1.0, 2.0, at(95), at(95), 7, 0b1011),
        feedback=FeedbackState(0.8, 1.0, 0.6, 1.0, at(80), 9, at(80), 2, 1, at(70), 'slow, "late"\nand rude'),
        profile=ProfileState(
            updated_us=at(0),
            signup_us=at(0),
            industry="retail",
            city="上海",
            city_tier=1,
            contract=True,
            partner=False,
            renewal_us=at(365),
        ),
        rfm_score=345,
        segments={"rfm": "loyal", "lifecycle": "active", "value": "high", "churn_risk": "normal"},
        outlook=Outlook(3, 9000, 1500, 4000, 50_000, 1200, False, at(50), [2500, 6000, 0, 1500, 0]),
    )


def bare_state() -> CustomerState:
    """Only a segment: every optional part missing."""
    return CustomerState(first_us=at(1), last_us=at(1), segments={"rfm": "new"})


def extract(spec: str, state: CustomerState, dimension: str = "rfm", language: str = "en") -> dict[str, Any]:
    fields = select_fields(spec, catalogue(BUILT_IN_DIMENSIONS), dimension)
    row = Extractor(fields, Models(), language, NOW).row("c1", state)
    return dict(zip([f.name for f in fields], row, strict=True))


# ---------------------------------------------------------------- fields


def test_default_fields_of_a_full_customer_are_computed_by_hand() -> None:
    got = extract(DEFAULT_FIELDS, full_state())
    assert got == {
        "customer_id": "c1",
        "segments.rfm.code": "loyal",
        "segments.rfm.name": "Loyal",
        "rfm_score.r": 3,
        "rfm_score.f": 4,
        "rfm_score.m": 5,
        "purchases.count": 3,
        "purchases.spend": 123.45,  # 12,345 minor units
        "purchases.last": "2024-03-31T00:00:00+00:00",  # day 90
        "value.p_alive": 0.9,  # 9,000 bp
        "value.clv": 500.0,  # 50,000 minor units
        "churn_risk.score": 0.12,  # 1,200 bp
        "churn_risk.level": "normal",
    }


def test_every_section_of_a_full_customer() -> None:
    got = extract("all", full_state(), language="zh-CN")
    expected = {
        "as_of": "2024-04-10T00:00:00+00:00",
        "segments.lifecycle.name": "活跃客户",
        "segments.value.code": "high",
        "segments.cluster.code": None,  # not in that dimension
        "first_event": "2024-01-01T00:00:00+00:00",
        "purchases.first": "2024-01-11T00:00:00+00:00",
        "purchases.recency_days": 10.0,  # day 100 - day 90
        "usage.events": 7,
        "usage.distinct_features": 3,  # bits of 0b1011
        "usage.days_since_last": 5.0,
        "usage.last": "2024-04-05T00:00:00+00:00",
        "satisfaction.level": 0.6,  # 0.6 / 1.0, long horizon
        "satisfaction.nps_class": "promoter",  # NPS 9
        "satisfaction.open_complaints": 1,  # 2 opened, 1 resolved
        "satisfaction.days_since_complaint": 30.0,  # day 100 - day 70
        "satisfaction.last_complaint_text": 'slow, "late"\nand rude',
        "profile.industry": "retail",
        "profile.city": "上海",
        "profile.city_tier": 1,
        "profile.contract": True,
        "profile.partner": False,
        "profile.gender": None,
        "profile.signup": "2024-01-01T00:00:00+00:00",
        "profile.tenure_days": 100.0,
        "profile.contract_end": "2024-12-31T00:00:00+00:00",  # day 365 of a leap year
        "churn_risk.since": "2024-02-20T00:00:00+00:00",  # day 50
        "churn_risk.drivers": "usage_decline;purchase_lapse;complaints",  # 6,000 > 2,500 > 1,500 bp; zeros left out
        "value.expected_purchases": 1.5,  # 1,500 milli
        "value.expected_spend_per_purchase": 40.0,
        "value.horizon_days": 90.0,  # Models() defaults
        "value.clv_months": 12,
        "value.tier": "high",
        "value.contribution": None,  # no value snapshot: no revenue to share
        "value.model_version": 3,
    }
    assert {k: got[k] for k in expected} == expected
    assert got["satisfaction.trend"] == pytest.approx(0.2)  # 0.8 short - 0.6 long


def test_a_customer_without_purchases_or_scores_has_empty_fields() -> None:
    got = extract("id,segment,rfm,purchases,value.clv,churn,profile.city", bare_state())
    assert got["customer_id"] == "c1" and got["segments.rfm.code"] == "new"
    assert all(v is None for k, v in got.items() if k not in ("customer_id", "segments.rfm.code", "segments.rfm.name"))


def test_the_catalogue_is_every_leaf_of_the_http_document() -> None:
    from segstream.scoring.document import customer_document

    def leaves(doc: dict[str, Any], head: str = "") -> Iterator[str]:
        for k, v in doc.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{head}{k}.")
            else:
                yield head + k

    st = full_state()
    doc = customer_document("c1", st, NOW, Models(), "en")
    unset = ("kind", "name", "company_size", "region", "ownership", "age_band", "gender", "income_band")
    doc["profile"] |= dict.fromkeys(unset, "x")  # the attributes full_state leaves out
    dims = list(st.segments)
    assert set(leaves(doc)) == {f.name for f in catalogue(dims)}


def test_select_fields_aliases_groups_and_order() -> None:
    fields = catalogue(["rfm", "lifecycle"])
    names = [f.name for f in select_fields("id, clv ,purchases,id,segments.lifecycle", fields, "rfm")]
    assert names == ["customer_id", "value.clv", "purchases.count", "purchases.spend", "purchases.first",
                     "purchases.last", "purchases.recency_days", "purchases.discount_share",
                     "purchases.discount_spend_share", "purchases.discount_depth", "purchases.channel",
                     "purchases.channel_share", "purchases.categories", "purchases.top_category",
                     "segments.lifecycle.code", "segments.lifecycle.name"]  # fmt: skip
    assert [f.name for f in select_fields("segment", fields, "lifecycle")] == [
        "segments.lifecycle.code",
        "segments.lifecycle.name",
    ]
    assert len(select_fields("all", fields, "rfm")) == len(fields)


@pytest.mark.parametrize(("spec", "message"), [("id,nope", "unknown field 'nope'"), (" , ", "names no field"),
                                               ("purch", "unknown field 'purch'")])  # fmt: skip
def test_select_fields_refuses_unknown_names(spec: str, message: str) -> None:
    with pytest.raises(ExportError, match=message) as err:
        select_fields(spec, catalogue(["rfm"]), "rfm")
    assert err.value.code == 2


def test_output_format() -> None:
    assert output_format("a.CSV", None) == "csv"
    assert output_format("a.ndjson", None) == "jsonl"
    assert output_format("a.pq", None) == "parquet"
    assert output_format("a.csv", "parquet") == "parquet"  # --format wins
    for out, fmt in (("a.txt", None), ("a.csv", "xlsx")):
        with pytest.raises(ExportError) as err:
            output_format(out, fmt)
        assert err.value.code == 2


# ---------------------------------------------------------------- writers

ROWS_FIELDS = [
    Field("customer_id", ("customer_id",), "str", ""),
    Field("n", ("n",), "int", ""),
    Field("x", ("x",), "float", ""),
    Field("ok", ("ok",), "bool", ""),
    Field("t", ("t",), "time", ""),
]
ROWS: list[list[Any]] = [
    ["c1", 3, 1.5, True, "2024-01-01T00:00:00+00:00"],
    ['c,2 "quoted"\nline', None, None, False, None],
    ["客户3", -7, 100, None, "2024-03-31T12:30:00.000001+00:00"],
]


def write(tmp_path: Path, fmt: str, rows: list[list[Any]], row_group: int = 2) -> Path:
    out = Output(str(tmp_path / f"out.{fmt}"), fmt, ROWS_FIELDS, row_group)
    out.open()
    for r in rows:
        out.write([r])
    assert out.partial is not None and out.partial.exists() and out.path is not None and not out.path.exists()
    assert out.finish() == out.path.stat().st_size
    assert not out.partial.exists()
    return out.path


def test_csv_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "csv", ROWS)
    with path.open(newline="", encoding="utf-8") as fh:
        back = list(csv.reader(fh))
    assert back == [[f.name for f in ROWS_FIELDS], ["c1", "3", "1.5", "true", "2024-01-01T00:00:00+00:00"],
                    ['c,2 "quoted"\nline', "", "", "false", ""],
                    ["客户3", "-7", "100", "", "2024-03-31T12:30:00.000001+00:00"]]  # fmt: skip
    df = pd.read_csv(path, dtype={"customer_id": str})
    assert df["customer_id"].tolist() == [r[0] for r in ROWS]
    assert df["n"].isna().tolist() == [False, True, False]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "jsonl", ROWS)
    back = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert back == [dict(zip([f.name for f in ROWS_FIELDS], r, strict=True)) for r in ROWS]


def test_parquet_round_trip_with_types_and_row_groups(tmp_path: Path) -> None:
    rows = ROWS * 3  # 9 rows, 2 a row group: 5 row groups
    path = write(tmp_path, "parquet", rows, row_group=2)
    f = pq.ParquetFile(path)
    assert f.metadata.num_rows == 9 and f.metadata.num_row_groups == 5
    assert f.schema_arrow == pa.schema([("customer_id", pa.string()), ("n", pa.int64()), ("x", pa.float64()),
                                        ("ok", pa.bool_()), ("t", pa.timestamp("us", tz="UTC"))])  # fmt: skip
    back = f.read().to_pylist()
    assert back[0] == {"customer_id": "c1", "n": 3, "x": 1.5, "ok": True, "t": datetime(2024, 1, 1, tzinfo=UTC)}
    assert back[1] == {"customer_id": 'c,2 "quoted"\nline', "n": None, "x": None, "ok": False, "t": None}
    assert back[2]["t"] == datetime(2024, 3, 31, 12, 30, 0, 1, tzinfo=UTC) and back[2]["x"] == 100.0


def test_abort_leaves_the_partial_file_readable(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        out = Output(str(tmp_path / f"out.{fmt}"), fmt, ROWS_FIELDS, row_group=2)
        out.open()
        out.write(ROWS)
        out.abort()
        assert out.path is not None and not out.path.exists()
        assert out.partial is not None
        n = pq.ParquetFile(out.partial).metadata.num_rows if fmt == "parquet" else len(pd.read_csv(out.partial))
        assert n == 3


def test_output_refuses_parquet_on_stdout_and_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="standard output"):
        Output("-", "parquet", ROWS_FIELDS)
    with pytest.raises(ExportError, match="no directory"):
        Output(str(tmp_path / "nope" / "a.csv"), "csv", ROWS_FIELDS)


# ---------------------------------------------------------------- pipeline and memory


def synthetic(i: int) -> CustomerState:
    """Customer i: in rfm segment champions iff i % 5 == 0 (else loyal); in value iff i % 2 == 0."""
    segs = {"rfm": "champions" if i % 5 == 0 else "loyal"} | ({"value": "high"} if i % 2 == 0 else {})
    return CustomerState(
        first_us=at(i % 300),
        last_us=at(i % 300 + 5),
        purchases=PurchaseSummary(at(i % 300), at(i % 300 + 5), 1 + i % 7, 1000 + i, 1, 1000),
        rfm_score=111 * (1 + i % 5),
        segments=segs,
        outlook=Outlook(1, 9000, 1500, 4000, 50_000 + i, 1200, False, 0, [6000, 4000, 0, 0, 0]),
    )


async def pages(n: int, page: int = 1000) -> AsyncIterator[dict[str, CustomerState]]:
    """n synthetic customers, made a page at a time (never all at once)."""
    for start in range(0, n, page):
        yield {f"c{i:07d}": synthetic(i) for i in range(start, min(n, start + page))}


def seen_by(seen: list[int]) -> Any:
    return lambda s: seen.append(s.scanned)


async def test_pump_filters_a_segment_and_a_dimension(tmp_path: Path) -> None:
    fields = select_fields("id,segment,purchases.count", catalogue(BUILT_IN_DIMENSIONS), "rfm")
    ex = Extractor(fields, Models(), "en", NOW)
    for segment, dim, expected in (("champions", "rfm", 200), (None, "rfm", 1000), (None, "value", 500)):
        out = Output(str(tmp_path / "m.jsonl"), "jsonl", fields)
        out.open()
        seen: list[int] = []
        s = await pump(pages(1000, 300), members(dim, segment), ex.row, out, Summary(), tick=seen_by(seen))
        out.finish()
        assert (s.scanned, s.rows) == (1000, expected)
        assert seen == [300, 600, 900, 1000]
        ids = [json.loads(line)["customer_id"] for line in (tmp_path / "m.jsonl").read_text().splitlines()]
        want = [f"c{i:07d}" for i in range(1000) if members(dim, segment)(synthetic(i))]
        assert ids == want


def test_memory_stays_flat_over_100k_customers(tmp_path: Path) -> None:
    """100,000 customers through extraction and the CSV writer: the Python objects alive
    (sys.getallocatedblocks, cheap enough to read after every page) do not grow with the
    customers done. Holding the rows would add at least one block per row (the row's list),
    100,000 in all; a page is 1,000 customers, so the bound below is 10 pages' worth."""
    fields = select_fields(DEFAULT_FIELDS, catalogue(BUILT_IN_DIMENSIONS), "rfm")
    ex = Extractor(fields, Models(), "en", NOW)
    out = Output(str(tmp_path / "all.csv"), "csv", fields)
    blocks: list[int] = []
    out.open()
    s = asyncio.run(pump(pages(100_000), members("rfm", None), ex.row, out, Summary(),
                         lambda _: blocks.append(sys.getallocatedblocks())))  # fmt: skip
    out.finish()
    assert s.rows == s.scanned == 100_000
    with (tmp_path / "all.csv").open(newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == 100_001
    baseline = blocks[9]  # after 10 pages: caches warm
    assert max(blocks[10:]) - baseline < 10_000, (baseline, max(blocks[10:]))


def test_tracemalloc_peak_is_a_small_fraction_of_the_rows(tmp_path: Path) -> None:
    """Every field to Parquet (row groups of 2,000): the traced peak is under a quarter of
    what the rows alone would take if held (measured on 1,000 of them, times 20), and
    Arrow's own memory (not traced) stays under one row group's worth."""
    n = 20_000
    fields = select_fields("all", catalogue(BUILT_IN_DIMENSIONS), "rfm")
    ex = Extractor(fields, Models(), "en", NOW)
    tracemalloc.start()
    try:
        held = [ex.row(f"c{i}", synthetic(i)) for i in range(1000)]
        rows_bytes = tracemalloc.get_traced_memory()[0] * n // 1000
        del held
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        arrow: list[int] = []
        out = Output(str(tmp_path / "all.parquet"), "parquet", fields, row_group=2000)
        out.open()
        s = asyncio.run(pump(pages(n), members("rfm", None), ex.row, out, Summary(),
                             lambda _: arrow.append(pa.total_allocated_bytes())))  # fmt: skip
        out.finish()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert s.rows == pq.ParquetFile(tmp_path / "all.parquet").metadata.num_rows == n
    assert peak < rows_bytes / 4, (peak, rows_bytes)
    assert max(arrow) < 16 * 1024 * 1024, max(arrow)


# ---------------------------------------------------------------- Store.walk (a fake Redis)


class FakeRedis:
    """SCAN (a few keys a call, like Redis's COUNT hint) and pipelined MGET over a dict."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data, self.scans = data, 0

    async def scan(self, cursor: int, match: str, count: int) -> tuple[int, list[bytes]]:
        self.scans += 1
        keys = sorted(self.data)[cursor : cursor + count]
        return (0 if cursor + count >= len(self.data) else cursor + count), keys

    def pipeline(self, transaction: bool) -> FakeRedis.Pipe:
        return FakeRedis.Pipe(self.data)

    class Pipe:
        def __init__(self, data: dict[bytes, bytes]) -> None:
            self.data = data
            self.calls: list[tuple[bytes, ...]] = []

        def execute_command(self, name: str, *keys: bytes) -> None:
            self.calls.append(keys)

        async def execute(self) -> list[list[bytes | None]]:
            return [[self.data.get(k) for k in keys] for keys in self.calls]


async def test_store_walk_yields_every_customer_a_page_at_a_time() -> None:
    keys = K.Keys("t", 4)
    data = {keys.customer(f"c{i}").encode(): pack(1, synthetic(i)) for i in range(2500)}
    store = Store(FakeRedis(data), "t", 4)  # type: ignore[arg-type]
    sizes, seen = [], {}
    async for page in store.walk(1000):
        sizes.append(len(page))
        seen.update(page)
    assert sizes == [1000, 1000, 500]
    assert seen == {f"c{i}": synthetic(i) for i in range(2500)}
    assert await store.scan_customers(700) == seen


# ---------------------------------------------------------------- the command (a fake store)


class FakeStore:
    """What the command asks of a Store; ``interrupt_after``: raise KeyboardInterrupt after that many pages."""

    n = 3000
    interrupt_after: int | None = None

    async def segment_counts(self) -> dict[str, dict[str, int]]:
        return {"rfm": {"champions": self.n // 5, "loyal": self.n - self.n // 5}, "value": {"high": self.n // 2}}

    async def get_snapshot(self, name: str) -> bytes | None:
        return None

    async def clock(self) -> dict[str, int]:
        return {"global": NOW}

    async def stats(self) -> dict[str, int]:
        return {"customers": self.n}

    async def walk(self, count: int) -> AsyncIterator[dict[str, CustomerState]]:
        done = 0
        async for page in pages(self.n, count):
            if done == self.interrupt_after:
                raise KeyboardInterrupt
            yield page
            done += 1

    async def close(self) -> None:
        pass


@pytest.fixture
def fake_store(monkeypatch: pytest.MonkeyPatch) -> type[FakeStore]:
    class Fake(FakeStore):
        pass

    monkeypatch.setattr(Store, "from_settings", classmethod(lambda cls, settings: Fake()))
    return Fake


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["export", "--no-progress", *args])


def test_cli_exports_a_segment_to_csv(tmp_path: Path, fake_store: type[FakeStore]) -> None:
    out = tmp_path / "champions.csv"
    res = invoke("-d", "rfm", "-s", "champions", "-o", str(out), "-f", "id,segment,clv")
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert df.columns.tolist() == ["customer_id", "segments.rfm.code", "segments.rfm.name", "value.clv"]
    assert df["customer_id"].tolist() == [f"c{i:07d}" for i in range(0, 3000, 5)]
    assert df["value.clv"].tolist() == [(50_000 + i) / 100 for i in range(0, 3000, 5)]
    assert set(df["segments.rfm.name"]) == {"Champions"}
    assert not out.with_name("champions.csv.partial").exists()
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith(f"exported 600 rows (segment champions of rfm, 4 fields, csv) to {out} (")
    assert lines[1].startswith("scanned 3,000 customers in ")


def test_cli_exports_a_dimension_to_parquet_and_jsonl_on_stdout(tmp_path: Path, fake_store: type[FakeStore]) -> None:
    out = tmp_path / "value.parquet"
    res = invoke("-d", "value", "-o", str(out), "--language", "zh-CN")
    assert res.exit_code == 0, res.output
    t = pq.read_table(out)
    assert t.num_rows == 1500 and t.column("segments.value.name").to_pylist() == ["高价值"] * 1500
    res = invoke("-d", "rfm", "-s", "champions", "-o", "-", "--format", "jsonl", "-f", "id")
    assert res.exit_code == 0, res.output
    assert [json.loads(line) for line in res.stdout.splitlines()] == [{"customer_id": f"c{i:07d}"}
                                                                       for i in range(0, 3000, 5)]  # fmt: skip
    assert "exported 600 rows" in res.stderr  # the summary goes to stderr when the rows go to stdout


def test_cli_known_but_empty_segment_exports_a_header_only(tmp_path: Path, fake_store: type[FakeStore]) -> None:
    out = tmp_path / "lost.csv"
    res = invoke("-d", "rfm", "-s", "lost", "-o", str(out), "-f", "id")
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == b"customer_id\r\n"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_interrupted_keeps_the_partial_file_and_exits_130(
    fmt: str, tmp_path: Path, fake_store: type[FakeStore]
) -> None:
    fake_store.interrupt_after = 2  # pages of 1,000: 2,000 scanned, 400 champions
    out = tmp_path / f"champions.{fmt}"
    res = invoke("-d", "rfm", "-s", "champions", "-o", str(out), "-f", "id")
    assert res.exit_code == 130
    assert res.output.strip() == f"segstream: interrupted: 400 rows written to {out}.partial, {out} not written"
    assert not out.exists()
    partial = Path(f"{out}.partial")
    n = pq.ParquetFile(partial).metadata.num_rows if fmt == "parquet" else len(pd.read_csv(partial))
    assert n == 400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "rfm", "-o", "x.csv", "-f", "id,bogus"], "unknown field 'bogus'"),
        (["-d", "rfm", "-o", "x.csv", "--format", "xlsx"], "unknown --format 'xlsx'"),
        (["-d", "rfm", "-o", "x.txt"], "cannot tell the format of x.txt"),
        (["-d", "rfm", "-o", "-", "--format", "parquet"], "Parquet cannot go to standard output"),
        (["-d", "rfm", "-o", "x.csv", "--language", "fr"], "unknown --language 'fr'"),
        (["-o", "x.csv"], "--dimension is required"),
        (["-d", "rfm"], "--out is required"),
        (["-d", "rfm", "-o", "/nonexistent/dir/x.csv"], "no directory /nonexistent/dir"),
        (["-d", "colour", "-o", "x.csv"], "no dimension 'colour'"),
        (["-d", "rfm", "-s", "champs", "-o", "x.csv"], "no segment 'champs' in rfm (segments: champions, loyal)"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, fake_store: type[FakeStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    out = res.output.strip()
    assert out.count("\n") == 0 and out.startswith("segstream: ") and message in out, out
    assert os.listdir(tmp_path) == []  # nothing written, not even a partial file


def test_cli_missing_redis_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSTREAM_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    res = invoke("-d", "rfm", "-o", str(tmp_path / "x.csv"))
    assert res.exit_code == 1
    out = res.output.strip()
    assert out.count("\n") == 0 and out.startswith("segstream: Redis error: "), out
    assert os.listdir(tmp_path) == []


def test_cli_list_fields_needs_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSTREAM_REDIS_URL", "redis://127.0.0.1:1/0")
    res = CliRunner().invoke(cli, ["export", "--list-fields"])
    assert res.exit_code == 0, res.output
    names = [line.split()[0] for line in res.stdout.splitlines() if line[:1].strip() and "  " in line]
    assert {"customer_id", "segments.rfm.name", "value.clv", "profile.city_tier"} <= set(names)
    assert "default: " + DEFAULT_FIELDS in res.stdout


SLOW_EXPORT = textwrap.dedent(
    """
    import asyncio, sys
    from segstream.cli import main
    from segstream.state.store import Store
    sys.path.insert(0, {tests!r})
    from tests.unit.feeders.test_export import FakeStore

    class Slow(FakeStore):
        n = 1_000_000

        async def walk(self, count):
            async for page in super().walk(count):
                yield page
                print("page", flush=True, file=sys.stderr)
                await asyncio.sleep(0.05)

    Store.from_settings = classmethod(lambda cls, settings: Slow())
    sys.argv = ["segstream", "export", "--no-progress", "-d", "rfm", "-f", "id", "-o", {out!r}]
    main()
    """
)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_a_real_process_exits_130_without_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    root = Path(__file__).resolve().parents[3]
    script = SLOW_EXPORT.format(tests=str(root), out=str(out))
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    # SIGINT as a terminal gives it: a shell that started this run in the background (no job
    # control) leaves it ignored, and an ignored signal stays ignored through exec
    with subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=env,
                          cwd=tmp_path, preexec_fn=default_sigint) as proc:  # fmt: skip
        assert proc.stderr is not None
        for _ in range(3):  # three pages written
            assert proc.stderr.readline() == "page\n"
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == 130
    assert "Traceback" not in err
    line = err.replace("page\n", "").strip()
    assert line.startswith("segstream: interrupted: ") and line.endswith(f"{out}.partial, {out} not written"), err
    rows = int(line.split("interrupted: ")[1].split(" rows")[0].replace(",", ""))
    assert rows >= 3000 and not out.exists()
    with open(f"{out}.partial", newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == rows + 1
