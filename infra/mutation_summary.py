"""Per-file summary of the last `mutmut run` (read from mutants/**/*.py.meta).

Usage: python infra/mutation_summary.py [--survivors] [--diffs] [PATTERN]

Prints, per mutated file: mutants, killed, survived, timeouts, other (no tests, not
checked, suspicious...), and the killed share. ``--survivors`` also lists the surviving
mutants' names (and timeouts), ``--diffs`` their diffs (what ``mutmut show NAME`` prints),
``PATTERN`` keeps the mutants whose name contains it (``segstream.agents.step.``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.__main__ import status_by_exit_code

SHOWN = ("survived", "timeout")


def main(argv: list[str]) -> int:
    pattern = next((a for a in argv if not a.startswith("--")), "")
    metas = sorted(Path("mutants").glob("**/*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `make mutation` first")
        return 1
    rows, total, survivors = [], Counter(), []
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        c = Counter(status_by_exit_code[code] for code in codes.values())
        survivors += sorted(k for k, code in codes.items() if status_by_exit_code[code] in SHOWN and pattern in k)
        name = str(meta.relative_to("mutants"))[: -len(".meta")]
        rows.append((name, len(codes), c))
        total.update(c)
    print(f"{'file':44} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'other':>5} {'killed %':>8}")

    def line(name: str, n: int, c: Counter[str]) -> None:
        other = n - c["killed"] - c["survived"] - c["timeout"]
        share = 100 * c["killed"] / n
        print(f"{name:44} {n:7} {c['killed']:7} {c['survived']:8} {c['timeout']:7} {other:5} {share:7.1f}%")

    for name, n, c in rows:
        line(name, n, c)
    line("all", sum(n for _, n, _ in rows), total)
    if "--survivors" in argv or "--diffs" in argv:
        print("\nsurvived (or timed out):")
        for name in survivors:
            print(" ", name)
    if "--diffs" in argv:
        from mutmut.__main__ import Config, find_mutant, get_diff_for_mutant

        Config.ensure_loaded()
        for name in survivors:
            print(f"\n# {name}")
            print(get_diff_for_mutant(name, path=find_mutant(name).path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
