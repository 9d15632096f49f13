#!/usr/bin/env bash
# kafka.sh start|stop|status|kill|topics ARGS... — a single-node Apache Kafka 4.x
# broker+controller (KRaft) for dev and tests. Jars come from Maven Central via
# scripts/kafka/pom.xml into $PULSESTREAM_LOCAL/kafka/libs (re-resolved when the pom
# changes); data in $PULSESTREAM_LOCAL/kafka/data; log $PULSESTREAM_LOCAL/logs/kafka.log.
#   kill          SIGKILL the broker (fault tests); a later start recovers.
#   topics ARGS   run Kafka's TopicCommand against $PULSESTREAM_KAFKA_BROKERS,
#                 e.g. `kafka.sh topics --create --topic events.v1 --partitions 3`.
#   libs          only resolve the jars (scripts/kafka-cluster.sh shares them).
# If PULSESTREAM_KAFKA_BROKERS points elsewhere, start/status only check it.
# Tests that need a secured listener (testkit/testenv's StartSecureKafka) set:
#   PULSESTREAM_KAFKA_EXTRA_PROPERTIES  a file appended to server.properties (a later key wins)
#   PULSESTREAM_KAFKA_FORMAT_ARGS       extra storage-format arguments (e.g. --add-scram ...)
#   PULSESTREAM_KAFKA_HEAP              the broker's -Xmx (default 1g)
#   PULSESTREAM_KAFKA_JVM_OPTS          extra JVM options of the broker (kafka-cluster.sh: C1 only, serial GC)
#   PULSESTREAM_KAFKA_START_SECS        how long start waits for the broker, then for its admin API
#                                       (default 90 and 30; kafka-cluster.sh starts three at once)
# scripts/kafka-cluster.sh runs three of these as one replicated cluster the same way.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POM="$PULSESTREAM_ROOT/scripts/kafka/pom.xml"
K="$PULSESTREAM_LOCAL/kafka"
LOG="$PULSESTREAM_LOCAL/logs/kafka.log"
PIDFILE="$K/kafka.pid"
PORT="$PULSESTREAM_KAFKA_PORT"
CPORT="$PULSESTREAM_KAFKA_CONTROLLER_PORT"
LOCAL_BROKERS="127.0.0.1:$PORT"

# ensure_libs: copy the pom's jars into $K/libs when missing or the pom changed.
ensure_libs() {
  local sum; sum=$(sha256sum "$POM" | cut -d' ' -f1)
  [ -d "$K/libs" ] && [ "$(cat "$K/libs.stamp" 2>/dev/null)" = "$sum" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  say "resolving Kafka jars with Maven (scripts/kafka/pom.xml)"
  mkdir -p "$K"; rm -rf "$K/libs.new"
  local mlog="$PULSESTREAM_LOCAL/logs/kafka-mvn.log"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$K/libs.new" \
    >"$mlog" 2>&1 || die "mvn could not resolve the Kafka jars" "$mlog"
  rm -rf "$K/libs"; mv "$K/libs.new" "$K/libs"
  echo "$sum" >"$K/libs.stamp"
}

# tool CLASS ARGS...: run a Kafka CLI class quietly (warnings to stderr only),
# killed after $TOOL_TIMEOUT seconds (default 600).
tool() {
  timeout "${TOOL_TIMEOUT:-600}" java -Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$K/tools-log4j2.properties" -cp "$K/libs/*" "$@"
}
topics() { tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$PULSESTREAM_KAFKA_BROKERS" "$@"; }
# any_port_open: a quick TCP check of the first reachable broker address.
any_port_open() {
  local b
  for b in ${PULSESTREAM_KAFKA_BROKERS//,/ }; do port_open "${b%:*}" "${b##*:}" && return 0; done
  return 1
}
# admin_ok: the broker answers a real metadata request (~1 s of JVM start; a third of
# PULSESTREAM_KAFKA_START_SECS at most, 20 s by default: on a loaded machine the CLI's
# JVM alone can take longer than 20 s).
admin_ok() { any_port_open && TOOL_TIMEOUT=$((${PULSESTREAM_KAFKA_START_SECS:-60} / 3)) topics --list >/dev/null 2>&1; }
kafka_running() { [ -f "$PIDFILE" ] && proc_is "$(cat "$PIDFILE")" kafka.Kafka; }

write_config() {
  mkdir -p "$K/data"
  cat >"$K/server.properties" <<EOF
# written by scripts/kafka.sh on every start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$K/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# a SIGKILLed broker's old registration blocks its restart until this session
# times out (default 9 s): shorter, so fault tests restart faster
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4500
EOF
  if [ -n "${PULSESTREAM_KAFKA_EXTRA_PROPERTIES:-}" ]; then
    { echo "# from $PULSESTREAM_KAFKA_EXTRA_PROPERTIES"; cat "$PULSESTREAM_KAFKA_EXTRA_PROPERTIES"; } >>"$K/server.properties"
  fi
  # broker: everything to stdout, which start() appends to $LOG
  cat >"$K/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
# per-partition chatter on every start (thousands of lines)
logger.coord.name = org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime
logger.coord.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  # CLI tools: warnings only, to stderr, so stdout stays their answer
  sed -e 's/^rootLogger.level = INFO/rootLogger.level = WARN/' \
      -e 's/^appender.out.type = Console/&\nappender.out.target = SYSTEM_ERR/' \
      "$K/log4j2.properties" >"$K/tools-log4j2.properties"
}

# format the log dir once, with a cluster id generated once and kept in $K/cluster.id
format_once() {
  [ -f "$K/data/meta.properties" ] && return 0
  if ! grep -qE '^[A-Za-z0-9_][A-Za-z0-9_-]{21}$' "$K/cluster.id" 2>/dev/null; then
    # an id starting with '-' (1 in 64) would be read as an option by format: draw again
    for _ in 1 2 3 4 5 6; do
      tool kafka.tools.StorageTool random-uuid | tail -1 >"$K/cluster.id"
      if grep -qE '^[A-Za-z0-9_]' "$K/cluster.id"; then break; fi
    done
  fi
  say "formatting $K/data (cluster id $(cat "$K/cluster.id"))"
  local extra=()
  read -ra extra <<<"${PULSESTREAM_KAFKA_FORMAT_ARGS:-}"
  tool kafka.tools.StorageTool format -t "$(cat "$K/cluster.id")" -c "$K/server.properties" "${extra[@]}" \
    >>"$LOG" 2>&1 || die "kafka storage format failed" "$LOG"
}

preflight() {
  is_external PULSESTREAM_KAFKA_BROKERS "$LOCAL_BROKERS" && return 0
  port_free_or_same Kafka "$PORT" kafka.Kafka PULSESTREAM_KAFKA_PORT
  port_free_or_same "the Kafka controller" "$CPORT" kafka.Kafka PULSESTREAM_KAFKA_CONTROLLER_PORT
}

start() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  if is_external PULSESTREAM_KAFKA_BROKERS "$LOCAL_BROKERS"; then
    say "PULSESTREAM_KAFKA_BROKERS is external: only checking it"
    ensure_libs
    admin_ok || die "kafka at $PULSESTREAM_KAFKA_BROKERS does not answer"
    say "kafka answers"; return
  fi
  preflight
  if kafka_running; then   # ours: may still be starting
    say "kafka already running on $LOCAL_BROKERS: verifying"
    wait_for_pid "kafka (admin API)" 90 "$LOG" "$PIDFILE" admin_ok
    return
  fi
  if port_open 127.0.0.1 "$PORT"; then   # not ours: must answer right away
    say "something already listens on $LOCAL_BROKERS: verifying it is kafka"
    ensure_libs
    wait_for "kafka (admin API)" 15 "$LOG" admin_ok
    return
  fi
  ensure_libs
  write_config
  format_once
  port_open 127.0.0.1 "$CPORT" && die "controller port $CPORT is taken by another process"
  say "starting kafka on $LOCAL_BROKERS (controller 127.0.0.1:$CPORT)"
  # keep one old log once it passes 50 MB; then look for "started" only in new lines
  [ "$(stat -c %s "$LOG" 2>/dev/null || echo 0)" -lt 52428800 ] || mv "$LOG" "$LOG.1"
  local from; from=$(($(stat -c %s "$LOG" 2>/dev/null || echo 0) + 1))
  # setsid: own session, so the broker outlives this shell and its job control
  local jvm=()
  read -ra jvm <<<"${PULSESTREAM_KAFKA_JVM_OPTS:-}"
  setsid nohup java -Xmx"${PULSESTREAM_KAFKA_HEAP:-1g}" "${jvm[@]}" -Dlog4j2.configurationFile="$K/log4j2.properties" \
    -cp "$K/libs/*" kafka.Kafka "$K/server.properties" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  # (grep -c, not -q: an early exit would SIGPIPE tail and fail under pipefail)
  # shellcheck disable=SC2317
  started() { port_open 127.0.0.1 "$PORT" && tail -c +"$from" "$LOG" | grep -c 'Kafka Server started' >/dev/null; }
  wait_for_pid kafka "${PULSESTREAM_KAFKA_START_SECS:-90}" "$LOG" "$PIDFILE" started
  wait_for_pid "kafka (admin API)" "${PULSESTREAM_KAFKA_START_SECS:-30}" "$LOG" "$PIDFILE" admin_ok
}

stop() {
  if is_external PULSESTREAM_KAFKA_BROKERS "$LOCAL_BROKERS"; then say "external kafka: not stopping it"; return; fi
  kafka_running || rm -f "$PIDFILE"
  stop_pid kafka "$PIDFILE" 30
}

kill_broker() {
  if kafka_running; then
    say "SIGKILL kafka (pid $(cat "$PIDFILE"))"
    kill -KILL "$(cat "$PIDFILE")"
    while pid_alive "$PIDFILE"; do sleep 0.1; done
  else
    say "kafka is not running"
  fi
}

status() {
  [ -d "$K/libs" ] || { say "kafka: no jars yet (run start)"; return 1; }
  if admin_ok; then say "kafka: up ($PULSESTREAM_KAFKA_BROKERS)"; else say "kafka: down ($PULSESTREAM_KAFKA_BROKERS)"; return 1; fi
}

case "${1:-}" in
  start | stop | status | preflight) "$1" ;;
  kill) kill_broker ;;
  topics) shift; [ -d "$K/libs" ] || ensure_libs; topics "$@" ;;
  libs) ensure_libs ;;
  *) die "usage: $0 start|stop|status|preflight|kill|libs|topics ARGS..." ;;
esac
