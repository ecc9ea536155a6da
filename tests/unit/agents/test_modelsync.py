from __future__ import annotations

from pathlib import Path

import pytest

from segstream.config import ConfigError, Settings
from segstream.models.rfm import FixedRFMScorer, PurchaseSummary
from segstream.scoring.models import build_models


def test_fixed_rfm_thresholds_come_from_the_settings_in_major_units() -> None:
    models = build_models(
        Settings(rfm_scoring="fixed", rfm_fixed_monetary="10,20,30,40", rfm_fixed_frequency="2,4,6,8")
    )
    scorer = models.rfm_scorer()
    assert isinstance(scorer, FixedRFMScorer)
    assert scorer.monetary == (1000, 2000, 3000, 4000) and scorer.frequency == (2, 4, 6, 8)
    assert scorer.score_one(PurchaseSummary().add(0, 2500), 0).m == 3


def test_a_bad_rules_file_stops_the_worker_with_a_one_line_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("dimensions:\n  x:\n    - segment: a\n      when: nonsense > 1\n")
    with pytest.raises(ConfigError, match=r"line 4: unknown name\(s\) nonsense"):
        build_models(Settings(rules_file=str(bad)))


def test_the_packaged_default_rules_load() -> None:
    rules = build_models(Settings()).rules
    assert rules is not None
    assert set(rules.dimensions) == {"industry", "company_size", "market_tier", "relationship"}


def test_the_first_value_fit_comes_as_soon_as_there_are_enough_buyers_not_an_interval_later() -> None:
    from segstream.agents.modelsync import ModelSync
    from segstream.models.bgnbd import BGNBDParams
    from segstream.models.rfm import RFMSnapshot
    from segstream.models.value import ValueSnapshot

    sync = ModelSync(Settings(value_min_customers=50), store=None)  # type: ignore[arg-type]

    def buyers(n: int) -> None:
        sync.models.rfm_snapshot = RFMSnapshot(1, n, [0.0] * 4, [1.0] * 4, [1.0] * 4, 0.0, 1.0, 1.0)

    assert not sync.early_fit_due()  # no snapshot: nobody counted yet
    buyers(49)
    assert not sync.early_fit_due()
    buyers(50)
    assert sync.early_fit_due()
    assert not sync.early_fit_due()  # tried at 50: not again at every snapshot ...
    buyers(62)
    assert not sync.early_fit_due()
    buyers(63)
    assert sync.early_fit_due()  # ... but once there are a quarter more
    bg = BGNBDParams(0.24, 4.4, 0.79, 2.4, -9000.0, 63, True)
    sync.models.value_snapshot = ValueSnapshot(1, 0, "", 63, bg, None, [], 0)
    buyers(1000)
    assert not sync.early_fit_due()  # fitted: the refit interval takes over


async def test_a_value_fit_that_fails_keeps_the_published_parameters_and_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from segstream.agents import modelsync
    from segstream.state.customer import CustomerState

    class Store:  # the two reads and the one write fit_value makes
        def __init__(self) -> None:
            self.put: list[str] = []

        async def sample(self, cursor: int, count: int) -> tuple[int, dict[str, CustomerState]]:
            return 0, {f"c{i}": CustomerState(purchases=PurchaseSummary().add(0, 100).add(86_400_000_000, 200))
                       for i in range(3)}  # fmt: skip

        async def get_snapshot(self, name: str) -> None:
            return None

        async def put_snapshot(self, name: str, blob: bytes) -> None:
            self.put.append(name)

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("Encoding objects of type numpy.float64 is unsupported")

    monkeypatch.setattr(modelsync, "fit_value", broken)
    store = Store()
    sync = modelsync.ModelSync(Settings(), store=store)  # type: ignore[arg-type]
    assert await sync.fit_value(200 * 86_400_000_000) is None
    assert store.put == [] and sync.models.value_snapshot is None
    assert "value fit on 3 customers failed; the published parameters stay" in caplog.text


async def test_a_value_fit_gets_each_buyer_once_in_id_order_with_exact_spends(monkeypatch: pytest.MonkeyPatch) -> None:
    from segstream.agents import modelsync
    from segstream.state.customer import CustomerState

    day = 86_400_000_000
    big = PurchaseSummary().add(0, 2**53 + 1)  # not exact as a float
    two = PurchaseSummary().add(0, 100).add(3 * day, 200)
    pages = [  # SCAN: two pages, one id twice, one customer without purchases
        (5, {"c2": CustomerState(purchases=big), "c10": CustomerState(purchases=two), "c3": CustomerState()}),
        (0, {"c10": CustomerState(purchases=big), "c1": CustomerState(purchases=two)}),
    ]

    class Store:
        async def sample(self, cursor: int, count: int) -> tuple[int, dict[str, CustomerState]]:
            return pages[0 if cursor == 0 else 1]

        async def get_snapshot(self, name: str) -> None:
            return None

    got: dict[str, object] = {}

    def fit(model: object, x: object, t_x: object, T: object, m_x: object, **kw: object) -> None:
        got.update(x=list(x), t_x=list(t_x), T=list(T), spend=kw["spend_minor"])  # type: ignore[call-overload]
        raise ValueError("stop here")

    monkeypatch.setattr(modelsync, "fit_value", fit)
    sync = modelsync.ModelSync(Settings(), store=Store())  # type: ignore[arg-type]
    assert await sync.fit_value(10 * day) is None
    # c1 (two purchases), c10 as first seen (two purchases), c2 (one): string order
    u = sync.models.value.unit_days  # times in the models' unit (weeks by default)
    assert got["x"] == [1, 1, 0]
    assert got["t_x"] == pytest.approx([3 / u, 3 / u, 0]) and got["T"] == pytest.approx([10 / u] * 3)
    assert [int(v) for v in got["spend"]] == [300, 300, 2**53 + 1]  # type: ignore[attr-defined]


class SlowStore:
    """Snapshots kept in a dict, each read taking a moment (a Redis round trip), and the
    population: 150 buyers."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def sample(self, cursor: int, count: int) -> tuple[int, dict[str, object]]:
        from segstream.state.customer import CustomerState

        day = 86_400_000_000
        return 0, {
            f"c{i}": CustomerState(purchases=PurchaseSummary().add(i * day, 100 + i).add((i + 9) * day, 50 * i))
            for i in range(150)
        }

    async def get_snapshot(self, name: str) -> bytes | None:
        import asyncio

        await asyncio.sleep(0.01)
        return self.blobs.get(name)

    async def put_snapshot(self, name: str, blob: bytes) -> None:
        self.blobs[name] = blob


async def test_an_epochs_learning_and_an_operators_rescore_at_once_publish_one_snapshot_after_the_other() -> None:
    import asyncio

    import msgspec

    from segstream.agents.modelsync import ModelSync
    from segstream.models.clusters import ClusterSnapshot

    store = SlowStore()
    sync = ModelSync(Settings(), store=store)  # type: ignore[arg-type]
    customers = list((await store.sample(0, 150))[1].values())
    now = 400 * 86_400_000_000
    await asyncio.gather(sync.learn_from(customers, now), sync.learn_clusters(now), sync.learn_from(customers, now))
    last = msgspec.msgpack.decode(store.blobs["cluster"], type=ClusterSnapshot)
    prev = msgspec.msgpack.decode(store.blobs["cluster:prev"], type=ClusterSnapshot)
    assert (prev.version, last.version, last.learned) == (2, 3, 450)


async def test_two_value_fits_at_once_publish_one_version_after_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import msgspec

    from segstream.agents import modelsync
    from segstream.models.bgnbd import BGNBDParams
    from segstream.models.value import ValueSnapshot

    bg = BGNBDParams(0.24, 4.4, 0.79, 2.4, -9000.0, 150, True)
    monkeypatch.setattr(
        modelsync, "fit_value", lambda *a, version, **kw: ValueSnapshot(version, 0, "", 150, bg, None, [], 0)
    )
    store = SlowStore()
    sync = modelsync.ModelSync(Settings(), store=store)  # type: ignore[arg-type]
    await asyncio.gather(*(sync.fit_value(400 * 86_400_000_000) for _ in range(3)))
    assert msgspec.msgpack.decode(store.blobs["value"], type=ValueSnapshot).version == 3
