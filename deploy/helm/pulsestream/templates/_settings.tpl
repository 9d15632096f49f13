{{/*
Settings: which PULSESTREAM_* variables each service reads, and where each
value comes from. The lists below must equal `<service> -print-settings`
(the deploy module's TestRenderedSettingsMatchWhatServicesRead fails
otherwise). Each HTTP listener also reads <prefix>-addr, -tls-cert, -tls-key,
-read-header-timeout, -read-timeout, -write-timeout, -idle-timeout,
-max-header-bytes and -shutdown-timeout (platform/httpserver), added from
pulsestream.listeners.

Documented exceptions (read by the binary, never rendered into a Deployment):
projector's replay settings sink, from-timestamp and drop belong to the
one-off `projector replay` command (see docs/operations.md).
*/}}

{{- define "pulsestream.listeners" -}}
gateway:
  - {prefix: gateway, port: http}
projector:
  - {prefix: projector, port: ops}
query:
  - {prefix: http, port: http}
  - {prefix: admin, port: admin}
  - {prefix: console, port: console}
{{- end -}}

{{- define "pulsestream.listenerSettings" -}}
[addr, tls-cert, tls-key, read-header-timeout, read-timeout, write-timeout, idle-timeout, max-header-bytes, shutdown-timeout]
{{- end -}}

{{- define "pulsestream.settings" -}}
gateway:
  - log-level
  - log-format
  - shutdown-delay
  - health-timeout
  - tracing-otlp-endpoint
  - tracing-sample-ratio
  - auth-cache-ttl
  - signing-secret-key
  - signature-window
  - kafka-brokers
  - kafka-topic
  - kafka-dlq-topic
  - kafka-partitions
  - kafka-replication-factor
  - kafka-client-id
  - kafka-tls
  - kafka-tls-ca
  - kafka-tls-cert
  - kafka-tls-key
  - kafka-tls-server-name
  - kafka-sasl-mechanism
  - kafka-sasl-username
  - kafka-sasl-password
  - kafka-linger
  - kafka-delivery-timeout
  - kafka-max-buffered-bytes
  - kafka-max-buffered-records
  - kafka-ensure-topics
  - ingest-max-event-bytes
  - ingest-max-request-bytes
  - ingest-max-decompressed-bytes
  - ingest-max-events
  - ingest-max-depth
  - marker-ttl
  - erased-marker-ttl
  - redis-key-prefix
  - rate-limit-fail-closed
  - retry-after
  - redis-op-timeout
  - redis-cooldown
  - redis-addr
  - redis-username
  - redis-password
  - redis-db
  - redis-dial-timeout
  - redis-read-timeout
  - redis-write-timeout
  - redis-pool-size
  - redis-tls
  - redis-tls-ca
  - redis-tls-cert
  - redis-tls-key
  - redis-tls-server-name
  - postgres-url
  - postgres-max-conns
  - postgres-dial-timeout
  - postgres-tls
  - postgres-tls-ca
  - postgres-tls-cert
  - postgres-tls-key
  - postgres-tls-server-name
  - erasure-poll-interval
  - erasure-lease
  - erasure-page-size
  - erasure-projector-group
  - outcomes-flush-interval
  - schema-poll-interval
  - schema-retry-interval
  - quarantine-topic
  - quarantine-group
  - quarantine-sweep-interval
projector:
  - log-level
  - log-format
  - shutdown-delay
  - health-timeout
  - tracing-otlp-endpoint
  - tracing-sample-ratio
  - kafka-brokers
  - kafka-topic
  - kafka-dlq-topic
  - kafka-partitions
  - kafka-replication-factor
  - kafka-client-id
  - kafka-tls
  - kafka-tls-ca
  - kafka-tls-cert
  - kafka-tls-key
  - kafka-tls-server-name
  - kafka-sasl-mechanism
  - kafka-sasl-username
  - kafka-sasl-password
  - postgres-url
  - postgres-max-conns
  - postgres-dial-timeout
  - postgres-tls
  - postgres-tls-ca
  - postgres-tls-cert
  - postgres-tls-key
  - postgres-tls-server-name
  - clickhouse-addr
  - clickhouse-protocol
  - clickhouse-database
  - clickhouse-username
  - clickhouse-password
  - clickhouse-dial-timeout
  - clickhouse-max-open-conns
  - clickhouse-tls
  - clickhouse-tls-ca
  - clickhouse-tls-cert
  - clickhouse-tls-key
  - clickhouse-tls-server-name
  - projector-sinks
  - projector-group-postgres
  - projector-group-clickhouse
  - projector-batch-size
  - projector-clickhouse-known-keys
  - projector-linger
  - projector-store-timeout
  - projector-backoff-min
  - projector-backoff-max
  - projector-session-timeout
  - projector-lag-interval
  - retention-interval
  - retention-batch
query:
  - log-level
  - log-format
  - shutdown-delay
  - health-timeout
  - tracing-otlp-endpoint
  - tracing-sample-ratio
  - auth-cache-ttl
  - signing-secret-key
  - query-timeout
  - console
  - read-model-groups
  - lag-cache-ttl
  - kafka-brokers
  - kafka-topic
  - kafka-dlq-topic
  - kafka-partitions
  - kafka-replication-factor
  - kafka-client-id
  - kafka-tls
  - kafka-tls-ca
  - kafka-tls-cert
  - kafka-tls-key
  - kafka-tls-server-name
  - kafka-sasl-mechanism
  - kafka-sasl-username
  - kafka-sasl-password
  - cursor-key
  - markers-prefix
  - postgres-url
  - postgres-max-conns
  - postgres-dial-timeout
  - postgres-tls
  - postgres-tls-ca
  - postgres-tls-cert
  - postgres-tls-key
  - postgres-tls-server-name
  - clickhouse-addr
  - clickhouse-protocol
  - clickhouse-database
  - clickhouse-username
  - clickhouse-password
  - clickhouse-dial-timeout
  - clickhouse-max-open-conns
  - clickhouse-tls
  - clickhouse-tls-ca
  - clickhouse-tls-cert
  - clickhouse-tls-key
  - clickhouse-tls-server-name
  - redis-addr
  - redis-username
  - redis-password
  - redis-db
  - redis-dial-timeout
  - redis-read-timeout
  - redis-write-timeout
  - redis-pool-size
  - redis-tls
  - redis-tls-ca
  - redis-tls-cert
  - redis-tls-key
  - redis-tls-server-name
migrate:
  - log-level
  - log-format
  - migrate-timeout
  - clickhouse-schema
  - postgres-url
  - postgres-max-conns
  - postgres-dial-timeout
  - postgres-tls
  - postgres-tls-ca
  - postgres-tls-cert
  - postgres-tls-key
  - postgres-tls-server-name
  - clickhouse-addr
  - clickhouse-protocol
  - clickhouse-database
  - clickhouse-username
  - clickhouse-password
  - clickhouse-dial-timeout
  - clickhouse-max-open-conns
  - clickhouse-tls
  - clickhouse-tls-ca
  - clickhouse-tls-cert
  - clickhouse-tls-key
  - clickhouse-tls-server-name
{{- end -}}

{{/*
pulsestream.env resolves the settings of one component (dict "root" $ "component" "gateway")
to YAML {config: {ENV: value}, secret: {ENV: value}}. A value is looked up, first found wins:
  computed by the chart: <listener>-addr (from the port), <listener>-shutdown-timeout and
    shutdown-delay (from .Values.shutdown, so terminationGracePeriodSeconds covers the drain);
    <server>-tls, -tls-ca, -tls-cert, -tls-key, -tls-server-name (from .Values.tls, the
    files where pulsestream.tlsVolumes mounts them);
  <component>.secrets, <component>.config, secrets, config (keyed by flag name);
  listener (keyed by the flag name without its listener prefix);
query's markers-prefix defaults to gateway's redis-key-prefix (they must agree).
A setting without a value anywhere fails the render, naming it.
*/}}
{{- define "pulsestream.env" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $v := $root.Values -}}
{{- $sv := index $v $c | default dict -}}
{{- $svConfig := $sv.config | default dict -}}
{{- $svSecrets := $sv.secrets | default dict -}}
{{- $flags := index (include "pulsestream.settings" $root | fromYaml) $c -}}
{{- $computed := dict "shutdown-delay" (printf "%ds" (int $v.shutdown.delaySeconds)) -}}
{{- range $dep, $t := (include "pulsestream.tlsFiles" $root | fromYaml) -}}
{{- $_ := set $computed (printf "%s-tls" $dep) (toString (index $v.tls $dep).enabled) -}}
{{- $_ := set $computed (printf "%s-tls-server-name" $dep) ((index $v.tls $dep).serverName | default "") -}}
{{- $_ := set $computed (printf "%s-tls-ca" $dep) $t.ca -}}
{{- $_ := set $computed (printf "%s-tls-cert" $dep) $t.cert -}}
{{- $_ := set $computed (printf "%s-tls-key" $dep) $t.key -}}
{{- end -}}
{{- $listenerDefaults := dict -}}
{{- range (index (include "pulsestream.listeners" $root | fromYaml) $c | default list) -}}
{{- $prefix := .prefix -}}
{{- $_ := set $computed (printf "%s-addr" $prefix) (printf ":%d" (int (index $sv.ports .port))) -}}
{{- $_ := set $computed (printf "%s-shutdown-timeout" $prefix) (printf "%ds" (int $v.shutdown.drainSeconds)) -}}
{{- range (include "pulsestream.listenerSettings" $root | fromYamlArray) -}}
{{- $flag := printf "%s-%s" $prefix . -}}
{{- if not (has $flag $flags) }}{{ $flags = append $flags $flag }}{{ end -}}
{{- if hasKey $v.listener . }}{{ $_ := set $listenerDefaults $flag (index $v.listener .) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- range $where, $m := dict "config" $svConfig "secrets" $svSecrets -}}
{{- range $flag, $_ := $m -}}
{{- if not (has $flag $flags) -}}
{{- fail (printf "values: %s.%s.%s: %s reads no setting %s (a misspelled name?); the settings it reads are listed in templates/_settings.tpl" $c $where $flag $c $flag) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $v.existingSecret -}}
{{- range $flag, $val := $svSecrets -}}
{{- if $val -}}
{{- fail (printf "values: %s.secrets.%s is ignored with existingSecret (every component reads %s from it): remove it, or give %s its own value another way (%s.extraEnv)" $c $flag (include "pulsestream.envName" $flag) $c $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq $c "query") (not (hasKey $svConfig "markers-prefix")) (hasKey $v.gateway.config "redis-key-prefix") -}}
{{- $_ := set $computed "markers-prefix" (index $v.gateway.config "redis-key-prefix") -}}
{{- end -}}
{{- if and (eq $c "query") (not (hasKey $svConfig "read-model-groups")) (hasKey $v.projector.config "projector-group-postgres") (hasKey $v.projector.config "projector-group-clickhouse") -}}
{{- $_ := set $computed "read-model-groups" (printf "postgres=%s,clickhouse=%s" (index $v.projector.config "projector-group-postgres") (index $v.projector.config "projector-group-clickhouse")) -}}
{{- end -}}
{{- if and (eq $c "gateway") (not (hasKey $svConfig "erasure-projector-group")) (hasKey $v.projector.config "projector-group-postgres") -}}
{{- $_ := set $computed "erasure-projector-group" (index $v.projector.config "projector-group-postgres") -}}
{{- end -}}
{{- range $where, $m := dict (printf "%s.config" $c) $svConfig (printf "%s.secrets" $c) $svSecrets "config" $v.config "secrets" $v.secrets -}}
{{- range $flag, $_ := $m -}}
{{- if and (hasKey $computed $flag) (ne $flag "markers-prefix") (ne $flag "erasure-projector-group") (ne $flag "read-model-groups") -}}
{{- fail (printf "values: %s.%s is computed by the chart (listen addresses from %s.ports, shutdown settings from shutdown.*, TLS settings from tls.*): remove it" $where $flag $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $config := dict -}}
{{- $secret := dict -}}
{{- range $flag := $flags -}}
{{- $env := include "pulsestream.envName" $flag -}}
{{- if hasKey $computed $flag -}}
{{- $_ := set $config $env (index $computed $flag) -}}
{{- else if hasKey $svSecrets $flag -}}
{{- $_ := set $secret $env (include "pulsestream.value" (index $svSecrets $flag)) -}}
{{- else if hasKey $svConfig $flag -}}
{{- $_ := set $config $env (include "pulsestream.value" (index $svConfig $flag)) -}}
{{- else if hasKey $v.secrets $flag -}}
{{- $_ := set $secret $env (include "pulsestream.value" (index $v.secrets $flag)) -}}
{{- else if hasKey $v.config $flag -}}
{{- $_ := set $config $env (include "pulsestream.value" (index $v.config $flag)) -}}
{{- else if hasKey $listenerDefaults $flag -}}
{{- $_ := set $config $env (include "pulsestream.value" (index $listenerDefaults $flag)) -}}
{{- else -}}
{{- fail (printf "values: %s reads the setting %s (%s) but no value is given: set %s.config.%s, config.%s or secrets.%s" $c $flag $env $c $flag $flag $flag) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "config" $config "secret" $secret) -}}
{{- end -}}

{{/* pulsestream.secretEnv: env entries reading each secret setting of a component from the Secret. */}}
{{- define "pulsestream.secretEnv" -}}
{{- $env := include "pulsestream.env" . | fromYaml -}}
{{- $name := include "pulsestream.secretName" . -}}
{{- $existing := .root.Values.existingSecret -}}
{{- range $k, $_ := $env.secret }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $k }}
      {{- if and $existing (or (hasSuffix "_PASSWORD" $k) (eq $k "PULSESTREAM_SIGNING_SECRET_KEY")) }}
      # a server without a password (or a deployment without request
      # signing) needs no key in existingSecret
      optional: true
      {{- end }}
{{- end }}
{{- end -}}

{{/* pulsestream.probePort: the port serving /livez, /readyz and /metrics of a component. */}}
{{- define "pulsestream.probePort" -}}
{{- ternary "ops" "http" (eq .component "projector") -}}
{{- end -}}

{{/*
pulsestream.probeScheme: HTTPS when the listener on a component's probe port
has a TLS certificate (<listener>-tls-cert from listener, config or the
component's values), else HTTP. Probes, the ServiceMonitor and helm test
follow it: a plain-HTTP probe of a TLS listener fails and the pod restarts.
*/}}
{{- define "pulsestream.probeScheme" -}}
{{- $env := include "pulsestream.env" . | fromYaml -}}
{{- $port := include "pulsestream.probePort" . -}}
{{- $scheme := "HTTP" -}}
{{- range (index (include "pulsestream.listeners" .root | fromYaml) .component) -}}
{{- $cert := include "pulsestream.envName" (printf "%s-tls-cert" .prefix) -}}
{{- if and (eq .port $port) (or (index $env.config $cert) (index $env.secret $cert)) -}}
{{- $scheme = "HTTPS" -}}
{{- end -}}
{{- end -}}
{{- $scheme -}}
{{- end -}}

{{/* pulsestream.checkShared fails when config or secrets names a setting no component reads (a misspelled name). */}}
{{- define "pulsestream.checkShared" -}}
{{- $all := list -}}
{{- range $c, $flags := include "pulsestream.settings" . | fromYaml -}}
{{- $all = concat $all $flags -}}
{{- end -}}
{{- range $where, $m := dict "config" .Values.config "secrets" .Values.secrets -}}
{{- range $flag, $_ := $m -}}
{{- if not (has $flag $all) -}}
{{- fail (printf "values: %s.%s: no PulseStream component reads a setting %s (a misspelled name?); see templates/_settings.tpl" $where $flag $flag) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $k, $_ := .Values.listener -}}
{{- if not (has $k (include "pulsestream.listenerSettings" $ | fromYamlArray)) -}}
{{- fail (printf "values: listener.%s: HTTP listeners have no setting %s (they have %s)" $k $k (include "pulsestream.listenerSettings" $)) -}}
{{- end -}}
{{- end -}}
{{- end -}}


{{/*
pulsestream.tlsFiles: for each server (kafka, redis, postgres, clickhouse), where its CA
bundle and client certificate are mounted when tls.<server> names them, else "":
{kafka: {ca: /etc/pulsestream/tls/kafka/ca/ca.crt, cert: ..., key: ...}, ...}
*/}}
{{- define "pulsestream.tlsFiles" -}}
{{- $out := dict -}}
{{- range $dep := list "kafka" "redis" "postgres" "clickhouse" -}}
{{- $t := index $.Values.tls $dep -}}
{{- $dir := printf "/etc/pulsestream/tls/%s" $dep -}}
{{- $f := dict "ca" "" "cert" "" "key" "" -}}
{{- if and $t.ca (or $t.ca.secret $t.ca.configMap) -}}
{{- if and $t.ca.secret $t.ca.configMap -}}
{{- fail (printf "values: tls.%s.ca: set secret or configMap, not both" $dep) -}}
{{- end -}}
{{- if not $t.enabled -}}
{{- fail (printf "values: tls.%s.ca is set but tls.%s.enabled is false" $dep $dep) -}}
{{- end -}}
{{- $_ := set $f "ca" (printf "%s/ca/ca.crt" $dir) -}}
{{- end -}}
{{- if $t.clientCertSecret -}}
{{- if not $t.enabled -}}
{{- fail (printf "values: tls.%s.clientCertSecret is set but tls.%s.enabled is false" $dep $dep) -}}
{{- end -}}
{{- $_ := set $f "cert" (printf "%s/client/tls.crt" $dir) -}}
{{- $_ := set $f "key" (printf "%s/client/tls.key" $dir) -}}
{{- end -}}
{{- $_ := set $out $dep $f -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
pulsestream.tlsVolumes: the volumes and mounts of the CA bundles and client certificates
of the servers a component connects to (dict "root" $ "component" "gateway"; the topics
Job connects to Kafka only), as YAML {volumes: [...], mounts: [...]}.
*/}}
{{- define "pulsestream.tlsVolumes" -}}
{{- $v := .root.Values -}}
{{- $deps := list "kafka" -}}
{{- if ne .component "topics" -}}
{{- $flags := index (include "pulsestream.settings" .root | fromYaml) .component -}}
{{- $deps = list -}}
{{- range $dep := list "kafka" "redis" "postgres" "clickhouse" -}}
{{- if has (printf "%s-tls" $dep) $flags }}{{ $deps = append $deps $dep }}{{ end -}}
{{- end -}}
{{- end -}}
{{- $volumes := list -}}
{{- $mounts := list -}}
{{- range $dep := $deps -}}
{{- $t := index $v.tls $dep -}}
{{- $dir := printf "/etc/pulsestream/tls/%s" $dep -}}
{{- if and $t.ca (or $t.ca.secret $t.ca.configMap) -}}
{{- $items := list (dict "key" ($t.ca.key | default "ca.crt") "path" "ca.crt") -}}
{{- $name := printf "tls-%s-ca" $dep -}}
{{- if $t.ca.secret -}}
{{- $volumes = append $volumes (dict "name" $name "secret" (dict "secretName" $t.ca.secret "items" $items "defaultMode" 292)) -}}
{{- else -}}
{{- $volumes = append $volumes (dict "name" $name "configMap" (dict "name" $t.ca.configMap "items" $items "defaultMode" 292)) -}}
{{- end -}}
{{- $mounts = append $mounts (dict "name" $name "mountPath" (printf "%s/ca" $dir) "readOnly" true) -}}
{{- end -}}
{{- if $t.clientCertSecret -}}
{{- $name := printf "tls-%s-client" $dep -}}
{{- $items := list (dict "key" "tls.crt" "path" "tls.crt") (dict "key" "tls.key" "path" "tls.key") -}}
{{- $volumes = append $volumes (dict "name" $name "secret" (dict "secretName" $t.clientCertSecret "items" $items "defaultMode" 288)) -}}
{{- $mounts = append $mounts (dict "name" $name "mountPath" (printf "%s/client" $dir) "readOnly" true) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "volumes" $volumes "mounts" $mounts) -}}
{{- end -}}