#!/usr/bin/env bash
# make demo: Kafka + Redis + topics + a worker + the simulator, in the foreground.
# Ctrl-C stops the simulator, the worker and the servers this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
port=${SEGSTREAM_WEB_PORT:-6066}
rate=${DEMO_RATE:-300}
logs=.cache/demo
mkdir -p "$logs"
started=() pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "demo: stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for s in "${started[@]}"; do "infra/$s.sh" down || true; done
}
trap cleanup INT TERM EXIT
for s in kafka redis; do
  if "infra/$s.sh" status >/dev/null 2>&1; then "infra/$s.sh" status; else "infra/$s.sh" up; started+=("$s"); fi
done
segstream topics create
segstream worker >"$logs/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "demo: the worker exited; see $logs/worker.log"; exit 1; }
  sleep 1
done
segstream simulate --rate "$rate" --no-progress >"$logs/simulator.log" 2>&1 &
pids+=($!)
cat <<MSG

segstream demo is running (simulator: $rate events/s of profiles, purchases, usage and feedback into Kafka).
  dashboard            http://127.0.0.1:$port/
  segment changes      .venv/bin/segstream watch            (live, one JSON per line)
  one customer         .venv/bin/segstream customer c0000001   or  curl http://127.0.0.1:$port/customers/c0000001
  populations          .venv/bin/segstream status            or  curl http://127.0.0.1:$port/segments
  logs                 $logs/worker.log, $logs/simulator.log
Ctrl-C stops everything this demo started.

MSG
while kill -0 "${pids[0]}" 2>/dev/null; do
  sleep 5
  curl -fs "http://127.0.0.1:$port/segments" 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["stats"]; print("demo: clock", d["stream_clock"], "| customers", s.get("customers",0), "| events applied", sum(v for k,v in s.items() if k.startswith("events:")), "| dead letters", sum(v for k,v in s.items() if k.startswith("dlq:")))' \
    2>/dev/null || true
done
echo "demo: the worker stopped; see $logs/worker.log"
