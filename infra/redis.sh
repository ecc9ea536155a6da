#!/usr/bin/env bash
# Local Redis: Debian's redis-server on 127.0.0.1 (installed with apt-get if missing).
#   infra/redis.sh up       start it (no-op when this script already started it), wait for PING
#   infra/redis.sh down     stop the server this script started (by pid file only)
#   infra/redis.sh status
# Settings: REDIS_HOST (127.0.0.1), REDIS_PORT (6379), REDIS_DATA_DIR (.cache/redis-data),
#   REDIS_PERSIST=1 to turn on append-only persistence (off by default: tests start empty).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
cache=${SEGSTREAM_CACHE:-$root/.cache}
data=${REDIS_DATA_DIR:-$cache/redis-data-$port}
run=$cache/run
pidfile=$run/redis-$port.pid

die() { echo "redis.sh: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }
alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

install() {
  command -v redis-server >/dev/null && return 0
  command -v apt-get >/dev/null || die "redis-server is missing and apt-get is not available; install Redis >= 7"
  echo "redis.sh: installing redis-server with apt-get"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server; } \
    >"$cache/apt-redis.log" 2>&1 || die "apt-get could not install redis-server (see $cache/apt-redis.log)"
}

up() {
  mkdir -p "$cache" "$run" "$data"
  if alive; then echo "redis.sh: already running (pid $(cat "$pidfile")) on $host:$port"; return 0; fi
  port_open "$port" && die "port $host:$port is already in use by another process; set REDIS_PORT or stop it"
  install
  persist=(--save "" --appendonly no)
  [ "${REDIS_PERSIST:-0}" = 1 ] && persist=(--save "" --appendonly yes --appendfsync everysec)
  redis-server --bind "$host" --port "$port" --daemonize yes --pidfile "$pidfile" \
    --dir "$data" --logfile "$data/redis.log" --protected-mode yes "${persist[@]}" \
    || die "redis-server failed to start (see $data/redis.log)"
  for _ in $(seq 1 50); do
    if redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; then
      echo "redis.sh: Redis up on $host:$port (pid $(cat "$pidfile"))"; return 0
    fi
    sleep 0.2
  done
  die "redis-server did not answer on $host:$port (see $data/redis.log)"
}

down() {
  if ! [ -f "$pidfile" ]; then echo "redis.sh: not started by this script (no $pidfile)"; return 0; fi
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
  echo "redis.sh: stopped (pid $pid)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  install) mkdir -p "$cache"; install ;;
  status) if alive; then echo "redis.sh: running (pid $(cat "$pidfile")) on $host:$port"; else echo "redis.sh: not running"; exit 1; fi ;;
  *) echo "usage: infra/redis.sh up|down|status|install" >&2; exit 2 ;;
esac
