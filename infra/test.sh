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
# the metrics test scrapes a worker with a real Prometheus, the dashboard test drives Chromium
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the suite needs ${missing[*]} (Debian packages); install them or run as root" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
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
python -m pytest -p no:cacheprovider --durations=30 "$@"
echo "make test took $(( $(date +%s) - t0 ))s"
