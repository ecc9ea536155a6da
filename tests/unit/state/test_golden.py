"""Golden bytes of every stored struct: the exact bytes today's release writes.

A reordered, renamed or retyped field of an ``array_like`` struct changes what old
records mean without any error, so each stored struct is pinned here twice: the bytes
kept in ``data/`` decode to the hand-built value (records already in Redis stay
readable), and encoding that value gives the same bytes (the writer did not drift).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
import zstandard

from segstream.models.clusters import FEATURES, ClusterSnapshot
from segstream.models.rfm import RFMSnapshot
from segstream.models.value import ValueSnapshot
from segstream.scoring.behaviour import cluster_name
from segstream.state.customer import pack, unpack
from tests.unit.state import golden

DATA = Path(__file__).parent / "data"


def fixture(name: str) -> bytes:
    return bytes.fromhex((DATA / name).read_text().replace("\n", ""))


RECORDS = [
    ("customer_v1.hex", 41, golden.customer_v1),
    ("customer_v1_sparse.hex", 1, golden.customer_v1_sparse),
    ("customer_v2.hex", 41, golden.customer_v2),
    ("customer_v2_sparse.hex", 1, golden.customer_v2_sparse),
    ("customer_v3.hex", 41, golden.customer_v2),  # format 3: the same states, compressed
    ("customer_v3_sparse.hex", 1, golden.customer_v2_sparse),
    ("customer_v4.hex", 41, golden.customer_v4),  # layout 4: format 2's and one field
    ("customer_v4_sparse.hex", 1, golden.customer_v4_sparse),
]
#: the msgpack layout today's release writes (format 3 compresses it)
CURRENT_RECORDS = [r for r in RECORDS if "_v4" in r[0]]
DICTIONARY_1 = Path(__file__).parents[3] / "src" / "segstream" / "state" / "dicts" / "customer-1.zdict"


def zstd_dict_1() -> zstandard.ZstdDecompressor:
    """Format 3's decompressor, built here from the shipped file and zstd's documented parameters."""
    d = zstandard.ZstdCompressionDict(DICTIONARY_1.read_bytes())
    return zstandard.ZstdDecompressor(dict_data=d, format=zstandard.FORMAT_ZSTD1_MAGICLESS)


@pytest.mark.parametrize(("name", "version", "build"), RECORDS)
def test_customer_records_written_by_every_format_are_read_back_field_by_field(name: str, version: int, build) -> None:
    got_version, state = unpack(fixture(name))
    assert got_version == version
    assert state == build()


@pytest.mark.parametrize(("name", "version", "build"), CURRENT_RECORDS)
def test_customer_record_bytes_do_not_drift(name: str, version: int, build) -> None:
    assert pack(version, build(), compress=False) == fixture(name)


@pytest.mark.parametrize("name", ["customer_v2.hex", "customer_v2_sparse.hex"])
def test_format_3_is_the_format_2_msgpack_compressed_with_dictionary_1(name: str) -> None:
    v2 = fixture(name)
    v3 = fixture(name.replace("_v2", "_v3"))
    assert v3[:8] == v2[:8] and v3[8] == 0x01
    assert zstd_dict_1().decompress(v3[9:]) == v2[8:]
    assert unpack(v3) == unpack(v2)


@pytest.mark.parametrize(("name", "version", "build"), CURRENT_RECORDS)
def test_todays_records_are_todays_layout_compressed_with_dictionary_1(name: str, version: int, build) -> None:
    plain = fixture(name)
    written = pack(version, build())
    assert written[:8] == plain[:8] and written[8] == 0x01
    assert zstd_dict_1().decompress(written[9:]) == plain[8:]
    assert len(written) < len(plain)
    # the compressor's exact output may change with the zstd library; any frame reads
    assert unpack(written) == unpack(plain)


def test_layout_4_adds_one_byte_to_a_profile_only_customer() -> None:
    v2, v4 = fixture("customer_v2_sparse.hex"), fixture("customer_v4_sparse.hex")
    assert v4[8] == 0x9E and v4 == v2[:8] + b"\x9e" + v2[9:] + b"\x00"  # cluster_rebuilt 0
    assert unpack(fixture("customer_v2.hex"))[1].cluster_rebuilt == 0  # older records: placed under none


def test_a_record_compression_would_not_shrink_is_written_in_format_2() -> None:
    from segstream.state.customer import CustomerState

    blob = pack(3, CustomerState())
    assert blob == pack(3, CustomerState(), compress=False) and blob[8] != 0x01
    assert unpack(blob) == (3, CustomerState())


def test_customer_record_starts_with_the_big_endian_version_header() -> None:
    blob = fixture("customer_v2.hex")
    assert blob[:8] == bytes([0, 0, 0, 0, 0, 0, 0, 41])
    assert blob[8] == 0x9D  # msgpack fixarray of 13: every CustomerState field present (12 in format 1)


def test_format_2_adds_one_nil_byte_and_one_empty_map_to_a_profile_only_customer() -> None:
    v1, v2 = fixture("customer_v1_sparse.hex"), fixture("customer_v2_sparse.hex")
    assert len(v2) == len(v1) + 2  # the profile's custom attributes {} and the purchase mix nil
    assert v2.endswith(bytes([0x00, 0x00, 0x80, 0xC0, 0xC0]))  # ..., segments {}, outlook nil, mix nil


def test_a_format_1_record_reads_with_the_parts_added_since_empty() -> None:
    _, st = unpack(fixture("customer_v1.hex"))
    assert st.mix is None and st.usage and st.feedback and st.profile
    assert (st.usage.units, st.usage.minutes, st.usage.services) == (None, None, [])
    assert (st.feedback.severity_sum, st.feedback.severity_n, st.profile.custom) == (0, 0, {})


def test_format_1_writes_every_field_even_the_defaults() -> None:
    # msgspec writes array_like structs whole (omit_defaults leaves out nothing from an
    # array): a profile-only customer still carries its 4 empty parts, its segments and outlook
    blob = fixture("customer_v1_sparse.hex")
    assert blob[8] == 0x9C
    assert blob.endswith(bytes([0x00, 0x00, 0x80, 0xC0]))  # reactivated_us, rfm_score, segments {}, outlook nil


SNAPSHOTS = [
    ("rfm_snapshot_v1.hex", RFMSnapshot, golden.rfm_snapshot_v1),
    ("cluster_snapshot_v1.hex", ClusterSnapshot, golden.cluster_snapshot_v1),
    ("cluster_snapshot_v2.hex", ClusterSnapshot, golden.cluster_snapshot_v2),
    ("value_snapshot_v1.hex", ValueSnapshot, golden.value_snapshot_v1),
    ("value_snapshot_v2.hex", ValueSnapshot, golden.value_snapshot_v2),
    ("value_snapshot_v3.hex", ValueSnapshot, golden.value_snapshot_v3),
]
#: the layouts today's release writes (the value snapshot gained fields at its end in formats 2 and 3)
CURRENT = [s for s in SNAPSHOTS if s[0] not in ("value_snapshot_v1.hex", "value_snapshot_v2.hex")]


@pytest.mark.parametrize(("name", "kind", "build"), SNAPSHOTS)
def test_model_snapshots_written_by_every_format_are_read_back(name: str, kind: type, build) -> None:
    assert msgspec.msgpack.decode(fixture(name), type=kind) == build()


@pytest.mark.parametrize(("name", "kind", "build"), CURRENT)
def test_model_snapshot_bytes_do_not_drift(name: str, kind: type, build) -> None:
    assert msgspec.msgpack.encode(build()) == fixture(name)


def test_a_value_snapshot_of_format_1_reads_with_the_defaults_of_the_fields_added_since() -> None:
    snap = msgspec.msgpack.decode(fixture("value_snapshot_v1.hex"), type=ValueSnapshot)
    assert (snap.bgnbd_status, snap.gammagamma_status, snap.spend_prior) == ("ok", "ok", None)
    assert (snap.spend_cap_minor, snap.capped_revenue_minor) == (0, 0)
    assert snap.contribution(2_500_000) == 0.01  # no cap: a share of the uncapped revenue, as before


def test_a_value_snapshot_of_format_2_reads_without_pareto_nbd_so_the_lapse_stays_bgnbds() -> None:
    snap = msgspec.msgpack.decode(fixture("value_snapshot_v2.hex"), type=ValueSnapshot)
    assert (snap.paretonbd, snap.paretonbd_status) == (None, "ok")


def test_a_cluster_snapshot_from_before_the_chosen_count_reads_as_a_fixed_count_of_unknown_score() -> None:
    old = msgspec.msgpack.decode(fixture("cluster_snapshot_v1.hex"), type=ClusterSnapshot)
    assert (old.k, old.k_score, old.k_method) == (0, 0.0, "fixed")


def test_a_cluster_snapshot_of_six_features_assigns_todays_vectors_on_those_six() -> None:
    # learned before the discount share joined the behaviour vector (issue 18): a worker of
    # today's release reads it until the leader publishes a seven-feature one
    old = msgspec.msgpack.decode(fixture("cluster_snapshot_v1.hex"), type=ClusterSnapshot)
    assert len(old.mean) == 6 < len(FEATURES)
    centres = np.asarray(old.centers) * np.asarray(old.std) + np.asarray(old.mean)  # raw units
    x = np.vstack([centres[0] + 0.01, centres[0] - 0.01])
    extra = np.array([[0.0], [1.0]])  # no order on a discount, every order on one
    assert old.assign(np.hstack([x, extra])).tolist() == old.assign(x).tolist() == [0, 0]
    # its centre in z-scores: spend 0.5, frequency -1.0, recency 0.25 (and usage words, not read)
    assert cluster_name(old, 2, "en", {"purchases"}) == "rare buyer, large orders, lapsed"
