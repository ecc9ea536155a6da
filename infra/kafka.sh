#!/usr/bin/env bash
# Local Apache Kafka, single node in KRaft mode, from the official jars on Maven Central.
#   infra/kafka.sh fetch    copy the broker jars into the cache (Maven)
#   infra/kafka.sh up       fetch if needed, format storage once, start, wait until it answers
#   infra/kafka.sh down     stop the broker this script started (by pid file only)
#   infra/kafka.sh status   say whether it runs
# Settings (environment): KAFKA_HOST (127.0.0.1), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
#   KAFKA_DATA_DIR (.cache/kafka-data), KAFKA_JARS_DIR (.cache/kafka-jars), KAFKA_HEAP (512m),
#   KAFKA_START_TIMEOUT seconds (90).
# An extra SASL_SSL listener on $KAFKA_HOST (tests/integration/test_kafka_security.py, docs/SECURITY.md):
#   KAFKA_SASL_SSL_PORT      its port (empty: none)
#   KAFKA_SSL_KEYSTORE       PKCS12 keystore with the broker's key and certificate chain
#   KAFKA_SSL_TRUSTSTORE     PKCS12 truststore with the CA of client certificates (optional)
#   KAFKA_SSL_PASSWORD_FILE  password of both stores and of the key (one line)
#   KAFKA_SSL_CLIENT_AUTH    none | requested | required (none)
#   KAFKA_SCRAM_FILE         lines "SCRAM-SHA-512=[name=U,password=P]", added when the storage is formatted
#   KAFKA_PLAIN_USERS_FILE   lines "user=password" for SASL/PLAIN on that listener
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
host=${KAFKA_HOST:-127.0.0.1}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-9093}
cache=${SEGSTREAM_CACHE:-$root/.cache}
data=${KAFKA_DATA_DIR:-$cache/kafka-data}
jars=${KAFKA_JARS_DIR:-$cache/kafka-jars}
heap=${KAFKA_HEAP:-512m}
timeout=${KAFKA_START_TIMEOUT:-90}
sasl_port=${KAFKA_SASL_SSL_PORT:-}
run=$cache/run
pidfile=$run/kafka-$port.pid
logs=$data/logs

die() { echo "kafka.sh: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }
alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

fetch() {
  if [ -f "$jars/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars; install it (apt-get install maven)"
  command -v java >/dev/null || die "a JDK (java) is needed to run Kafka; install it (apt-get install openjdk-17-jre-headless)"
  echo "kafka.sh: fetching Kafka jars from Maven Central into $jars"
  mkdir -p "$jars"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$jars" >"$cache/mvn-kafka.log" 2>&1 \
    || die "Maven could not fetch the Kafka jars (see $cache/mvn-kafka.log)"
  touch "$jars/.complete"
}

write_config() {
  mkdir -p "$data/kraft" "$logs"
  local listeners="PLAINTEXT://$host:$port,CONTROLLER://$host:$cport" advertised="PLAINTEXT://$host:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL_SSL://$host:$sasl_port"; advertised="$advertised,SASL_SSL://$host:$sasl_port"
    protocols="$protocols,SASL_SSL:SASL_SSL"
  fi
  (umask 077; cat >"$data/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$data/kraft
num.partitions=8
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=1048588
log.retention.hours=168
CONF
  )
  if [ -n "$sasl_port" ]; then sasl_ssl_config >>"$data/server.properties"; fi
}

# the SASL_SSL listener: SCRAM users live in the metadata log (KAFKA_SCRAM_FILE at format
# time, or Kafka's AlterUserScramCredentials API later), PLAIN users in its JAAS entry
sasl_ssl_config() {
  [ -n "${KAFKA_SSL_KEYSTORE:-}" ] && [ -n "${KAFKA_SSL_PASSWORD_FILE:-}" ] \
    || die "KAFKA_SASL_SSL_PORT needs KAFKA_SSL_KEYSTORE and KAFKA_SSL_PASSWORD_FILE"
  local pw plain="" l=listener.name.sasl_ssl
  pw=$(head -n 1 "$KAFKA_SSL_PASSWORD_FILE")
  if [ -n "${KAFKA_PLAIN_USERS_FILE:-}" ]; then
    while IFS='=' read -r user secret; do
      [ -n "$user" ] && plain="$plain user_$user=\"$secret\""
    done <"$KAFKA_PLAIN_USERS_FILE"
  fi
  cat <<CONF
$l.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain;
$l.ssl.keystore.type=PKCS12
$l.ssl.keystore.location=$KAFKA_SSL_KEYSTORE
$l.ssl.keystore.password=$pw
$l.ssl.key.password=$pw
$l.ssl.client.auth=${KAFKA_SSL_CLIENT_AUTH:-none}
CONF
  if [ -n "${KAFKA_SSL_TRUSTSTORE:-}" ]; then
    printf '%s\n' "$l.ssl.truststore.type=PKCS12" "$l.ssl.truststore.location=$KAFKA_SSL_TRUSTSTORE" \
      "$l.ssl.truststore.password=$pw"
  fi
}

java_args() {
  jargs=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$logs"
    -cp "$jars/*")
}
java_cmd() { java_args; "${jargs[@]}" "$@"; }

up() {
  if alive; then echo "kafka.sh: already running (pid $(cat "$pidfile")) on $host:$port"; return 0; fi
  port_open "$port" && die "port $host:$port is already in use by another process; set KAFKA_PORT or stop it"
  port_open "$cport" && die "controller port $host:$cport is already in use; set KAFKA_CONTROLLER_PORT or stop it"
  fetch
  write_config
  if [ ! -f "$data/kraft/meta.properties" ]; then
    cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    format_args=(format -t "$cluster_id" -c "$data/server.properties")
    if [ -n "${KAFKA_SCRAM_FILE:-}" ]; then
      while IFS= read -r line; do [ -n "$line" ] && format_args+=(--add-scram "$line"); done <"$KAFKA_SCRAM_FILE"
    fi
    java_cmd kafka.tools.StorageTool "${format_args[@]}" \
      >"$logs/format.log" 2>&1 || die "could not format KRaft storage (see $logs/format.log)"
  fi
  mkdir -p "$run"
  java_args
  nohup "${jargs[@]}" kafka.Kafka "$data/server.properties" >"$logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 "$timeout"); do
    if ! alive; then rm -f "$pidfile"; die "broker exited while starting (see $logs/stdout.log and $logs/server.log)"; fi
    if port_open "$port" && grep -q "Kafka Server started" "$logs/server.log" 2>/dev/null; then
      echo "kafka.sh: Kafka up on $host:$port (pid $(cat "$pidfile"), data $data)"; return 0
    fi
    sleep 1
  done
  down >/dev/null 2>&1 || true
  die "broker did not answer on $host:$port within ${timeout}s (see $logs/server.log)"
}

down() {
  if ! [ -f "$pidfile" ]; then echo "kafka.sh: not started by this script (no $pidfile)"; return 0; fi
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
  echo "kafka.sh: stopped (pid $pid)"
}

status() {
  if alive; then echo "kafka.sh: running (pid $(cat "$pidfile")) on $host:$port"; else echo "kafka.sh: not running"; return 1; fi
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) status ;;
  wipe) alive && die "stop it first"; rm -rf "$data"; echo "kafka.sh: removed $data" ;;
  *) echo "usage: infra/kafka.sh fetch|up|down|status|wipe" >&2; exit 2 ;;
esac
