"""Purchase models, value and churn risk through real Kafka, worker processes and Redis."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import msgspec
import numpy as np

from segstream.config import Settings
from segstream.evaluation import auc, cdnow_calibration, churn_delays
from segstream.feeders.simulator import Simulator
from segstream.models.bgnbd import expected_purchases
from segstream.models.value import ValueSnapshot
from segstream.streams.schemas import ChurnRisk, Purchase, Usage
from tests.integration.harness import (
    ARTIFACTS,
    ROOT,
    WorkerProcess,
    every_record,
    http_url,
    produce_events,
    read_store,
    settled,
    wait_for_counts,
    wait_until,
)
from tests.integration.test_segmentation import cli

CDNOW_SAMPLE = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"


def sig3(value: float) -> str:
    return f"{value:.3g}"


def value_snapshot(s: Settings) -> ValueSnapshot:
    blob = read_store(s, lambda st: st.get_snapshot("value"))
    assert blob, "no value snapshot published"
    return msgspec.msgpack.decode(blob, type=ValueSnapshot)


def test_purchase_models_fitted_from_the_stream_match_the_published_cdnow_values(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    """39-week calibration of the CDNOW sample replayed through Kafka; the leader fits on the
    per-customer summaries in Redis as of the stream clock (1997-09-30)."""
    s = make_settings(batch_size=2000, rescore_days=30, value_fit_interval_s=3600)  # the default lapse model, auto
    start_worker(s)
    reference = cdnow_calibration(CDNOW_SAMPLE)
    out = cli(s, "replay", str(CDNOW_SAMPLE), "--until", "1997-09-30", "--no-progress")
    sent = int(out.split()[1])
    wait_for_counts(s, {"purchases": sent})
    clock = read_store(s, lambda st: st.clock())["global"]
    assert datetime.fromtimestamp(clock / 1e6, UTC).date().isoformat() == "1997-09-30"
    cli(s, "segments", "rescore")

    snap = value_snapshot(s)
    assert snap.status == "ok" and snap.customers == 2357 and snap.as_of_us == clock
    bg, gg = snap.bgnbd, snap.gammagamma
    assert bg is not None and gg is not None
    # Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4
    assert [sig3(v) for v in (bg.r, bg.alpha, bg.a, bg.b)] == ["0.243", "4.41", "0.793", "2.43"]
    assert round(bg.log_likelihood, 1) == -9582.4
    # Gamma-Gamma on the 946 repeat buyers: p 6.25, q 3.74, gamma 15.44
    assert [sig3(v) for v in (gg.p, gg.q, gg.v)] == ["6.25", "3.74", "15.4"] and gg.n == 946

    # holdout: rank by churn risk at the end of week 39 against "no purchase in weeks 40-78"
    customers = read_store(s, lambda st: st.scan_customers())
    assert set(customers) == set(reference.index)
    risk = np.array([customers[c].outlook.risk_bp for c in reference.index])  # type: ignore[union-attr]
    expected = expected_purchases(bg, 39, reference["x"], reference["t_x"], reference["T"])
    y = reference["churned"].to_numpy()
    result = {
        "churn_risk": auc(y, risk),
        "days_since_last_purchase": auc(y, reference["recency_days"]),
        "bgnbd_expected_purchases": auc(y, -expected),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cdnow-holdout-auc.json").write_text(json.dumps(result, indent=1))
    # CDNOW has no usage: under the default "auto" lapse model every customer's purchase
    # lapse is Pareto/NBD's, fitted through the stream at the published parameters
    # (Fader, Hardie & Lee 2005 / lifetimes: r 0.55, alpha 10.58, s 0.61, beta 11.67)
    pn = snap.paretonbd
    assert pn is not None and [sig3(v) for v in (pn.r, pn.alpha, pn.s, pn.beta)] == ["0.553", "10.6", "0.606", "11.7"]
    # and the churn score ranks the holdout above both baselines of the same data
    # (docs/QUALITY.md: 0.7743 against 0.7714 and 0.7725; BG/NBD's lapse gave 0.7669)
    assert result["churn_risk"] > max(result["days_since_last_purchase"], result["bgnbd_expected_purchases"]), result

    counts = read_store(s, lambda st: st.segment_counts())
    assert sum(counts["value"].values()) == 2357 and set(counts["value"]) == {"top", "high", "medium", "low"}
    assert sum(counts["churn_risk"].values()) == 2357
    high = counts["churn_risk"].get("high", 0)
    events = [msgspec.json.decode(r.value, type=ChurnRisk) for r in every_record(s, "churn_risk")]  # sent before saved
    entered = {e.customer_id for e in events if e.level == "high"}
    assert len(entered) >= high > 0
    assert all(e.action and e.drivers and e.reason for e in events if e.level == "high")

    # served: a customer's value and churn risk, and the published fit
    one = next(e.customer_id for e in events if e.level == "high")
    doc = get_json(s, f"/customers/{one}")
    assert doc["churn_risk"]["level"] == "high" and doc["churn_risk"]["score"] >= 0.7
    assert abs(sum(d["weight"] for d in doc["churn_risk"]["drivers"]) - 1) < 0.01
    value = doc["value"]
    assert value["tier"] in {"top", "high", "medium", "low"} and value["model_version"] == snap.version
    assert 0 < value["p_alive"] <= 1 and value["clv"] >= 0 and 0 < value["contribution"] < 1
    spend = customers[one].purchases.spend_minor  # type: ignore[union-attr]
    assert value["contribution"] == snap.contribution(spend)
    seg = get_json(s, "/segments")
    assert seg["model_versions"]["value"] == snap.version and seg["value_model"]["bgnbd"]["r"] == bg.r
    assert seg["names"]["value"]["top"] == "Top value" and seg["names"]["churn_risk"]["high"] == "High churn risk"


def test_simulated_churners_are_flagged_by_the_sweep_soon_after_they_go_silent(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    """Customers with known churn times (they stop all activity) through the real worker:
    the due-time sweep flags them without new events, soon in event time, and the final
    risk ranks churned above active customers."""
    # a replay of a backlog in event-time epochs of one day, the value models refitted every
    # event day: the same numbers on any machine (docs/QUALITY.md has the default 30 days' too)
    s = make_settings(batch_size=2000, idle_partition_s=300, event_epoch_s=86_400, value_fit_event_interval_s=86_400)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    sim = Simulator(800, start, seed=11)
    events = list(islice(sim.events(), 120_000))
    produce_events(s, events)
    start_worker(s)
    wait_for_counts(
        s,
        {
            "usage": sum(isinstance(e, Usage) for e in events),
            "purchases": sum(isinstance(e, Purchase) for e in events),
        },
        timeout=200,
    )
    wait_until(lambda: settled(s), 60, "the last epoch's sweep and snapshots", every=0.5)
    cli(s, "segments", "rescore")
    customers = read_store(s, lambda st: st.scan_customers())
    end = read_store(s, lambda st: st.clock())["global"] / 1e6

    def days(ts: float) -> float:
        return (ts - start.timestamp()) / 86_400

    alerts = [msgspec.json.decode(r.value, type=ChurnRisk) for r in every_record(s, "churn_risk")]
    churn_at = {c.customer_id: days(c.churn_at.timestamp()) for c in sim.population if c.churn_at}
    timeline = [(a.customer_id, days(a.ts.timestamp()), a.level) for a in alerts]
    delays = churn_delays(churn_at, timeline, days(end) - 30)  # churned at least 30 days before the end
    truth = [c for c in sim.population if c.customer_id in customers]
    y = np.array([c.churn_at is not None and c.churn_at.timestamp() <= end for c in truth])
    risk = np.array([customers[c.customer_id].outlook.risk_bp for c in truth])  # type: ignore[union-attr]
    stayed = {c.customer_id for c in truth if c.churn_at is None}
    false_alarm = len({a.customer_id for a in alerts if a.level == "high"} & stayed) / len(stayed)
    result = {"auc": auc(y, risk), **delays, "never_churning_alerted": false_alarm, "alerts": len(alerts)}
    (ARTIFACTS / "simulated-churn.json").write_text(json.dumps(result, indent=1))
    # measured in event-time epochs of one day (docs/QUALITY.md), the same on every run and
    # machine (2026-12-03, usage rates corrected for a short history): AUC 0.994, median delay
    # 23.5 days, 20 of 141 churners missed (14.2%: mostly customers who churned right after
    # signing up), 2.9% of never-churning customers alerted once.
    # Before the barrier (value fits every 5 s of wall time) a run gave AUC 0.99, 15% missed,
    # 13-29% false alarms and a median that moved with the machine's speed (31.6 days once).
    assert result["auc"] > 0.95, result
    assert delays["churned"] >= 50 and delays["missed"] <= 0.25 * delays["churned"], result
    assert delays["median_delay_days"] <= 30, result
    assert false_alarm < 0.05, result
    by_sweep = [
        a for a in alerts if a.level == "high" and a.event_id.startswith("sweep-") and a.customer_id in churn_at
    ]
    assert by_sweep and all(a.action and a.action_name for a in by_sweep), "silent churners flagged by the sweep"


def get_json(s: Settings, path: str) -> Any:
    with urllib.request.urlopen(http_url(s, path), timeout=10) as resp:
        return json.loads(resp.read())
