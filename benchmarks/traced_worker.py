"""`segstream worker` with Python's tracemalloc on: where the worker's memory goes.

Started by ``benchmarks/soak.py --tracemalloc DIR`` in place of the worker (same settings,
same environment). Every ``SOAK_TRACE_EVERY_S`` seconds (default 300) it writes
``DIR/snapshot-<minute>.txt``: the 25 source lines holding the most traced memory, and the
25 that grew most since the first snapshot. tracemalloc sees Python's allocations (objects,
buffers), not the allocator's own overhead or fragmentation: RSS can differ from its total.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def snapshots(out: Path, every: float) -> None:
    first = None
    started = time.monotonic()
    filters = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    ]
    while True:
        time.sleep(every)
        snap = tracemalloc.take_snapshot().filter_traces(filters)
        minute = round((time.monotonic() - started) / 60)
        total = sum(s.size for s in snap.statistics("filename"))
        lines = [f"traced {total / 2**20:.1f} MiB at minute {minute}", "", "largest:"]
        lines += [str(s) for s in snap.statistics("lineno")[:25]]
        if first is not None:
            lines += ["", f"grown since minute {first[0]}:"]
            lines += [str(s) for s in snap.compare_to(first[1], "lineno")[:25]]
        else:
            first = (minute, snap)
        (out / f"snapshot-{minute:03d}.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    out = Path(os.environ["SOAK_TRACE_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(1)
    every = float(os.environ.get("SOAK_TRACE_EVERY_S", "300"))
    threading.Thread(target=snapshots, args=(out, every), daemon=True).start()
    from segstream.cli import main as cli

    sys.argv = ["segstream", "worker"]
    cli()


if __name__ == "__main__":
    main()
