#!/usr/bin/env bash
# kafka-cluster.sh start|stop|status|kill|brokers|topics [NODE|ARGS...] — a replicated
# Apache Kafka on loopback: three (or more) KRaft nodes, each a combined broker+controller
# run by scripts/kafka.sh (same jars, same start and readiness logic), every topic with
# replication factor 3 by default, min.insync.replicas=2 and unclean leader election off
# (the internal topics too). Node N keeps its data and log (logs/kafka.log) in
# $PULSESTREAM_LOCAL/kafka-cluster/nodeN.
#   start [N]    start every node (in parallel: a node waits for a quorum of controllers), or node N
#   stop [N]     controlled shutdown (SIGTERM) of every node, or of node N
#   kill N       SIGKILL node N (fault tests); `start N` brings it back on its data
#   status       which nodes answer
#   brokers      print the bootstrap list (127.0.0.1:port,...)
#   topics ARGS  Kafka's TopicCommand against the cluster
# Ports: PULSESTREAM_KAFKA_CLUSTER_PORTS and PULSESTREAM_KAFKA_CLUSTER_CONTROLLER_PORTS,
# comma-separated, one per node (defaults in env.sh). Heap per node: PULSESTREAM_KAFKA_HEAP
# (default 256m here); each start waits up to PULSESTREAM_KAFKA_START_SECS (default 180 here: three
# brokers and their CLI checks start at once). PULSESTREAM_KAFKA_EXTRA_PROPERTIES, when set, is appended to every
# node's settings. `make dev` and the shared test servers stay on the single broker of
# scripts/kafka.sh; tests start their own cluster on free ports (testenv.StartKafkaCluster).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA="$PULSESTREAM_ROOT/scripts/kafka.sh"
C="$PULSESTREAM_LOCAL/kafka-cluster"
IFS=, read -ra PORTS <<<"$PULSESTREAM_KAFKA_CLUSTER_PORTS"
IFS=, read -ra CPORTS <<<"$PULSESTREAM_KAFKA_CLUSTER_CONTROLLER_PORTS"
N=${#PORTS[@]}
[ "$N" -ge 3 ] && [ "$N" -eq ${#CPORTS[@]} ] ||
  die "PULSESTREAM_KAFKA_CLUSTER_PORTS and PULSESTREAM_KAFKA_CLUSTER_CONTROLLER_PORTS need one port per node, at least 3 nodes"

# Three JVMs share the machine: the C1 compiler only and the serial collector cost far
# less CPU at start (JIT threads, parallel GC threads) than the defaults.
JVM_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

# joined SEP WORDS...: the words joined by SEP.
joined() { local IFS=$1; shift; echo "$*"; }

voters() { local i v=(); for ((i = 1; i <= N; i++)); do v+=("$i@127.0.0.1:${CPORTS[i - 1]}"); done; joined , "${v[@]}"; }
brokers() { local i b=(); for ((i = 1; i <= N; i++)); do b+=("127.0.0.1:${PORTS[i - 1]}"); done; joined , "${b[@]}"; }

# check_node N: N names a node.
check_node() { [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$N" ] || die "no node '${1:-}' (nodes 1..$N)"; }

# node N ARGS...: scripts/kafka.sh for node N (its own PULSESTREAM_LOCAL, ports and settings).
node() {
  local n=$1; shift
  local dir="$C/node$n"
  PULSESTREAM_LOCAL="$dir" PULSESTREAM_KAFKA_PORT="${PORTS[n - 1]}" PULSESTREAM_KAFKA_CONTROLLER_PORT="${CPORTS[n - 1]}" \
    PULSESTREAM_KAFKA_BROKERS="127.0.0.1:${PORTS[n - 1]}" PULSESTREAM_KAFKA_EXTRA_PROPERTIES="$dir/cluster.properties" \
    PULSESTREAM_KAFKA_HEAP="${PULSESTREAM_KAFKA_HEAP:-256m}" PULSESTREAM_KAFKA_START_SECS="${PULSESTREAM_KAFKA_START_SECS:-180}" \
    PULSESTREAM_KAFKA_JVM_OPTS="${PULSESTREAM_KAFKA_JVM_OPTS:-$JVM_OPTS}" PULSESTREAM_KAFKA_FORMAT_ARGS="${PULSESTREAM_KAFKA_FORMAT_ARGS:-}" \
    bash "$KAFKA" "$@"
}

# prepare: the jars once (shared by every node), one cluster id, each node's settings.
prepare() {
  bash "$KAFKA" libs
  mkdir -p "$C"
  # a Kafka cluster id: 16 random bytes, base64url without padding
  grep -qE '^[A-Za-z0-9_-]{22}$' "$C/cluster.id" 2>/dev/null ||
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22 >"$C/cluster.id"
  local n dir
  for ((n = 1; n <= N; n++)); do
    dir="$C/node$n"
    mkdir -p "$dir/kafka"
    ln -sfn "$PULSESTREAM_LOCAL/kafka/libs" "$dir/kafka/libs"
    cp "$PULSESTREAM_LOCAL/kafka/libs.stamp" "$dir/kafka/libs.stamp"
    cp "$C/cluster.id" "$dir/kafka/cluster.id"
    {
      echo "# written by scripts/kafka-cluster.sh: node $n of $N"
      echo "node.id=$n"
      echo "controller.quorum.voters=$(voters)"
      echo "default.replication.factor=3"
      echo "min.insync.replicas=2"
      echo "unclean.leader.election.enable=false"
      echo "offsets.topic.replication.factor=3"
      echo "transaction.state.log.replication.factor=3"
      echo "transaction.state.log.min.isr=2"
      echo "share.coordinator.state.topic.replication.factor=3"
      echo "share.coordinator.state.topic.min.isr=2"
      if [ -n "${PULSESTREAM_KAFKA_EXTRA_PROPERTIES:-}" ]; then
        echo "# from $PULSESTREAM_KAFKA_EXTRA_PROPERTIES"
        cat "$PULSESTREAM_KAFKA_EXTRA_PROPERTIES"
      fi
    } >"$dir/cluster.properties"
  done
}

start_all() {
  prepare
  say "starting a $N-node Kafka cluster on $(brokers)"
  local n pids=() failed=0
  for ((n = 1; n <= N; n++)); do node "$n" start & pids+=($!); done
  for n in "${!pids[@]}"; do wait "${pids[n]}" || { say "node $((n + 1)) did not start"; failed=1; }; done
  [ "$failed" -eq 0 ] || die "the Kafka cluster did not start (logs in $C/node*/logs/kafka.log)"
  say "kafka cluster up: PULSESTREAM_KAFKA_BROKERS=$(brokers)"
}

cmd=${1:-}; shift || true
case "$cmd" in
  start)
    if [ $# -eq 0 ]; then start_all; else check_node "$1"; prepare; node "$1" start; fi ;;
  stop)
    if [ $# -eq 0 ]; then
      for ((n = N; n >= 1; n--)); do [ -d "$C/node$n" ] && node "$n" stop; done; true
    else check_node "$1"; node "$1" stop; fi ;;
  kill) check_node "${1:-}"; node "$1" kill ;;
  status)
    rc=0
    for ((n = 1; n <= N; n++)); do node "$n" status || rc=1; done
    exit $rc ;;
  brokers) brokers ;;
  topics) PULSESTREAM_LOCAL="$C/node1" PULSESTREAM_KAFKA_BROKERS=$(brokers) bash "$KAFKA" topics "$@" ;;
  *) die "usage: $0 start [N]|stop [N]|kill N|status|brokers|topics ARGS..." ;;
esac
