"""Summarise py-spy raw profiles (``throughput.py --py-spy DIR``) side by side.

    python benchmarks/profile_summary.py DIR/compare.txt DIR/worker.txt --top 30

py-spy's raw format is one line per distinct stack, ``frame;frame;...;frame count``, with
each frame ``function (path:line)``; a file may be gzipped (``.gz``, as the profiles kept in
benchmarks/results/profiles/ are). Without ``--idle`` it holds only samples of threads
that were running, so the shares below are of the busy samples. For each file: the busy
samples, and per function (``function (path)``, the line dropped) its inclusive share
(a stack counts once for every distinct function in it) and its self share (the leaf).
Functions are listed by their largest inclusive share in any file. ``--group LABEL=REGEX``
adds a row of the stacks in which a frame matches the regular expression; the groups are
exclusive (a stack counts for the first group that matches it; the rest is "other").
``--rate EVENTS_PER_S`` (one per file, as measured in its run) turns the groups' samples
into µs of one core per event: samples / (hz × seconds) / rate.

    python benchmarks/profile_summary.py old.txt new.txt --rate 9699 --rate 5908 \
        --group "unpack=^unpack .segstream/state" --group "apply=^apply_events "
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

# the worker's parts, in the order a stack is matched (docs/BENCHMARKS.md, "Before and after profiles")
WORKER_GROUPS = [
    ("leader timers (sweep, value fits, snapshots)", r"maintenance\.py"),
    ("cluster learning (leader, in a thread)", r"ClusterLearner|ModelSync\._learn"),
    ("unpack customer states", r"^unpack .segstream/state/customer"),
    ("pack customer states", r"^pack .segstream/state/customer"),
    ("self-grading and flip-back counting", r"^(Grading|FlipBacks|ChurnGrader)"),
    ("scoring every dimension", r"^(score_customer|_score_all|assign_clusters|assess|score_batch) "),
    ("applying events to states", r"^apply_events "),
    ("Redis load, client side", r"^Store\.load "),
    ("Redis save, client side", r"^(Store\.save|Store\._run_scripts|Store\._pipe_results) "),
    ("sending outputs", r"^(Sink\.send|Pipeline\._send_all|Pipeline\.emit_and_save.<locals>)"),
    ("decoding input events", r"^(Pipeline\.decode|EventCodec\.decode) "),
    ("Prometheus metrics", r"prometheus_client"),
    ("Kafka fetch (aiokafka)", r"aiokafka"),
    ("event loop in select (waiting)", r"^EpollSelector\.select"),
]
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
        text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
        for line in text.splitlines():
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


def exclusive(p: Profile, groups: list[tuple[str, re.Pattern[str]]]) -> Counter[str]:
    """Samples per group: a stack counts for the first group with a matching frame."""
    out: Counter[str] = Counter()
    for frames, n in p.stacks:
        label = next((g for g, rx in groups if any(rx.search(f) for f in frames)), "other")
        out[label] += n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--top", type=int, default=30, help="functions listed (by inclusive share)")
    ap.add_argument("--only", default="segstream/", help="list only functions whose path contains this")
    ap.add_argument("--group", action="append", default=[], metavar="LABEL=REGEX")
    ap.add_argument("--worker-groups", action="store_true", help="the groups of the worker's parts, then --group's")
    ap.add_argument("--rate", action="append", type=float, default=[], help="events/s of each file's run")
    ap.add_argument("--hz", type=float, default=100.0, help="py-spy's sampling rate")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long py-spy sampled")
    a = ap.parse_args()
    if a.rate and len(a.rate) != len(a.files):
        raise SystemExit("profile_summary: give one --rate per file, or none")
    for f in a.files:
        if not f.is_file():
            raise SystemExit(f"profile_summary: no such file: {f}")
    profiles = [Profile(f) for f in a.files]
    names = [p.path.name.split(".")[0] for p in profiles]
    print("busy samples: " + ", ".join(f"{n} {p.total:,}" for n, p in zip(names, profiles, strict=True)))
    groups = [(label, re.compile(rx)) for label, rx in WORKER_GROUPS] if a.worker_groups else []
    for spec in a.group:
        label, sep, regex = spec.partition("=")
        if not sep:
            raise SystemExit(f"profile_summary: --group wants LABEL=REGEX, got {spec!r}")
        try:
            groups.append((label, re.compile(regex)))
        except re.error as exc:
            raise SystemExit(f"profile_summary: bad regular expression {regex!r}: {exc}") from None
    if groups:
        counts = [exclusive(p, groups) for p in profiles]
        unit = "µs of a core per event" if a.rate else "share of busy samples"
        print(f"\n{'group (' + unit + ')':60} " + " | ".join(f"{n[:12]:>12}" for n in names))
        for label in [*(g for g, _ in groups), "other", "all busy samples"]:
            cells = []
            for i, (p, c) in enumerate(zip(profiles, counts, strict=True)):
                n = p.total if label == "all busy samples" else c[label]
                cells.append(f"{n / (a.hz * a.seconds) / a.rate[i] * 1e6:12.1f}" if a.rate else f"{p.share(n):12.1%}")
            print(f"{label:60} " + " | ".join(cells))
    keys = {k for p in profiles for k in p.inclusive if a.only in k}
    ranked = sorted(keys, key=lambda k: -max(p.share(p.inclusive[k]) for p in profiles))[: a.top]
    head = " | ".join(f"{n[:14]:>14} incl / self" for n in names)
    print(f"\n{'function (path)':70} {head}")
    for k in ranked:
        cells = " | ".join(f"{p.share(p.inclusive[k]):14.1%} / {p.share(p.self_[k]):4.1%}" for p in profiles)
        print(f"{k[:70]:70} {cells}")


if __name__ == "__main__":
    main()
