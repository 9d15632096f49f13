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
{{- include "pulsestream.imageRef" (dict "root" . "image" .Values.image "defaultTag" .Chart.AppVersion) -}}
{{- end -}}

{{/* pulsestream.secretName: the Secret a component's secret settings come from (dict "root" $ "component" "gateway"). */}}
{{- define "pulsestream.secretName" -}}
{{- default (include "pulsestream.component" .) .root.Values.existingSecret -}}
{{- end -}}

{{/*
pulsestream.cursorKey: query's cursor key when none is given (dict "root" $
"component" "query"): the one in the Secret of an earlier install (kept on
upgrades; the Secret was named after the release before it was per
component), else a new random one. Rendering without a cluster (helm
template, Argo CD) cannot see the earlier Secret and would make a new key on
every render, so it is refused there. Listing ServiceAccounts answers (an
empty list at worst) only when helm talks to a cluster. helm lint does not
stop at `required`.
*/}}
{{- define "pulsestream.cursorKey" -}}
{{- $root := .root -}}
{{- $ns := $root.Release.Namespace -}}
{{- if not (lookup "v1" "ServiceAccount" $ns "") -}}
{{- required "query.secrets.cursor-key: rendering without a cluster (helm template, Argo CD) cannot keep a generated key: every render would make a new one, restart query and invalidate every cursor. Set query.secrets.cursor-key (64 hex digits: openssl rand -hex 32) or existingSecret" nil -}}
{{- end -}}
{{- $key := "" -}}
{{- range $name := list (include "pulsestream.component" .) (include "pulsestream.fullname" $root) -}}
{{- $s := lookup "v1" "Secret" $ns $name -}}
{{- if and (not $key) $s $s.data (hasKey ($s.data | default dict) "PULSESTREAM_CURSOR_KEY") -}}
{{- $key = index $s.data "PULSESTREAM_CURSOR_KEY" | b64dec -}}
{{- end -}}
{{- end -}}
{{- default (randAlphaNum 64 | sha256sum) $key -}}
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

{{/*
pulsestream.extraEnv: env entries of a component's values (.extraEnv, and
GOMEMLIMIT from .goMemLimit: the Go runtime's soft memory limit, so the heap
is collected harder before the container's memory limit kills the pod).
*/}}
{{- define "pulsestream.extraEnv" -}}
{{- if .goMemLimit }}
- name: GOMEMLIMIT
  value: {{ .goMemLimit | quote }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
pulsestream.scheduling: nodeSelector, tolerations, affinity and (for
Deployments, "spread" true) topologySpreadConstraints of a pod spec, from
dict "root" $ "component" "gateway" "values" <its values>. With
defaultTopologySpread and no constraints of its own, a Deployment's replicas
are spread over zones and then nodes, as far as the cluster allows
(ScheduleAnyway: never left Pending for it).
*/}}
{{- define "pulsestream.scheduling" -}}
{{- $v := .values -}}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .spread }}
{{- if $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- else if .root.Values.defaultTopologySpread }}
topologySpreadConstraints:
  {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "pulsestream.selectorLabels" $ | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
pulsestream.hookServiceAccountName: the ServiceAccount of the hook Jobs. The
release's own ServiceAccount does not exist yet when pre-install hooks run, so
with serviceAccount.create the hooks get one of their own (hook-serviceaccount.yaml,
same annotations); otherwise the one named in serviceAccount.name.
*/}}
{{- define "pulsestream.hookServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-hooks" (include "pulsestream.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- else -}}
{{- include "pulsestream.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{/*
pulsestream.imageRef: registry/repository:tag, or @digest when one is given,
from an image block (dict "root" $ "image" .Values.image "defaultTag" "1.0").
global.imageRegistry, when set, replaces every image's registry (a mirror).
*/}}
{{- define "pulsestream.imageRef" -}}
{{- $i := .image -}}
{{- $registry := default $i.registry (.root.Values.global | default dict).imageRegistry -}}
{{- $repo := ternary (printf "%s/%s" (trimSuffix "/" $registry) $i.repository) $i.repository (ne $registry "") -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $repo $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .defaultTag $i.tag) -}}
{{- end -}}
{{- end -}}

{{/*
pulsestream.hookPod: metadata and the pod-level fields of a hook Job's pod
(dict "root" $ "component" "migrate" "values" <its values>): labels,
podLabels, podAnnotations (e.g. sidecar.istio.io/inject: "false": a mesh
sidecar that never exits keeps the Job from completing), the hook
ServiceAccount, imagePullSecrets and scheduling.
*/}}
{{- define "pulsestream.hookPodMeta" -}}
labels:
  {{- include "pulsestream.componentLabels" . | nindent 2 }}
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "pulsestream.hookPodSpec" -}}
restartPolicy: Never
serviceAccountName: {{ include "pulsestream.hookServiceAccountName" .root }}
automountServiceAccountToken: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "pulsestream.scheduling" . }}
{{- end -}}
