{{- define "sop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sop.labels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selects one service's pods: dict "root" $ "name" $name */}}
{{- define "sop.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end -}}

{{- define "sop.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "sop.envSecret" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-env" (include "sop.fullname" .)) }}
{{- end -}}

{{- define "sop.authSecret" -}}
{{ .Values.auth.existingSecret | default (printf "%s-auth" (include "sop.fullname" .)) }}
{{- end -}}

{{/* The most instances of a consumer that get partitions: dict "root" $ "svc" $svc */}}
{{- define "sop.maxReplicas" -}}
{{ min (int .svc.maxReplicas) (int .root.Values.topics.partitions) }}
{{- end -}}

{{/* The Secret with a service's own MONGO_URL and S3 keys: dict "root" $ "svc" $svc */}}
{{- define "sop.serviceSecret" -}}
{{ .svc.existingSecret | default (include "sop.envSecret" .root) }}
{{- end -}}
