"""The import mapping language: parsing, value conversion, ids and one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from segstream.feeders.mapping import (
    MappingError,
    Problem,
    load_mapping,
    parse_datetime,
    parse_mapping,
    stable_id,
)

SH = ZoneInfo("Asia/Shanghai")
BASE = """
topic: purchases
timezone: Asia/Shanghai
fields:
  customer_id: cust
  ts: {column: when, format: ["%Y-%m-%d %H:%M", "%d/%m/%Y", "%Y年%m月%d日", "iso"]}
  amount: total
"""


def doc(row: dict[str, object], text: str = BASE) -> dict[str, object] | Problem:
    return parse_mapping(text, "t").document(row)


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        ("2024-03-01 14:05", datetime(2024, 3, 1, 14, 5, tzinfo=SH)),
        ("01/03/2024", datetime(2024, 3, 1, tzinfo=SH)),  # day first
        ("2024年3月1日", datetime(2024, 3, 1, tzinfo=SH)),
        ("2024-03-01T14:05:00+02:00", datetime(2024, 3, 1, 12, 5, tzinfo=UTC)),  # its own offset wins
        ("2024-03-01T06:05:00Z", datetime(2024, 3, 1, 6, 5, tzinfo=UTC)),
    ],
)
def test_date_formats_and_default_time_zone(cell: str, want: datetime) -> None:
    got = doc({"cust": "c1", "when": cell, "total": "1"})
    assert isinstance(got, dict)
    ts = datetime.fromisoformat(str(got["ts"]))
    assert ts == want and ts.utcoffset() is not None


def test_default_time_zone_is_applied_with_its_offset_on_that_day() -> None:
    text = BASE.replace("Asia/Shanghai", "Europe/London")
    winter, summer = (
        doc({"cust": "c", "when": w, "total": "1"}, text) for w in ("2024-01-10 09:00", "2024-07-10 09:00")
    )
    assert isinstance(winter, dict) and isinstance(summer, dict)
    assert winter["ts"] == "2024-01-10T09:00:00+00:00"
    assert summer["ts"] == "2024-07-10T09:00:00+01:00"


def test_parse_datetime_native_values_from_parquet() -> None:
    naive = datetime(2024, 3, 1, 14, 5)  # noqa: DTZ001 - a Parquet timestamp without a zone
    assert parse_datetime(naive, ("iso",), SH) == datetime(2024, 3, 1, 14, 5, tzinfo=SH)
    aware = datetime(2024, 3, 1, 14, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_datetime(aware, ("iso",), SH) is aware


def test_unparsable_date_is_a_problem_naming_the_column() -> None:
    got = doc({"cust": "c1", "when": "2024-02-30 10:00", "total": "1"})
    assert isinstance(got, Problem)
    assert (got.column, got.reason) == ("when", "bad_date")
    assert "2024-02-30 10:00" in got.detail


def test_constants_and_value_maps() -> None:
    text = (
        BASE
        + """  channel:
    column: src
    map: {直销: sales_rep, 渠道: partner}
  category: {value: books}
"""
    )
    got = doc({"cust": "c1", "when": "01/03/2024", "total": "5", "src": "渠道"}, text)
    assert isinstance(got, dict)
    assert (got["channel"], got["category"]) == ("partner", "books")
    bad = doc({"cust": "c1", "when": "01/03/2024", "total": "5", "src": "电话"}, text)
    assert isinstance(bad, Problem) and (bad.column, bad.reason) == ("src", "unmapped_value")
    other = text.replace("渠道: partner}", "渠道: partner}\n    otherwise: online")
    got = doc({"cust": "c1", "when": "01/03/2024", "total": "5", "src": "电话"}, other)
    assert isinstance(got, dict) and got["channel"] == "online"


def test_value_map_to_numbers_and_booleans() -> None:
    text = """
topic: profiles
fields:
  customer_id: id
  ts: {column: t}
  city_tier: {column: tier, map: {一线: 1, 新一线: 2}}
  partner: {column: type, map: {Partner: yes, Customer: no}}
  contract: has_contract
"""
    got = doc({"id": "k1", "t": "2024-03-01T00:00:00+08:00", "tier": "新一线", "type": "Partner", "has_contract": "否"},
              text)  # fmt: skip
    assert isinstance(got, dict)
    assert (got["city_tier"], got["partner"], got["contract"]) == (2, True, False)


@pytest.mark.parametrize(
    ("spec", "row", "want"),
    [
        ("total", {"total": "19.99"}, 19.99),
        ("total", {"total": "1,234.50"}, 1234.5),
        ("{column: total, units: minor}", {"total": "1999"}, 19.99),
        ("{column: total, units: minor, decimals: 0}", {"total": "1999"}, 1999.0),  # yen have no minor unit
        ("{column: total, units: minor, decimals: 3}", {"total": "12345"}, 12.345),  # dinars: 1000 fils
        ("{column: price, times: qty}", {"price": "2.55", "qty": "6"}, 15.3),  # not 15.299999999999999
        ("{column: total, units: minor}", {"total": 250}, 2.5),  # a Parquet integer
    ],
)
def test_major_and_minor_units(spec: str, row: dict[str, object], want: float) -> None:
    text = BASE.replace("amount: total", f"amount: {spec}")
    got = doc({"cust": "c1", "when": "01/03/2024", **row}, text)
    assert isinstance(got, dict) and got["amount"] == want


def test_empty_required_cell_and_empty_optional_cell() -> None:
    text = BASE + "  coupon: code\n"
    got = doc({"cust": " ", "when": "01/03/2024", "total": "1", "code": ""}, text)
    assert isinstance(got, Problem) and (got.column, got.reason) == ("cust", "missing_value")
    got = doc({"cust": "c1", "when": "01/03/2024", "total": "1", "code": ""}, text)
    assert isinstance(got, dict) and "coupon" not in got


def test_event_id_from_a_column() -> None:
    text = BASE + "event_id: id\n"
    got = doc({"id": "SO-1", "cust": "c1", "when": "01/03/2024", "total": "1"}, text)
    assert isinstance(got, dict) and got["event_id"] == "SO-1"
    got = doc({"id": "", "cust": "c1", "when": "01/03/2024", "total": "1"}, text)
    assert isinstance(got, Problem) and got.column == "id"


def test_stable_hash_event_id() -> None:
    row = {"cust": "c1", "when": "01/03/2024", "total": "9.5"}
    a, b = doc(row), doc(dict(row))
    assert isinstance(a, dict) and isinstance(b, dict)
    assert a["event_id"] == b["event_id"]  # same row, same id (another run, another process)
    assert str(a["event_id"]).startswith("t-")
    ids = {stable_id("t", {**row, "total": str(v)}) for v in range(100)}
    assert len(ids) == 100  # different rows, different ids
    assert stable_id("t", row, 1) != stable_id("t", row, 0)  # an exact repeat in the file
    assert stable_id("t", row) != stable_id("u", row)  # the prefix (mapping) is part of it


BAD = [
    ("topic: orders\nfields: {customer_id: a}", "topic"),
    ("topic: purchases\nfields: {customer_id: a, ts: b}", "fields"),  # amount missing
    ("topic: purchases\nfields: {customer_id: a, ts: b, amount: c, colour: d}", "fields.colour"),
    ("topic: purchases\nfields: {customer_id: a, ts: {column: b, formt: x}, amount: c}", "fields.ts.formt"),
    ("topic: purchases\ntimezone: Mars/Olympus\nfields: {customer_id: a, ts: b, amount: c}", "timezone"),
    ("topic: purchases\nfields: {customer_id: a, ts: b, amount: {column: c, units: cents}}", "fields.amount.units"),
    ("topic: purchases\nfields: {customer_id: a, ts: b, amount: {column: c, value: 1}}", "fields.amount"),
    ("topic: purchases\nfields: {customer_id: a, ts: b, amount: c, event_id: d}", "fields.event_id"),
    ("topic: purchases\nskip: [{column: a}]\nfields: {customer_id: a, ts: b, amount: c}", "skip[0]"),
    ("topic: purchases\nfields: {customer_id: {column: a, format: x}, ts: b, amount: c}", "fields.customer_id.format"),
    ("topic: purchases\nfields: [a, b]", "fields"),
    ("topic: purchases\nfieldz: {}", "fieldz"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_mapping_is_one_line_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m", where="m.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"mapping m.yaml: {key}: "), msg


def test_bad_yaml_and_missing_file_are_one_line(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text("topic: purchases\nfields: {customer_id: [a\n")
    with pytest.raises(MappingError, match=r"^mapping .*m\.yaml: line \d+: not valid YAML") as info:
        load_mapping(p)
    assert "\n" not in str(info.value)
    with pytest.raises(MappingError, match="cannot read mapping"):
        load_mapping(tmp_path / "absent.yaml")


# ---------------------------------------------------------------- custom attributes (attributes.NAME)

PROFILE = """
topic: profiles
fields:
  customer_id: id
  ts: t
"""
ATTRS = (
    PROFILE
    + """  attributes.lifestyle: Lifestyle
  attributes.seats: {column: Seats, type: number}
  attributes.vip: {column: VIP, type: boolean}
  attributes.tier:
    column: 客户级别
    map: {A类客户: A, B类客户: B}
    otherwise: other
  attributes.source: {value: crm}
  attributes.region_code: {column: Region, default: unknown}
"""
)
ROW = {"id": "k1", "t": "2024-03-01T09:00:00+08:00", "Lifestyle": " Outdoor ", "Seats": "1,250", "VIP": "是",
       "客户级别": "A类客户", "Region": "east"}  # fmt: skip


def test_attributes_parse_into_fields_with_their_columns() -> None:
    m = parse_mapping(ATTRS, "t")
    by_name = {f.name: f for f in m.fields}
    assert [(f.attribute, f.kind) for f in m.fields if f.attribute] == [
        ("lifestyle", "str"),
        ("seats", "float"),
        ("vip", "bool"),
        ("tier", "str"),
        ("source", "str"),
        ("region_code", "str"),
    ]
    assert by_name["attributes.seats"].column == "Seats"
    assert m.columns == {"id", "t", "Lifestyle", "Seats", "VIP", "客户级别", "Region"}
    assert (m.source("attributes.tier"), m.source("attributes.source")) == ("客户级别", "-")


def test_row_with_attributes_becomes_a_profile_document() -> None:
    got = doc(ROW, ATTRS)
    assert isinstance(got, dict)
    assert got["attributes"] == {
        "lifestyle": "Outdoor",
        "seats": 1250.0,
        "vip": True,
        "tier": "A",
        "source": "crm",
        "region_code": "east",
    }
    got = doc({**ROW, "客户级别": "D类客户", "VIP": "no", "Seats": "3"}, ATTRS)
    assert isinstance(got, dict) and got["attributes"] == {
        "lifestyle": "Outdoor",
        "seats": 3.0,
        "vip": False,
        "tier": "other",
        "source": "crm",
        "region_code": "east",
    }


def test_empty_attribute_cells_are_left_out_not_sent_as_null() -> None:
    got = doc({**ROW, "Lifestyle": "", "Seats": " ", "VIP": "", "客户级别": "", "Region": ""}, ATTRS)
    assert isinstance(got, dict)
    assert got["attributes"] == {"source": "crm", "region_code": "unknown"}  # the constant and the default stay
    text = PROFILE + "  attributes.lifestyle: Lifestyle\n"
    got = doc({"id": "k1", "t": "2024-03-01T09:00:00Z", "Lifestyle": ""}, text)
    assert isinstance(got, dict) and "attributes" not in got  # nothing to set: no attributes at all


def test_empty_remove_sends_null_for_an_empty_cell_only() -> None:
    text = PROFILE + "  attributes.lifestyle: {column: Lifestyle, empty: remove}\n"
    base = {"id": "k1", "t": "2024-03-01T09:00:00Z"}
    got = doc({**base, "Lifestyle": ""}, text)
    assert isinstance(got, dict) and got["attributes"] == {"lifestyle": None}
    got = doc({**base, "Lifestyle": "Urban"}, text)
    assert isinstance(got, dict) and got["attributes"] == {"lifestyle": "Urban"}
    mapped = PROFILE + "  attributes.lifestyle: {column: Lifestyle, map: {Urban: city, Gone: null}, empty: remove}\n"
    got = doc({**base, "Lifestyle": "Gone"}, mapped)  # a value mapped to null counts as empty
    assert isinstance(got, dict) and got["attributes"] == {"lifestyle": None}


@pytest.mark.parametrize(
    ("cells", "column", "reason", "detail"),
    [
        ({"Seats": "many"}, "Seats", "bad_number", "'many' is not a number"),
        ({"Seats": "inf"}, "Seats", "bad_number", "'inf' is not a finite number"),  # JSON null would remove it
        ({"VIP": "maybe"}, "VIP", "bad_value", "'maybe' is not yes/no"),
        ({"Lifestyle": True}, "Lifestyle", "bad_value",  # a JSON Lines true in a text attribute
         "True is yes/no, not text: set type: boolean, or quote it"),
    ],
)  # fmt: skip
def test_bad_attribute_cells_are_problems_naming_the_column(
    cells: dict[str, object], column: str, reason: str, detail: str
) -> None:
    got = doc({**ROW, **cells}, ATTRS)
    assert got == Problem(column, reason, detail)


def test_yaml_yes_in_a_boolean_value_map_is_a_boolean() -> None:
    text = PROFILE + "  attributes.won: {column: 状态, type: boolean, map: {成交客户: yes, 未成交: no}}\n"
    got = doc({"id": "k1", "t": "2024-03-01T09:00:00Z", "状态": "未成交"}, text)
    assert isinstance(got, dict) and got["attributes"] == {"won": False}


BAD_ATTRIBUTES = [
    ("  attributes.Lifestyle: x\n", "fields.attributes.Lifestyle",
     "'Lifestyle' is not a custom attribute name (a-z, 0-9 and _, starting with a letter; up to 32)"),
    ("  attributes.2nd: x\n", "fields.attributes.2nd",
     "'2nd' is not a custom attribute name (a-z, 0-9 and _, starting with a letter; up to 32)"),
    (f"  attributes.{'a' * 33}: x\n", f"fields.attributes.{'a' * 33}",
     f"'{'a' * 33}' is not a custom attribute name (a-z, 0-9 and _, starting with a letter; up to 32)"),
    ("  attributes.: x\n", "fields.attributes.",
     "'' is not a custom attribute name (a-z, 0-9 and _, starting with a letter; up to 32)"),
    ("  attributes: x\n", "fields.attributes",
     "map each custom attribute on its own: attributes.NAME: COLUMN or {column: ...}"),
    ("".join(f"  attributes.a{i}: c{i}\n" for i in range(17)), "fields",
     "17 custom attributes; a profile carries at most 16"),
    ("  attributes.x: {column: a, type: integer}\n", "fields.attributes.x.type",
     "'integer' is not one of text, number, boolean"),
    ("  attributes.x: {column: a, empty: null}\n", "fields.attributes.x.empty",
     "None is not keep (leave the attribute out) or remove (send null)"),
    ("  attributes.x: {column: a, value: b}\n", "fields.attributes.x", "give exactly one of column: and value:"),
    ("  attributes.x: {column: a, units: minor}\n", "fields.attributes.x.units",
     "unknown key (expected one of column, value, map, otherwise, default, type, empty)"),
    ("  attributes.x: [a]\n", "fields.attributes.x", "expected a column name or {column: ...} / {value: ...}"),
    ("  attributes.x: {value: a, map: {b: c}}\n", "fields.attributes.x.map",
     "expected source value -> attribute value, with column:"),
    ("  attributes.x: {column: a, map: {P: yes}}\n", "fields.attributes.x.map.P",
     "True is yes/no, not text: set type: boolean, or quote it"),
    ("  attributes.x: {column: a, type: number, map: {P: lots}}\n", "fields.attributes.x.map.P",
     "'lots' is not a number (a number attribute)"),
    ("  attributes.x: {column: a, type: boolean, otherwise: perhaps}\n", "fields.attributes.x.otherwise",
     "'perhaps' is not yes/no (a boolean attribute)"),
    (f"  attributes.x: {{value: {'z' * 65}}}\n", "fields.attributes.x.value",
     "'zzzzzzzzzzzzzzzz'... is 65 characters: Expected `str` of length <= 64"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "key", "message"), BAD_ATTRIBUTES)
def test_bad_attribute_mapping_is_one_line_naming_the_key(extra: str, key: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping(PROFILE + extra, "m", where="m.yaml")
    assert str(info.value) == f"mapping m.yaml: {key}: {message}"


def test_sixteen_attributes_are_allowed() -> None:
    m = parse_mapping(PROFILE + "".join(f"  attributes.a{i}: c{i}\n" for i in range(16)), "m")
    assert sum(f.attribute is not None for f in m.fields) == 16


@pytest.mark.parametrize("topic", ["purchases", "usage", "feedback"])
def test_attributes_on_a_topic_other_than_profiles_are_refused(topic: str) -> None:
    text = f"topic: {topic}\nfields:\n  customer_id: a\n  attributes.tier: b\n"
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m", where="m.yaml")
    assert str(info.value) == (
        f"mapping m.yaml: fields.attributes.tier: custom attributes are for the profiles topic; "
        f"this mapping's topic is {topic}"
    )
