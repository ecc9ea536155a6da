"""`segstream import`: the shipped samples, the report, dry runs, resuming, formats and the CLI
(with a fake sink: the real Kafka and worker are in tests/integration/test_import.py)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from segstream.cli import cli
from segstream.feeders import importer
from segstream.feeders.importer import ImportFailure, Summary, checkpoint_path, run_import, shipped_mappings
from segstream.feeders.mapping import Mapping, load_mapping, parse_mapping
from segstream.streams.codec import EventCodec
from segstream.streams.schemas import Profile

NOW = datetime(2025, 1, 1, tzinfo=UTC)
SAMPLES = Path(importer.__file__).with_name("samples")
CURRENCY = {"online-retail-ii": "GBP", "fxiaoke-sales-orders": "CNY"}  # the rest: USD

# Counted by hand from the sample files (rows, skipped, rejected; docs/IMPORT.md lists the bad rows)
EXPECTED = {
    "online-retail-ii": (66, 3, 4),
    "zoho-sales-orders": (30, 2, 4),
    "zoho-accounts": (14, 0, 0),
    "fxiaoke-sales-orders": (36, 2, 2),
    "fxiaoke-accounts": (12, 0, 0),
}


class FakeSink:
    """Records what is sent; ``fail_on_flush`` (1-based) makes that flush lose its pending events."""

    def __init__(self, fail_on_flush: int | None = None) -> None:
        self.pending: list[tuple[bytes, bytes]] = []
        self.acked: list[tuple[bytes, bytes]] = []
        self.flushes = 0
        self.fail_on_flush = fail_on_flush

    def send(self, key: bytes, value: bytes) -> None:
        self.pending.append((key, value))

    def flush(self) -> None:
        self.flushes += 1
        if self.flushes == self.fail_on_flush:
            self.pending.clear()
            raise ImportFailure("Kafka did not acknowledge 10 event(s): boom")
        self.acked += self.pending
        self.pending.clear()


def mapping(name: str) -> Mapping:
    return load_mapping(shipped_mappings()[name])


def run(name: str, tmp_path: Path, sink: FakeSink | None = None, **kw: Any) -> tuple[Summary, Path]:
    m = mapping(name)
    assert m.sample is not None
    codec = EventCodec(m.topic, currency=CURRENCY.get(name, "USD"))
    report = tmp_path / f"{name}.report.csv"
    s = run_import(SAMPLES / m.sample, m, codec, sink, report, now=NOW, topic=m.topic, **kw)
    return s, report


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_shipped_mapping_has_its_sample() -> None:
    assert set(shipped_mappings()) == set(EXPECTED)
    for name in EXPECTED:
        m = mapping(name)
        assert m.sample is not None and (SAMPLES / m.sample).is_file()
        assert 10 <= len((SAMPLES / m.sample).read_text(encoding="utf-8-sig").splitlines()) - 1 <= 200


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_converts_with_the_expected_counts(name: str, tmp_path: Path) -> None:
    sink = FakeSink()
    s, report = run(name, tmp_path, sink)
    rows, skipped, rejected = EXPECTED[name]
    assert (s.read, s.skipped, s.rejected, s.sent) == (rows, skipped, rejected, rows - skipped - rejected)
    assert len(sink.acked) == s.sent and not sink.pending
    lines = report_rows(report)
    assert len(lines) == skipped + rejected
    assert sum(r["status"] == "skipped" for r in lines) == skipped
    ids = [json.loads(v)["event_id"] for _, v in sink.acked]
    assert len(set(ids)) == len(ids)  # an exact duplicate line (Online Retail) still gets its own id


def test_online_retail_events_match_pandas(tmp_path: Path) -> None:
    sink = FakeSink()
    run("online-retail-ii", tmp_path, sink)
    df = pd.read_csv(SAMPLES / "online_retail_ii.csv", dtype=str)
    ts = pd.to_datetime(df["InvoiceDate"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    cents = (pd.to_numeric(df["Price"]) * pd.to_numeric(df["Quantity"]) * 100).round().astype("int64")
    keep = ~df["Invoice"].str.startswith("C") & df["Customer ID"].notna() & ts.notna() & (cents >= 0)
    truth = pd.DataFrame({"cid": df["Customer ID"], "cents": cents})[keep].groupby("cid")["cents"].agg(["sum", "size"])
    got: dict[str, list[int]] = {}
    for key, value in sink.acked:
        ev = json.loads(value)
        assert key.decode() == ev["customer_id"] and ev["currency"] == "GBP" and ev["channel"] == "online"
        acc = got.setdefault(ev["customer_id"], [0, 0])
        acc[0] += round(ev["amount"] * 100)
        acc[1] += 1
    assert got == {cid: [int(r["sum"]), int(r["size"])] for cid, r in truth.iterrows()}
    first = json.loads(sink.acked[0][1])
    assert first["ts"] == "2010-12-01T19:08:00+00:00"  # Europe/London in winter


def test_report_names_line_column_and_reason(tmp_path: Path) -> None:
    _, report = run("zoho-sales-orders", tmp_path)
    got = [(r["line"], r["status"], r["column"], r["reason"]) for r in report_rows(report)]
    assert got == [  # lines of zoho_sales_orders.csv, the header being line 1
        ("8", "skipped", "Status", "skipped"),
        ("11", "rejected", "Currency", "unsupported_currency"),
        ("15", "rejected", "Grand Total", "missing_value"),
        ("19", "skipped", "Status", "skipped"),
        ("23", "rejected", "Account Name.id", "missing_value"),
        ("28", "rejected", "Created Time", "bad_date"),
    ]
    lines = (SAMPLES / "zoho_sales_orders.csv").read_text().splitlines()
    assert ",EUR," in lines[11 - 1] and "2024-02-30 10:00" in lines[28 - 1]
    _, report = run("online-retail-ii", tmp_path)
    by_line = {r["line"]: r for r in report_rows(report)}
    assert (by_line["48"]["column"], by_line["48"]["reason"]) == ("Price", "bad_amount")  # the codec's reason
    assert "-11062.06" in by_line["48"]["detail"]


def test_dry_run_sends_nothing_and_writes_no_checkpoint(tmp_path: Path) -> None:
    s, report = run("fxiaoke-sales-orders", tmp_path, None)
    assert (s.sent, s.rejected, s.skipped) == (32, 2, 2)  # what would be sent
    assert len(report_rows(report)) == 4
    assert not checkpoint_path(report).exists()


def test_wrong_currency_is_rejected_by_the_codec(tmp_path: Path) -> None:
    m = mapping("fxiaoke-sales-orders")
    report = tmp_path / "r.csv"
    s = run_import(SAMPLES / "fxiaoke_sales_orders.csv", m, EventCodec("purchases", currency="USD"), None, report,
                   now=NOW, topic="purchases")  # fmt: skip
    assert s.sent == 0 and s.reasons["unsupported_currency"] == 32


def test_resume_after_a_failed_flush_sends_every_row_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "CHUNK", 10)
    first = FakeSink(fail_on_flush=3)
    with pytest.raises(ImportFailure):
        run("online-retail-ii", tmp_path, first)
    assert len(first.acked) > 0
    cp = json.loads(checkpoint_path(tmp_path / "online-retail-ii.report.csv").read_text())
    assert cp["line"] == 21 and not cp["done"]  # rows 1-20 (lines 2-21) acknowledged
    second = FakeSink()
    s, report = run("online-retail-ii", tmp_path, second, resume=True)
    assert s.resumed_after == 21 and s.earlier == 20
    whole = FakeSink()
    (tmp_path / "whole").mkdir()
    run("online-retail-ii", tmp_path / "whole", whole)
    assert first.acked + second.acked == whole.acked  # the same bytes (same ids), each once
    assert report_rows(report) == report_rows(tmp_path / "whole" / "online-retail-ii.report.csv")  # each line once
    assert json.loads(checkpoint_path(report).read_text())["done"]
    third = FakeSink()
    s, _ = run("online-retail-ii", tmp_path, third, resume=True)
    assert third.acked == [] and s.earlier == 66


class FakeLedger:
    """The ledger's contract in memory: ids recorded are the ids "sent" answers for."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.asked: list[list[str]] = []

    def sent(self, event_ids: list[str]) -> set[str]:
        self.asked.append(list(event_ids))
        return self.ids & set(event_ids)

    def record(self, event_ids: list[str]) -> None:
        assert not self.ids & set(event_ids), "an id recorded twice was sent twice"
        self.ids |= set(event_ids)


def test_importing_a_file_twice_sends_its_rows_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "CHUNK", 10)
    ledger, first, again = FakeLedger(), FakeSink(), FakeSink()
    s1, _ = run("online-retail-ii", tmp_path, first, ledger=ledger)
    assert (s1.sent, s1.already) == (59, 0)  # 66 rows: 4 rejected, 3 skipped (EXPECTED)
    assert len(ledger.ids) == 59  # the repeated line has its own id (its repetition is hashed in)
    s2, _ = run("online-retail-ii", tmp_path, again, ledger=ledger)
    assert again.acked == [] and (s2.sent, s2.already, s2.rejected, s2.skipped) == (0, 59, 4, 3)
    assert "already imported (event id sent by an earlier import): 59 rows not sent again" in s2.lines(False)
    assert s2.customers == set()


def test_a_later_export_with_old_and_new_rows_sends_only_the_new(tmp_path: Path) -> None:
    m = mapping("zoho-sales-orders")
    assert m.sample is not None
    lines = (SAMPLES / m.sample).read_text(encoding="utf-8").splitlines(keepends=True)
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("".join(lines[:20]), encoding="utf-8")  # the header and 19 rows
    new.write_text("".join(lines), encoding="utf-8")  # the whole export, later
    codec = EventCodec(m.topic)
    ledger, first, second, whole = FakeLedger(), FakeSink(), FakeSink(), FakeSink()
    a = run_import(old, m, codec, first, tmp_path / "a.csv", now=NOW, topic=m.topic, ledger=ledger)
    b = run_import(new, m, codec, second, tmp_path / "b.csv", now=NOW, topic=m.topic, ledger=ledger)
    run_import(new, m, codec, whole, tmp_path / "c.csv", now=NOW, topic=m.topic)
    assert a.sent > 0 and b.already == a.sent
    assert sorted(first.acked + second.acked) == sorted(whole.acked)  # every row once, none twice


def test_rows_with_one_event_id_in_a_chunk_are_sent_once(tmp_path: Path) -> None:
    m = parse_mapping(
        "topic: purchases\nevent_id: Id\nfields: {customer_id: Who, amount: Paid, ts: {column: When, format: [iso]}}\n",
        "ids",
    )
    path = tmp_path / "ids.csv"
    path.write_text("Id,Who,Paid,When\nA1,c1,5,2024-01-02T00:00:00Z\nA1,c1,5,2024-01-02T00:00:00Z\n", encoding="utf-8")
    for ledger, sends in ((FakeLedger(), 1), (None, 2)):  # without a ledger, both as before
        sink = FakeSink()
        s = run_import(path, m, EventCodec("purchases"), sink, tmp_path / "r.csv", now=NOW, topic="x", ledger=ledger)
        assert len(sink.acked) == s.sent == sends


def test_a_dry_run_does_not_read_the_ledger(tmp_path: Path) -> None:
    ledger = FakeLedger()
    s, _ = run("zoho-accounts", tmp_path, None, ledger=ledger)
    assert s.sent == 14 and ledger.asked == [] and ledger.ids == set()


def test_resume_refuses_a_checkpoint_of_another_file(tmp_path: Path) -> None:
    run("zoho-accounts", tmp_path, FakeSink())
    report = tmp_path / "zoho-accounts.report.csv"
    checkpoint_path(report).write_text(json.dumps(
        {"file_sha256": "0" * 64, "mapping_sha256": "1", "topic": "profiles", "line": 3, "done": False}
    ))  # fmt: skip
    with pytest.raises(ImportFailure, match="another file, mapping or topic"):
        run("zoho-accounts", tmp_path, FakeSink(), resume=True)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_give_the_same_events_as_csv(fmt: str, tmp_path: Path) -> None:
    m = mapping("fxiaoke-accounts")
    df = pd.read_csv(SAMPLES / "fxiaoke_accounts.csv", dtype=str, encoding="utf-8-sig")
    path = tmp_path / f"accounts.{fmt}"
    if fmt == "jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path, index=False)
    codec = EventCodec("profiles")
    via_csv, via_other = FakeSink(), FakeSink()
    run_import(SAMPLES / "fxiaoke_accounts.csv", m, codec, via_csv, tmp_path / "a.csv", now=NOW, topic="profiles")
    s = run_import(path, m, codec, via_other, tmp_path / "b.csv", now=NOW, topic="profiles")
    assert s.sent == 12 and via_other.acked == via_csv.acked
    ev = json.loads(via_csv.acked[0][1])
    assert (ev["city_tier"], ev["company_size"], ev["ownership"]) == (1, "sme", "private")


def test_jsonl_line_that_is_not_json_is_reported(tmp_path: Path) -> None:
    m = mapping("zoho-accounts")
    path = tmp_path / "a.jsonl"
    df = pd.read_csv(SAMPLES / "zoho_accounts.csv", dtype=str).head(3)
    text = df.to_json(orient="records", lines=True).splitlines()
    path.write_text("\n".join([text[0], "{oops", text[1], "[1, 2]", text[2]]) + "\n")
    s = run_import(path, m, EventCodec("profiles"), None, tmp_path / "r.csv", now=NOW, topic="profiles")
    assert (s.sent, s.rejected) == (3, 2)
    assert [(r["line"], r["reason"]) for r in report_rows(tmp_path / "r.csv")] == [("2", "not_json"), ("4", "bad_row")]


def test_csv_without_a_mapped_column_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("Invoice,Quantity\n1,2\n")
    with pytest.raises(ImportFailure, match=r"o\.csv has no column\(s\) 'Customer ID'"):
        run_import(path, mapping("online-retail-ii"), EventCodec("purchases"), None, tmp_path / "r.csv",
                   now=NOW, topic="purchases")  # fmt: skip


# ---------------------------------------------------------------- CLI


@pytest.fixture
def no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> Any:
        raise AssertionError("a dry run must not open a producer")

    monkeypatch.setattr("segstream.feeders.producer.make_producer", refuse)


def test_cli_dry_run_prints_a_summary_and_sends_nothing(tmp_path: Path, no_kafka: None) -> None:
    report = tmp_path / "r.csv"
    res = CliRunner().invoke(cli, ["import", "-m", "zoho-sales-orders", "--sample", "--dry-run", "--no-progress",
                                   "--report", str(report)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "read 30 rows: would send 24, rejected 4, skipped 2" in res.output
    assert "11 customers, event time 2024-01-05T15:25:00-06:00 .. 2024-03-18T18:05:00-05:00" in res.output
    assert len(report_rows(report)) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "x.csv"], "--mapping is required"),
        (["import", "-m", "no-such-mapping", "x.csv"], "no shipped mapping of that name"),
        (["import", "-m", "zoho-accounts"], "give the FILE to import"),
        (["import", "-m", "zoho-accounts", "/nonexistent/file.csv"], "no file /nonexistent/file.csv"),
        (["import", "-m", "zoho-accounts", "--sample", "--dry-run", "--resume"], "do not go together"),
        (["import", "-m", "zoho-accounts", "--sample", "x.csv"], "not both"),
    ],
)
def test_cli_bad_arguments_exit_non_zero_with_one_line(args: list[str], message: str, no_kafka: None) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2
    out = res.output.strip()
    assert out.count("\n") == 0 and out.startswith("segstream: ") and message in out, out


def test_cli_bad_mapping_file_is_one_line(tmp_path: Path, no_kafka: None) -> None:
    m = tmp_path / "m.yaml"
    m.write_text("topic: purchases\nfields: {customer_id: a, ts: b, amount: {column: c, units: pence}}\n")
    res = CliRunner().invoke(cli, ["import", "-m", str(m), str(SAMPLES / "online_retail_ii.csv")])
    assert res.exit_code == 2
    assert res.output.strip() == f"segstream: mapping {m}: fields.amount.units: 'pence' is not major or minor"


# ---------------------------------------------------------------- custom attributes

ATTR_MAPPING = """
topic: profiles
fields:
  customer_id: Id
  ts: {column: Modified, format: "%Y-%m-%d"}
  name: Name
  attributes.lifestyle: Lifestyle
  attributes.seats: {column: Seats, type: number}
  attributes.vip: {column: VIP, type: boolean, empty: remove}
"""


def test_row_with_attributes_is_a_profile_the_codec_accepts() -> None:
    m = parse_mapping(ATTR_MAPPING, "attrs")
    row = {"Id": "a1", "Modified": "2024-03-01", "Name": "Acme", "Lifestyle": "Outdoor", "Seats": "12", "VIP": "yes"}
    got = importer.convert(m, EventCodec("profiles"), row, NOW)
    assert isinstance(got, importer.Accepted) and isinstance(got.event, Profile)
    assert got.event.attributes == {"lifestyle": "Outdoor", "seats": 12.0, "vip": True}
    assert json.loads(got.value)["attributes"] == {"lifestyle": "Outdoor", "seats": 12.0, "vip": True}
    row = {**row, "Lifestyle": "", "VIP": ""}  # left out; removed (null)
    got = importer.convert(m, EventCodec("profiles"), row, NOW)
    assert isinstance(got, importer.Accepted) and isinstance(got.event, Profile)
    assert got.event.attributes == {"seats": 12.0, "vip": None}


def test_too_long_attribute_lands_in_the_report_with_its_column(tmp_path: Path) -> None:
    m = parse_mapping(ATTR_MAPPING, "attrs")
    path = tmp_path / "accounts.csv"
    path.write_text(
        "Id,Modified,Name,Lifestyle,Seats,VIP\n"
        "a1,2024-03-01,Acme,Outdoor,12,yes\n"
        f"a2,2024-03-02,Bolt,{'x' * 64},3,no\n"  # 64 characters: the limit, accepted
        f"a3,2024-03-03,Cork,{'y' * 65},3,no\n"  # 65: rejected by the codec
        "a4,2024-03-04,Dove,Urban,a dozen,no\n"  # not a number: rejected by the mapping
        "a5,2024-03-05,Echo,Urban,1,perhaps\n"
    )
    sink = FakeSink()
    s = run_import(path, m, EventCodec("profiles"), sink, tmp_path / "r.csv", now=NOW, topic="profiles")
    assert (s.read, s.sent, s.rejected) == (5, 2, 3)
    assert [json.loads(v)["customer_id"] for _, v in sink.acked] == ["a1", "a2"]
    got = [(r["line"], r["status"], r["column"], r["reason"], r["detail"]) for r in report_rows(tmp_path / "r.csv")]
    assert got == [
        ("4", "rejected", "Lifestyle", "invalid_value",
         "custom attribute `lifestyle`: Expected `str` of length <= 64 - at `$.attributes[...]`"),
        ("5", "rejected", "Seats", "bad_number", "'a dozen' is not a number"),
        ("6", "rejected", "VIP", "bad_value", "'perhaps' is not yes/no"),
    ]  # fmt: skip


def test_shipped_account_mappings_set_custom_attributes(tmp_path: Path) -> None:
    zoho, fx = FakeSink(), FakeSink()
    run("zoho-accounts", tmp_path, zoho)
    run("fxiaoke-accounts", tmp_path, fx)
    # zoho_accounts.csv line 2: Benton Supply Co, ACC-1000, Reseller, 450 employees
    assert json.loads(zoho.acked[0][1])["attributes"] == {
        "account_type": "Reseller",
        "account_number": "ACC-1000",
        "employees": 450.0,
    }
    # fxiaoke_accounts.csv line 2: B类客户, 展会, 王芳, 成交客户; line 5 has no 客户来源
    assert json.loads(fx.acked[0][1])["attributes"] == {
        "customer_level": "B",
        "lead_source": "展会",
        "owner": "王芳",
        "won": True,
    }
    assert json.loads(fx.acked[3][1])["attributes"] == {"customer_level": "C", "owner": "王芳", "won": True}
    assert sum("lead_source" not in json.loads(v)["attributes"] for _, v in fx.acked) == 2
