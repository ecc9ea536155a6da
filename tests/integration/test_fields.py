"""Every accepted field put to use, through a real worker, Kafka and Redis (issue 18 §4):
discounts, channels and categories of purchases, quantities, durations and services of use,
complaint severity and custom profile attributes reach the rule segments and the customer
document; a profile past the custom-attribute limit is a dead letter for that customer alone."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer

from segstream.config import Settings
from tests.integration.harness import WorkerProcess, consume, read_store, wait_for_counts
from tests.integration.test_customer_document import TOKEN, http_document

RULES = """
dimensions:
  price_sensitivity:
    - segment: bargain_hunter
      label: {en: Bargain hunter, zh-CN: 优惠敏感}
      when: discount_share >= 0.5 and purchases >= 3
    - segment: full_price
      when: purchases >= 3
  account:
    - segment: vip
      when: attrs["tier"] == "gold" and attrs["seats"] >= 10
  service_recovery:
    - segment: severe_open
      when: open_complaints > 0 and complaint_severity >= 4
"""


def ev(n: int, cid: str, day: int, hour: int = 12, **fields: object) -> bytes:
    ts = f"2024-03-{day:02d}T{hour:02d}:00:00+08:00"
    return json.dumps({"event_id": f"{cid}-{n}", "customer_id": cid, "ts": ts, **fields}, ensure_ascii=False).encode()


def test_new_fields_reach_rules_and_the_document_and_a_bad_profile_is_a_dead_letter(
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
    producer: KafkaProducer,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    s = make_settings(rules_file=str(rules), api_token=TOKEN)
    start_worker(s)
    send = lambda topic, cid, value: producer.send(s.topic(topic), key=cid.encode(), value=value).get(30)  # noqa: E731
    # 淘淘: four of five orders on a coupon, all but one through a partner, two categories
    orders = [("C1", 5.0, "partner", "玩具"), ("C2", 0, "partner", "玩具"), (None, 0, "partner", "图书"),
              ("C3", 2.5, "partner", "玩具"), ("C4", 0, "online", "图书")]  # fmt: skip
    for n, (coupon, discount, channel, category) in enumerate(orders):
        send("purchases", "淘淘", ev(n, "淘淘", 1 + n, amount=20.0, coupon=coupon, discount=discount, channel=channel,
                                    category=category))  # fmt: skip
    for n in range(3):
        send("purchases", "full", ev(n, "full", 1 + n, amount=30.0))
    send("usage", "u1", ev(0, "u1", 5, quantity=3, action="export", service="reports"))
    send("usage", "u1", ev(1, "u1", 5, 18, action="edit", service="billing", duration_s=600))
    send("feedback", "c1", ev(0, "c1", 4, kind="complaint", score=5, text="坏了"))
    send("profiles", "c1", ev(1, "c1", 4, attributes={"tier": "gold", "seats": 25, "vip": True}))
    too_many = ev(2, "c2", 4, attributes={f"a{i}": i for i in range(16)})
    send("profiles", "c2", too_many)
    one_more = ev(3, "c2", 5, attributes={"b": 1})  # valid alone; the 17th attribute of c2
    meta = send("profiles", "c2", one_more)
    send("profiles", "c3", ev(4, "c3", 5, attributes={"b": 1}))  # the same event for c3 applies
    wait_for_counts(s, {"purchases": 8, "usage": 2, "feedback": 1, "profiles": 3})

    [letter] = consume(s, "dlq", 1)
    env = json.loads(letter.value)
    assert (env["reason"], env["offset"], base64.b64decode(env["value"])) == ("processing_error", meta.offset, one_more)
    assert "more than 16" in env["detail"]

    seg = {c: read_store(s, lambda st, c=c: st.get(c)).segments for c in ("淘淘", "full", "c1", "c2", "c3")}
    assert seg["淘淘"]["price_sensitivity"] == "bargain_hunter" and seg["full"]["price_sensitivity"] == "full_price"
    assert seg["c1"]["account"] == "vip" and seg["c1"]["service_recovery"] == "severe_open"

    taotao = http_document(s, "淘淘")
    assert taotao["segments"]["price_sensitivity"]["name"] == "Bargain hunter"
    p = taotao["purchases"]
    # by hand: 4 of 5 orders on a coupon; all paid 20.00; 7.50 off in all, so list prices total 107.50
    assert (p["discount_share"], p["discount_spend_share"]) == (0.8, 0.8)
    assert math.isclose(p["discount_depth"], 7.5 / 107.5)
    assert (p["channel"], p["channel_share"], p["categories"], p["top_category"]) == ("partner", 0.8, 2, "玩具")
    assert http_document(s, "full")["purchases"]["discount_share"] == 0.0

    u = http_document(s, "u1")["usage"]
    assert u["services_30d"] == 2 and u["units_per_day"] > u["rate_long"] and u["minutes_per_day"] > 0
    c1 = http_document(s, "c1")
    assert c1["profile"]["attributes"] == {"tier": "gold", "seats": 25.0, "vip": True}
    assert c1["satisfaction"]["complaint_severity"] == 5.0
    assert http_document(s, "c2")["profile"]["attributes"] == {f"a{i}": float(i) for i in range(16)}
    assert http_document(s, "c3")["profile"]["attributes"] == {"b": 1.0}
