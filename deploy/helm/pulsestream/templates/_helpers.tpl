{{/* Names, labels and shared pod fragments. */}}

{{- define "pulsestream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pulsestream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* pulsestream.component: "<fullname>-<component>" (component in .component). */}}
{{- define "pulsestream.component" -}}
{{- printf "%s-%s" (include "pulsestream.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "pulsestream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "pulsestream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pulsestream
{{- end -}}

{{/* Selector labels of one component: dict "root" $ "component" "gateway". */}}
{{- define "pulsestream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pulsestream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pulsestream.componentLabels" -}}
{{ include "pulsestream.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pulsestream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pulsestream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "pulsestream.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "pulsestream.secretName" -}}
{{- default (include "pulsestream.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* Container securityContext: non-root, read-only root filesystem, no privilege escalation, no capabilities. */}}
{{- define "pulsestream.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
pulsestream.value renders a setting value as a string. Helm reads YAML numbers
as float64, so 1048576 would print as 1.048576e+06: whole numbers print as
integers.
*/}}
{{- define "pulsestream.value" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* pulsestream.envName: flag name -> PULSESTREAM_<FLAG_UPPER_SNAKE> (platform/config.EnvName). */}}
{{- define "pulsestream.envName" -}}
{{- printf "PULSESTREAM_%s" (. | replace "-" "_" | replace "." "_" | upper) -}}
{{- end -}}

{{/* pulsestream.topicConfigs: a map of topic configs as kafka-configs --add-config k=v,k=[a,b] */}}
{{- define "pulsestream.topicConfigs" -}}
{{- $out := list -}}
{{- range $k, $v := . -}}
{{- $s := include "pulsestream.value" $v -}}
{{- if contains "," $s }}{{ $s = printf "[%s]" $s }}{{ end -}}
{{- $out = append $out (printf "%s=%s" $k $s) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* pulsestream.hookSecretName: the Secret of the hook Jobs (topics, migrate) when no existingSecret. */}}
{{- define "pulsestream.hookSecretName" -}}
{{- printf "%s-hooks" (include "pulsestream.fullname" . | trunc 56 | trimSuffix "-") -}}
{{- end -}}

{{/*
pulsestream.hookSecretData: the secret settings of the hook Jobs, keyed by variable name:
migrate's (pulsestream.env) and, with a SASL mechanism, the topics Job's Kafka password
(shared values: config.kafka-sasl-*, secrets.kafka-sasl-password).
*/}}
{{- define "pulsestream.hookSecretData" -}}
{{- $data := dict -}}
{{- if .Values.migrate.enabled -}}
{{- $env := include "pulsestream.env" (dict "root" . "component" "migrate") | fromYaml -}}
{{- range $k, $val := $env.secret }}{{ $_ := set $data $k $val }}{{ end -}}
{{- end -}}
{{- if and .Values.topics.job.enabled (index .Values.config "kafka-sasl-mechanism") -}}
{{- $_ := set $data "PULSESTREAM_KAFKA_SASL_PASSWORD" (include "pulsestream.value" (index .Values.secrets "kafka-sasl-password" | default "")) -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}
