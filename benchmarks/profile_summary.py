"""Summarise py-spy raw profiles (``throughput.py --py-spy DIR``) side by side.

    python benchmarks/profile_summary.py DIR/compare.txt DIR/worker.txt --top 30

py-spy's raw format is one line per distinct stack, ``frame;frame;...;frame count``, with
each frame ``function (path:line)``. Without ``--idle`` it holds only samples of threads
that were running, so the shares below are of the busy samples. For each file: the busy
samples, and per function (``function (path)``, the line dropped) its inclusive share
(a stack counts once for every distinct function in it) and its self share (the leaf).
Functions are listed by their largest inclusive share in any file. ``--group LABEL=REGEX``
adds a row of the stacks in which any frame matches the regular expression.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")


def short(path: str) -> str:
    """The path from the package (site-packages/, src/) down: the same for two checkouts."""
    for mark in ("site-packages/", "/src/", "lib/python3"):
        if mark in path:
            return path.rsplit(mark, 1)[1]
    return path


def frame_key(frame: str) -> str:
    m = FRAME.match(frame.strip())
    return f"{m['fn']} ({short(m['path'])})" if m else frame.strip()


class Profile:
    """Inclusive and self sample counts per function of one raw py-spy file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total = 0
        self.inclusive: Counter[str] = Counter()
        self.self_: Counter[str] = Counter()
        self.stacks: list[tuple[list[str], int]] = []
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [frame_key(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            self.total += n
            self.stacks.append((frames, n))
            for key in set(frames):
                self.inclusive[key] += n
            if frames:
                self.self_[frames[-1]] += n

    def share(self, n: int) -> float:
        return n / self.total if self.total else 0.0

    def group(self, pattern: re.Pattern[str]) -> float:
        return self.share(sum(n for frames, n in self.stacks if any(pattern.search(f) for f in frames)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--top", type=int, default=30, help="functions listed (by inclusive share)")
    ap.add_argument("--only", default="segstream/", help="list only functions whose path contains this")
    ap.add_argument("--group", action="append", default=[], metavar="LABEL=REGEX")
    a = ap.parse_args()
    for f in a.files:
        if not f.is_file():
            raise SystemExit(f"profile_summary: no such file: {f}")
    profiles = [Profile(f) for f in a.files]
    names = [p.path.stem for p in profiles]
    print("busy samples: " + ", ".join(f"{n} {p.total:,}" for n, p in zip(names, profiles, strict=True)))
    for spec in a.group:
        label, sep, regex = spec.partition("=")
        if not sep:
            raise SystemExit(f"profile_summary: --group wants LABEL=REGEX, got {spec!r}")
        shares = " | ".join(f"{p.group(re.compile(regex)):6.1%}" for p in profiles)
        print(f"{label:60} {shares}")
    keys = {k for p in profiles for k in p.inclusive if a.only in k}
    ranked = sorted(keys, key=lambda k: -max(p.share(p.inclusive[k]) for p in profiles))[: a.top]
    head = " | ".join(f"{n[:14]:>14} incl / self" for n in names)
    print(f"\n{'function (path)':70} {head}")
    for k in ranked:
        cells = " | ".join(f"{p.share(p.inclusive[k]):14.1%} / {p.share(p.self_[k]):4.1%}" for p in profiles)
        print(f"{k[:70]:70} {cells}")


if __name__ == "__main__":
    main()
