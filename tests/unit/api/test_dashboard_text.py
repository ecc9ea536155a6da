"""The dashboard's text helpers, run by Node on the page's own source: what an operator reads
for odd customer ids, counts of one, and the flow row of customers new in a dimension."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from segstream.api.dashboard import DASHBOARD_HTML

NODE = shutil.which("node")
HELPERS = ("num", "fmtInt", "plural", "showId", "clip", "ENTERED")


def source_of(name: str) -> str:
    """One top-level ``const`` or ``function`` of the page's script, as written."""
    m = re.search(rf"^(const {name} = [^\n]*|function {name}\(.*?^}})$", DASHBOARD_HTML, re.M | re.S)
    assert m, f"{name} is not in the dashboard's script"
    return m.group(1)


def run(expr: str) -> object:
    assert NODE, "node is not installed (the brief's machine has it)"
    script = "\n".join(source_of(n) for n in HELPERS) + f"\nprocess.stdout.write(JSON.stringify({expr}));"
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    ("customer_id", "shown"),
    [
        (" ", '"\\u{20}"'),  # would be a blank cell
        ("", '""'),
        (" c1", '"\\u{20}c1"'),
        ("c1\u200b", '"c1\\u{200b}"'),  # zero-width space: looks like c1
        ("c\t1", '"c\\u{9}1"'),
        ("Ann Lee", "Ann Lee"),
        ("c0000001", "c0000001"),
        ("客户一号", "客户一号"),
    ],
)
def test_customer_ids_that_would_look_blank_or_like_another_are_shown_quoted(customer_id: str, shown: str) -> None:
    assert run(f"showId({json.dumps(customer_id)})") == shown


def test_counts_of_one_are_singular() -> None:
    assert run("[plural(1, 'segment'), plural(2, 'segment'), plural(0, 'move'), plural(1, 'customer')]") == [
        "1 segment",
        "2 segments",
        "0 moves",
        "1 customer",
    ]


def test_the_flow_row_of_newcomers_is_not_named_like_the_segment_new() -> None:
    entered = run("ENTERED")
    assert isinstance(entered, str) and entered.strip("()").lower() != "new"
    assert "“(entered)”" in DASHBOARD_HTML  # the legend above the flows explains it
