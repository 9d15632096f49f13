# The topics Job (templates/topics-job.yaml) runs this with bash -e in the
# apache/kafka image: create the event, DLQ and quarantine topics when missing, apply their
# configs, warn when an existing topic's partition count differs. Kafka client
# security comes from TLS, TLS_CA, TLS_CERT, TLS_KEY, SASL_MECHANISM,
# SASL_USERNAME and SASL_PASSWORD (the services' kafka-tls* and kafka-sasl-*);
# KAFKA_BIN is where kafka-topics.sh and kafka-configs.sh live; files go to
# TMPDIR (default /tmp). The password goes into a JAAS string: it must not
# contain a double quote or a backslash.
# platform/kafka's TestSASLSSLBrokerWithSCRAMAndPLAIN runs it against a SASL_SSL broker.
kt="${KAFKA_BIN:-/opt/kafka/bin}/kafka-topics.sh"
kc="${KAFKA_BIN:-/opt/kafka/bin}/kafka-configs.sh"
# client settings of the services' kafka-tls* and kafka-sasl-* (Kafka's Java names)
tmp="${TMPDIR:-/tmp}"
cc="$tmp/kafka-client.properties"
: >"$cc"
proto=PLAINTEXT
if [ "$TLS" = true ]; then proto=SSL; fi
if [ -n "$SASL_MECHANISM" ]; then
  if [ "$TLS" = true ]; then proto=SASL_SSL; else proto=SASL_PLAINTEXT; fi
  module=org.apache.kafka.common.security.scram.ScramLoginModule
  if [ "$SASL_MECHANISM" = PLAIN ]; then module=org.apache.kafka.common.security.plain.PlainLoginModule; fi
  printf 'sasl.mechanism=%s\nsasl.jaas.config=%s required username="%s" password="%s";\n' \
    "$SASL_MECHANISM" "$module" "$SASL_USERNAME" "$SASL_PASSWORD" >>"$cc"
fi
echo "security.protocol=$proto" >>"$cc"
if [ -n "$TLS_CA" ]; then printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$TLS_CA" >>"$cc"; fi
if [ -n "$TLS_CERT" ]; then
  cat "$TLS_KEY" "$TLS_CERT" >"$tmp/kafka-client.pem" # Kafka's PEM keystore: key and chain in one file
  printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\n' "$tmp/kafka-client.pem" >>"$cc"
fi
ensure() { # topic configs
  "$kt" --bootstrap-server "$BROKERS" --command-config "$cc" --create --if-not-exists --topic "$1" \
    --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR"
  "$kc" --bootstrap-server "$BROKERS" --command-config "$cc" --alter --entity-type topics --entity-name "$1" --add-config "$2"
  n=$("$kt" --bootstrap-server "$BROKERS" --command-config "$cc" --describe --topic "$1" | tee /dev/stderr | grep -c "Partition: ")
  if [ "$n" != "$PARTITIONS" ]; then
    echo "WARNING: topic $1 has $n partitions, kafka-partitions is $PARTITIONS: an existing topic's partitions are never changed (keys would move)" >&2
  fi
}
ensure "$TOPIC" "$TOPIC_CONFIGS"
ensure "$DLQ_TOPIC" "$DLQ_TOPIC_CONFIGS"
ensure "$QUARANTINE_TOPIC" "$QUARANTINE_TOPIC_CONFIGS"
