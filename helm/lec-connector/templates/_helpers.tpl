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

{{- define "lec.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
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
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "lec.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
