#!/usr/bin/env bash
# make demo: Kafka + Redis + topics + a worker + the simulator, in the foreground.
#
# The simulator first backfills DEMO_DAYS (365) of history for DEMO_CUSTOMERS (1000) customers as
# fast as the worker goes, then goes on at life's pace. Redis keeps its data (append-only file
# in .cache/demo/redis) and Kafka its topics, so a second `make demo` resumes the same world.
# A worker or simulator that dies is started again, with a line saying so; only Ctrl-C stops
# the demo, and it stops the simulator, the worker and the servers this script started.
#
# Ports: KAFKA_PORT (9092), REDIS_PORT (6379), SEGSTREAM_WEB_PORT (6066: the worker's /health,
# /ready, /metrics) and SEGSTREAM_API_PORT (6068: the profile API, `segstream api`: documents,
# listings and the dashboard). The worker and the
# CLI are pointed at the first two here unless SEGSTREAM_KAFKA_BOOTSTRAP / SEGSTREAM_REDIS_URL
# are set.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
port=${SEGSTREAM_WEB_PORT:-6066}
api_port=${SEGSTREAM_API_PORT:-6068}
customers=${DEMO_CUSTOMERS:-1000}
days=${DEMO_DAYS:-365}
state=${DEMO_STATE_DIR:-.cache/demo}  # its Redis data, logs and the simulated world's start
export SEGSTREAM_KAFKA_BOOTSTRAP=${SEGSTREAM_KAFKA_BOOTSTRAP:-127.0.0.1:${KAFKA_PORT:-9092}}
export SEGSTREAM_REDIS_URL=${SEGSTREAM_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/0}
export SEGSTREAM_WEB_PORT=$port SEGSTREAM_API_PORT=$api_port
# the demo's Redis: append-only persistence in a folder of its own (the tests' Redis starts empty)
mkdir -p "$state"
state=$(cd "$state" && pwd) logs=$(cd "$state" && pwd)
export REDIS_PERSIST=1 REDIS_DATA_DIR=$state/redis
started=() worker='' sim='' api='' stopping=0

say() { printf '\r\033[K%s\n' "demo: $*"; }
cleanup() {  # $1: the exit status (0 after Ctrl-C: stopping is what was asked for)
  local rc=$1
  trap - INT TERM EXIT
  stopping=1
  say "stopping the simulator, the worker, the profile API and the servers this demo started"
  for p in $sim $worker $api; do kill "$p" 2>/dev/null; done
  for p in $sim $worker $api; do wait "$p" 2>/dev/null; done
  for s in "${started[@]}"; do "infra/$s.sh" down >/dev/null || true; done
  if [[ " ${started[*]} " == *" redis "* ]]; then
    say "stopped. Redis kept its data in $state/redis: \`make demo\` again resumes this world."
  else
    say "stopped."
  fi
  exit "$rc"
}
trap 'cleanup 0' INT TERM
trap 'cleanup $?' EXIT

for s in kafka redis; do
  if "infra/$s.sh" status >/dev/null 2>&1; then
    "infra/$s.sh" status
    [ "$s" = redis ] && say "Redis was already running: its data is kept only if it was started with persistence"
  else
    "infra/$s.sh" up || exit 1
    started+=("$s")
  fi
done
segstream topics create || exit 1

# where the simulated world starts: fixed at the first run, so later runs continue it
[ -s "$state/start" ] || date -u -d "$days days ago" +%Y-%m-%dT00:00:00+00:00 >"$state/start"
start=$(cat "$state/start")

field() {  # one field of GET /segments (stream_clock, or applied: the events applied)
  curl -fs --max-time 2 "http://127.0.0.1:$api_port/segments" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["stats"]
print({"stream_clock": d["stream_clock"] or "", "applied": sum(v for k, v in s.items() if k.startswith("events:")),
       "customers": s.get("customers", 0), "dead": sum(v for k, v in s.items() if k.startswith("dlq:"))}[sys.argv[1]])
' "$1" 2>/dev/null
}

worker_started=0 quick_exits=0
start_worker() {
  segstream worker >>"$logs/worker.log" 2>&1 &
  worker=$! worker_started=$SECONDS
}
start_api() {  # the profile API: its own process, Redis reads only (docs/SERVING.md)
  segstream api --processes 1 >>"$logs/api.log" 2>&1 &
  api=$!
}
start_simulator() {
  # resume after the last event time applied (events sent but not applied yet come again:
  # the worker applies each event id once)
  local after
  after=$(field stream_clock)
  # signups all through the history (new customers at every point) and churners of whom a
  # third come back (reactivated): every lifecycle stage is there once the backfill is done
  segstream simulate --customers "$customers" --start "$start" ${after:+--after "$after"} --rate 0 --live \
    --signup-days "$days" --comeback 0.3 --no-progress >>"$logs/simulator.log" 2>&1 &
  sim=$!
}

start_worker
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$worker" 2>/dev/null || { say "the worker could not start: $(tail -n 3 "$logs/worker.log")"; exit 1; }
  sleep 1
done
start_api
for _ in $(seq 1 60); do  # the simulator resumes from the stream clock the API reports
  curl -fs "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break
  kill -0 "$api" 2>/dev/null || { say "the API could not start: $(tail -n 3 "$logs/api.log")"; exit 1; }
  sleep 0.5
done
start_simulator
cat <<MSG

segstream demo: $customers simulated customers since $start. The simulator backfills that history
as fast as the worker goes, then goes on at life's pace.
  dashboard            http://127.0.0.1:$api_port/            (the profile API, its own process)
  segment changes      .venv/bin/segstream watch                      (live, one JSON per line)
  churn-risk alerts    .venv/bin/segstream watch --topic churn_risk
  one customer         .venv/bin/segstream customer c0000001   or  curl http://127.0.0.1:$api_port/customers/c0000001
  populations          .venv/bin/segstream status            or  curl http://127.0.0.1:$api_port/segments
  the worker           curl http://127.0.0.1:$port/ready   and  http://127.0.0.1:$port/metrics
  logs                 $logs/worker.log, $logs/simulator.log, $logs/api.log
Ctrl-C stops everything this demo started.

MSG
live=0 last=0
while [ "$stopping" = 0 ]; do
  sleep 2
  if ! kill -0 "$worker" 2>/dev/null; then
    wait "$worker" 2>/dev/null; rc=$?
    if [ $((SECONDS - worker_started)) -lt 30 ]; then quick_exits=$((quick_exits + 1)); else quick_exits=0; fi
    if [ "$quick_exits" -ge 3 ]; then
      say "the worker exited (code $rc) three times within 30 s of starting; giving up. Last lines of $logs/worker.log:"
      tail -n 5 "$logs/worker.log"
      exit 1
    fi
    say "the worker exited (code $rc); starting it again (log: $logs/worker.log)"
    start_worker
  fi
  if ! kill -0 "$api" 2>/dev/null; then
    wait "$api" 2>/dev/null; rc=$?
    say "the profile API exited (code $rc); starting it again (log: $logs/api.log)"
    sleep 1
    start_api
  fi
  if ! kill -0 "$sim" 2>/dev/null; then
    wait "$sim" 2>/dev/null; rc=$?
    say "the simulator exited (code $rc); starting it again (log: $logs/simulator.log)"
    sleep 3
    start_simulator
  fi
  clock=$(field stream_clock) applied=$(field applied)
  [ -n "$clock" ] || continue
  if [ "$live" = 0 ] && grep -q "backfill done" "$logs/simulator.log" 2>/dev/null \
    && [ "$(python3 -c "import sys; from datetime import datetime as d, UTC, timedelta as t; print(int(d.fromisoformat(sys.argv[1]) > d.now(UTC) - t(days=2)))" "$clock")" = 1 ]; then
    live=1
    say "backfill done: history up to now applied; live from here (stream clock $clock)"
  fi
  if [ "$live" = 0 ]; then
    pct=$(python3 -c "import sys; from datetime import datetime as d, UTC; s, c = d.fromisoformat(sys.argv[1]), d.fromisoformat(sys.argv[2]); print(max(0, min(100, round(100 * (c - s) / (d.now(UTC) - s)))))" "$start" "$clock")
    printf '\r\033[Kdemo: backfill %3s%% · stream clock %s · %s events applied' "$pct" "${clock%%.*}" "$applied"
  elif [ $((SECONDS - last)) -ge 30 ]; then
    last=$SECONDS
    say "live · stream clock ${clock%%.*} · $(field customers) customers · $applied events applied · $(field dead) dead letters"
  fi
done
