"""An open-loop, fixed-rate load generator for HTTP/1.1 and Redis, with one client pattern
for both (so the API and the bare Redis lookup it makes are measured alike).

    python benchmarks/loadgen.py http-get  --port 6068 --rate 2000 --seconds 10 --ids ids.txt --token T
    python benchmarks/loadgen.py redis-get --port 6379 --rate 2000 --seconds 10 --ids keys.txt

Run as its own process (benchmarks/api_latency.py starts it). Request i is due at
``t0 + i / rate`` whatever happened to the ones before (open loop: a slow answer does not
slow the offered load). It goes out on one of ``--connections`` kept-alive connections as
soon as one is free, and its latency is counted from the time it was *due*, so time spent
waiting for a connection counts (no coordinated omission, as wrk2 measures). Both protocols
are written and parsed by hand on asyncio streams (Redis replies with hiredis), the same
few microseconds of client work on either side.

Modes: ``http-get`` (GET /customers/{id}), ``http-batch`` (POST /customers:batchGet of
``--batch`` ids), ``redis-get`` (GET key), ``redis-mget`` (MGET of ``--batch`` keys). The ids
file holds one id (http) or Redis key (redis) per line; each request takes random ones
(seeded). Prints one JSON object: offered and achieved rate, errors, latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import hiredis
import numpy as np


def resp(*parts: str) -> bytes:
    """A Redis command in RESP."""
    out = [f"*{len(parts)}\r\n".encode()]
    for p in parts:
        b = p.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str) -> None:
        self.reader, self.writer, self.mode = reader, writer, mode
        self.parser = hiredis.Reader() if mode.startswith("redis") else None

    async def call(self, request: bytes) -> bool:
        """Send one request and read its whole answer; True when it succeeded."""
        self.writer.write(request)
        if self.parser is not None:
            while True:
                reply = self.parser.gets()
                if reply is not False:
                    return not isinstance(reply, hiredis.ReplyError)
                self.parser.feed(await self.reader.read(65536))
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 304"))


def requests_for(a: argparse.Namespace, ids: list[str], n: int) -> list[bytes]:
    rng = random.Random(a.seed)
    auth = f"Authorization: Bearer {a.token}\r\n" if a.token else ""
    host = f"Host: {a.host}:{a.port}\r\n"
    out: list[bytes] = []
    for _ in range(n):
        if a.mode == "redis-get":
            out.append(resp("GET", rng.choice(ids)))
        elif a.mode == "redis-mget":
            out.append(resp("MGET", *rng.sample(ids, a.batch)))
        elif a.mode == "http-get":
            path = "/customers/" + urllib.parse.quote(rng.choice(ids), safe="")
            out.append(f"GET {path} HTTP/1.1\r\n{host}{auth}\r\n".encode())
        else:  # http-batch
            body = json.dumps({"ids": rng.sample(ids, a.batch)}).encode()
            head = f"POST /customers:batchGet HTTP/1.1\r\n{host}{auth}Content-Type: application/json\r\n"
            out.append(head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return out


async def run(a: argparse.Namespace) -> dict[str, Any]:
    ids = [line for line in Path(a.ids).read_text(encoding="utf-8").splitlines() if line]
    warm = int(a.rate * a.warmup)
    n = int(a.rate * a.seconds)
    reqs = requests_for(a, ids, warm + n)
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(a.connections):
        pool.put_nowait(Conn(*await asyncio.open_connection(a.host, a.port), a.mode))
    latencies = np.zeros(warm + n)
    failed = 0

    async def one(i: int, due: float) -> None:
        nonlocal failed
        conn = await pool.get()
        try:
            ok = await conn.call(reqs[i])
        finally:
            pool.put_nowait(conn)
        latencies[i] = time.perf_counter() - due
        failed += (not ok) and i >= warm

    tasks = []
    t0 = time.perf_counter() + 0.05
    for i in range(warm + n):
        due = t0 + i / a.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - (t0 + warm / a.rate)
    ms = latencies[warm:] * 1000
    return {
        "mode": a.mode,
        "offered_per_s": a.rate,
        "achieved_per_s": round(n / wall, 1),
        "requests": n,
        "failed": failed,
        "connections": a.connections,
        "batch": a.batch if a.mode in ("http-batch", "redis-mget") else 1,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["http-get", "http-batch", "redis-get", "redis-mget"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True, help="requests per second offered")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load not counted, first")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--ids", required=True, help="file of ids (http) or keys (redis), one per line")
    ap.add_argument("--token", default="")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.rate <= 0 or a.seconds <= 0 or a.connections < 1:
        sys.exit("loadgen: --rate and --seconds must be > 0, --connections >= 1")
    print(json.dumps(asyncio.run(run(a))))


if __name__ == "__main__":
    main()
