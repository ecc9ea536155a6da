"""`segstream import` of each shipped sample through real Kafka into a real worker; the state
in Redis is compared with pandas reading the same file on its own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from segstream.config import Settings
from segstream.feeders import importer
from segstream.streams.codec import to_us
from tests.integration.harness import WorkerProcess, every_record, read_store, settings_env, wait_for_counts

SAMPLES = Path(importer.__file__).with_name("samples")


def run_import(s: Settings, mapping: str, tmp_path: Path, report: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "segstream", "import", "-m", mapping, "--sample", "--no-progress",
         "--report", str(tmp_path / (report or f"{mapping}.report.csv"))],
        env=settings_env(s), check=True, timeout=180, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


def purchases_truth(df: pd.DataFrame, cid: str, ts: pd.Series, cents: pd.Series, keep: pd.Series) -> pd.DataFrame:
    t = pd.DataFrame({"cid": df[cid], "ts": ts, "cents": cents})[keep]
    g = t.groupby("cid")
    return g.agg(first=("ts", "min"), last=("ts", "max"), count=("cents", "size"), spend=("cents", "sum"))


def check_purchases(s: Settings, truth: pd.DataFrame) -> None:
    customers = read_store(s, lambda st: st.scan_customers())
    mismatches = []
    for cid, row in truth.iterrows():
        p = customers[cid].purchases
        got = (p.first_us, p.last_us, p.count, p.spend_minor)
        want = (to_us(row["first"].to_pydatetime()), to_us(row["last"].to_pydatetime()), int(row["count"]),
                int(row["spend"]))  # fmt: skip
        if got != want:
            mismatches.append((cid, got, want))
    assert mismatches == []


def test_online_retail_ii_sample(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    s = make_settings(currency="GBP")
    start_worker(s)
    out = run_import(s, "online-retail-ii", tmp_path)
    assert "read 66 rows: sent 59, rejected 4, skipped 3" in out
    df = pd.read_csv(SAMPLES / "online_retail_ii.csv", dtype=str)
    ts = pd.to_datetime(df["InvoiceDate"], format="%Y-%m-%d %H:%M:%S", errors="coerce").dt.tz_localize("Europe/London")
    cents = (pd.to_numeric(df["Price"]) * pd.to_numeric(df["Quantity"]) * 100).round().astype("int64")
    keep = ~df["Invoice"].str.startswith("C") & df["Customer ID"].notna() & ts.notna() & (cents >= 0)
    truth = purchases_truth(df, "Customer ID", ts, cents, keep)
    stats = wait_for_counts(s, {"purchases": int(keep.sum())})
    assert stats["events:purchases"] == int(keep.sum()) == 59  # the duplicate line applied twice, as in pandas
    assert stats["customers"] == len(truth)
    check_purchases(s, truth)
    # the same file again (a new report, no --resume): the ledger in Redis knows every id
    again = run_import(s, "online-retail-ii", tmp_path, report="again.csv")
    assert "read 66 rows: sent 0, rejected 4, skipped 3" in again
    assert "59 rows not sent again" in again
    assert len(every_record(s, "purchases")) == 59  # the topic holds each row once
    check_purchases(s, truth)


def test_zoho_accounts_and_sales_orders(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    s = make_settings()  # USD
    start_worker(s)
    assert "sent 14, rejected 0, skipped 0" in run_import(s, "zoho-accounts", tmp_path)
    assert "read 30 rows: sent 24, rejected 4, skipped 2" in run_import(s, "zoho-sales-orders", tmp_path)
    so = pd.read_csv(SAMPLES / "zoho_sales_orders.csv", dtype=str)
    ts = pd.to_datetime(so["Created Time"], format="%Y-%m-%d %H:%M", errors="coerce").dt.tz_localize("America/Chicago")
    cents = (pd.to_numeric(so["Grand Total"]) * 100).round().astype("Int64")
    keep = (so["Status"] != "Cancelled") & (so["Currency"] == "USD") & cents.notna()
    keep &= so["Account Name.id"].notna() & ts.notna()
    wait_for_counts(s, {"purchases": int(keep.sum()), "profiles": 14})
    check_purchases(s, purchases_truth(so, "Account Name.id", ts, cents.astype("float").fillna(0), keep))
    acc = pd.read_csv(SAMPLES / "zoho_accounts.csv", dtype=str)
    customers = read_store(s, lambda st: st.scan_customers())
    ownership = {"Public": "public_listed", "Private": "private", "Subsidiary": "other", "Other": "other"}
    for _, row in acc.iterrows():
        p = customers[row["Record Id"]].profile
        signup = pd.to_datetime(row["Created Time"], format="%d/%m/%Y").tz_localize("America/Chicago")
        assert (p.name, p.city, p.region, p.kind) == (row["Account Name"], row["Billing City"], row["Billing State"],
                                                      "organisation")  # fmt: skip
        assert p.ownership == ownership[row["Ownership"]]
        assert p.partner == (row["Account Type"] in ("Partner", "Reseller"))
        assert p.signup_us == to_us(signup.to_pydatetime())


def test_fxiaoke_accounts_and_sales_orders(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    s = make_settings(currency="CNY")
    start_worker(s)
    assert "sent 12, rejected 0, skipped 0" in run_import(s, "fxiaoke-accounts", tmp_path)
    assert "read 36 rows: sent 32, rejected 2, skipped 2" in run_import(s, "fxiaoke-sales-orders", tmp_path)
    so = pd.read_csv(SAMPLES / "fxiaoke_sales_orders.csv", dtype=str, encoding="utf-8-sig")
    ts = pd.to_datetime(so["下单日期"], format="%Y年%m月%d日", errors="coerce").dt.tz_localize("Asia/Shanghai")
    cents = (pd.to_numeric(so["销售订单金额（元）"].str.replace(",", "")) * 100).round().astype("int64")
    keep = (so["生命状态"] != "作废") & so["客户编号"].notna() & ts.notna()
    wait_for_counts(s, {"purchases": int(keep.sum()), "profiles": 12})
    check_purchases(s, purchases_truth(so, "客户编号", ts, cents, keep))
    acc = pd.read_csv(SAMPLES / "fxiaoke_accounts.csv", dtype=str, encoding="utf-8-sig")
    customers = read_store(s, lambda st: st.scan_customers())
    tiers = {"一线": 1, "新一线": 2, "二线": 3, "三线": 4, "四线": 5, "五线": 6}
    for _, row in acc.iterrows():
        p = customers[row["客户编号"]].profile
        assert (p.name, p.industry, p.region, p.city) == (row["客户名称"], row["行业"], row["省份"], row["城市"])
        assert p.city_tier == tiers[row["城市级别"]]
