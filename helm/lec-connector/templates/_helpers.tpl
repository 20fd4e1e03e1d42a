{{- define "lec.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lec.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of one role (component): channel-bridge, webhook-bridge or worker. */}}
{{- define "lec.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lec.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lec.labels" -}}
{{ include "lec.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* The image of the chart (the root context), or of one role: (dict "root" $ "values" <role values>), whose
imageTag, when set, wins (an upgrade that rolls the readers first, README "Upgrades"). */}}
{{- define "lec.image" -}}
{{- $root := .root | default . -}}
{{- $tag := default $root.Chart.AppVersion $root.Values.image.tag -}}
{{- with .values }}{{ $tag = default $tag .imageTag }}{{ end -}}
{{ printf "%s:%s" $root.Values.image.repository $tag }}
{{- end -}}

{{/* Every process's environment: the shared ConfigMap, the brand's Secret, extra settings. */}}
{{- define "lec.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "lec.fullname" . }}
env:
  - name: LEC_CHANNELS
    valueFrom:
      secretKeyRef: {name: {{ .Values.existingSecret }}, key: LEC_CHANNELS}
  - name: LEC_LIVEENGAGE_ACCOUNTS
    valueFrom:
      secretKeyRef: {name: {{ .Values.existingSecret }}, key: LEC_LIVEENGAGE_ACCOUNTS}
  - name: LEC_ANALYTICS_KEY
    valueFrom:
      secretKeyRef: {name: {{ .Values.existingSecret }}, key: LEC_ANALYTICS_KEY, optional: true}
  # Optional keys: only a Kafka with SASL PLAIN/SCRAM or a password-protected client key needs them.
  - name: LEC_KAFKA_SASL_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ .Values.existingSecret }}, key: LEC_KAFKA_SASL_PASSWORD, optional: true}
  - name: LEC_KAFKA_SSL_KEY_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ .Values.existingSecret }}, key: LEC_KAFKA_SSL_KEY_PASSWORD, optional: true}
  # Optional: only a Schema Registry with basic auth needs it.
  - name: LEC_SCHEMA_REGISTRY_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ .Values.existingSecret }}, key: LEC_SCHEMA_REGISTRY_PASSWORD, optional: true}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The worker's environment; the registration Job runs with the same. */}}
{{- define "lec.workerEnv" -}}
{{ include "lec.env" . }}
  - {name: LEC_WEB_HOST, value: "0.0.0.0"}
  - {name: LEC_WEB_PORT, value: {{ .Values.worker.port | quote }}}
  - {name: LEC_PRODUCE_TIMEOUT_S, value: {{ .Values.worker.produceTimeoutSeconds | quote }}}
  - {name: LEC_STORE, value: {{ .Values.worker.store | quote }}}
  - {name: LEC_STATE_RETENTION_S, value: {{ .Values.worker.stateRetentionSeconds | quote }}}
  - {name: LEC_STANDBY_REPLICAS, value: {{ .Values.worker.standbyReplicas | quote }}}
  - {name: LEC_ROCKSDB_BLOCK_CACHE_MIB, value: {{ .Values.worker.rocksdb.blockCacheMiB | quote }}}
  - {name: LEC_ROCKSDB_WRITE_BUFFER_MIB, value: {{ .Values.worker.rocksdb.writeBufferMiB | quote }}}
  {{- with .Values.worker.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "lec.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lec.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A pod template's metadata for (dict "root" . "component" ... "values" <role values> "oneOff" bool): the
role's labels over its podLabels over the global ones; the checksums roll long-running pods on config changes
(a one-off Job is made anew each time). */}}
{{- define "lec.podMetadata" -}}
{{- $v := .root.Values -}}
{{- $labels := merge (include "lec.selectorLabels" . | fromYaml) (get .values "podLabels" | default dict) $v.podLabels -}}
{{- $annotations := dict -}}
{{- if not .oneOff -}}
{{- $_ := set $annotations "checksum/config" (include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum) -}}
{{- with $v.secretChecksum -}}
{{- $_ := set $annotations "checksum/secret" (toString .) -}}
{{- end -}}
{{- end -}}
{{- $annotations = merge $annotations (get .values "podAnnotations" | default dict) $v.podAnnotations -}}
labels:
  {{- toYaml $labels | nindent 2 }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Volumes and mounts of every container: /tmp (the root file system is read-only) and extraVolumes. */}}
{{- define "lec.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "lec.volumes" -}}
- {name: tmp, emptyDir: {}}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec fields every role shares, for (dict "root" . "component" ... "values" <role values> "oneOff" bool). */}}
{{- define "lec.podSpecCommon" -}}
{{- $v := .root.Values -}}
serviceAccountName: {{ include "lec.serviceAccountName" .root }}
automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
# No docker-link variables for the namespace's Services: the processes read LEC_* settings, and a release named
# "lec" would otherwise get LEC_<SERVICE>_PORT and the like.
enableServiceLinks: false
{{- with get .values "priorityClassName" | default $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
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
{{- $selector := include "lec.selectorLabels" . | fromYaml }}
{{- /* a one-off Job's single pod has nothing to spread from */}}
{{- with and (not .oneOff) (get .values "topologySpreadConstraints" | default $v.topologySpreadConstraints) }}
topologySpreadConstraints:
  {{- range . }}
  {{- $constraint := deepCopy . }}
  {{- if not (hasKey $constraint "labelSelector") }}
  {{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
  {{- end }}
  - {{ toYaml $constraint | nindent 4 | trim }}
  {{- end }}
{{- end }}
{{- end -}}
