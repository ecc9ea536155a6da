#!/usr/bin/env bash
# make test: start Kafka and Redis unless already running, run lint and the whole suite,
# then stop only what this script started. A server that cannot start fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
started=()
cleanup() {
  for s in "${started[@]}"; do "infra/$s.sh" down || true; done
}
trap cleanup EXIT
t0=$(date +%s)
for s in kafka redis; do
  if ! "infra/$s.sh" status >/dev/null 2>&1; then
    "infra/$s.sh" up
    started+=("$s")
  else
    "infra/$s.sh" status
  fi
done
echo "== lint (ruff, mypy)"
ruff check src tests benchmarks
mypy
echo "== pytest"
mkdir -p artifacts
python -m pytest -p no:cacheprovider "$@"
echo "make test took $(( $(date +%s) - t0 ))s"
