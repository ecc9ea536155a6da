from __future__ import annotations

import zlib

import pytest

from segstream.state.keys import Keys, shard_of

IDS = ["alice", "c0000001", "a{b}c", "{7}", "}{", "x:c:y", "ss:{3}:c:z", "客户-甲", "顾客:{上海}", "", "{}", "é"]


def test_the_shard_is_crc32_of_the_utf8_id_and_stable() -> None:
    # fixed values: a different hash would strand every stored customer in the wrong shard
    assert [shard_of(c, 16) for c in ("alice", "客户-甲", "c0000001")] == [7, 8, 0]
    assert [shard_of(c, 4096) for c in ("alice", "客户-甲", "c0000001")] == [3143, 2600, 2480]
    assert shard_of("alice", 16) == zlib.crc32(b"alice") % 16
    assert {shard_of(f"c{i}", 16) for i in range(500)} == set(range(16))
    assert all(shard_of(c, 1) == 0 for c in IDS)


def test_customer_key_carries_the_shard_as_hash_tag() -> None:
    k = Keys("ss", 16)
    s = k.shard_of("alice")
    assert k.customer("alice") == f"ss:{{{s}}}:c:alice"
    assert k.customer("alice").startswith("ss:")
    # every key of one shard hashes on the same tag: the first {...} in the key
    shard_keys = (k.segment_counts(s), k.stats(s), k.histograms(s), k.due(s, 3), k.due_min(s), k.due_legacy(s))
    for key in (k.customer("alice"), *shard_keys, k.flow(s, 9)):
        assert key[key.index("{") + 1 : key.index("}")] == str(s)
    assert (k.clock, k.snapshot("rfm"), k.rules_generation, k.rescore_request, k.recent_churn) == (
        "ss:clock",
        "ss:snap:rfm",
        "ss:rules:gen",
        "ss:rescore",
        "ss:recent:churn",
    )


@pytest.mark.parametrize("cid", IDS)
def test_ids_with_braces_colons_and_chinese_parse_back(cid: str) -> None:
    k = Keys("t1", 7)
    key = k.customer(cid)
    assert k.customer_id_of(key) == cid
    assert k.customer_id_of(key.encode()) == cid
    assert k.shard_of_key(key.encode()) == k.shard_of(cid)
    assert k.customer(cid).startswith(k.customer_head(k.shard_of(cid)))


def test_customer_pattern_matches_customer_keys_only() -> None:
    from fnmatch import fnmatchcase

    k = Keys("ss", 16)
    pat = k.customer_pattern
    assert all(fnmatchcase(k.customer(c), pat) for c in IDS if "[" not in c)
    others = (k.stats(3), k.due(0, 1), k.due_min(0), k.due_legacy(2), k.flow(1, 5), k.clock, k.snapshot("c"))
    assert not any(fnmatchcase(x, pat) for x in others)


def test_the_due_slot_is_crc32_above_the_shard_part_and_stable() -> None:
    # fixed values: a different slot would leave each customer's old due entry behind
    k = Keys("ss", 16)
    assert [k.due_slot_of(c) for c in ("alice", "客户-甲", "c0000001")] == [964, 674, 155]
    assert [Keys("t", 7, 5).due_slot_of(c) for c in ("alice", "客户-甲", "c0000001")] == [0, 4, 4]
    assert k.due(7, 964) == "ss:{7}:due:964"
    assert (k.due_min(7), k.due_legacy(7)) == ("ss:{7}:duemin", "ss:{7}:due")


def test_due_slots_of_one_shard_fill_evenly() -> None:
    # 200,000 ids over 16 shards x 64 slots: ~195 per slot; the bits above the shard's
    # part are as even as the shard's own (a slot derived from the shard would fill 1 in 16)
    k = Keys("ss", 16, 64)
    counts: dict[tuple[int, int], int] = {}
    for i in range(200_000):
        cid = f"c{i:07d}"
        key = (k.shard_of(cid), k.due_slot_of(cid))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 16 * 64
    assert max(counts.values()) < 1.35 * 200_000 / (16 * 64)
    assert min(counts.values()) > 0.65 * 200_000 / (16 * 64)


def test_a_prefix_with_braces_is_refused() -> None:
    with pytest.raises(ValueError, match="braces"):
        Keys("a{b}", 16)
    with pytest.raises(ValueError, match="due slots"):
        Keys("a", 16, 0)
