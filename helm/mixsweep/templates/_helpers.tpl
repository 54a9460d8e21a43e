{{/*
Names and labels shared by every template. Kept to plain string output:
no truncation, so fullnameOverride / release names must stay short enough
(values.yaml says how short).
*/}}

{{/* <release>-mixsweep, or fullnameOverride. */}}
{{- define "mixsweep.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{ .Values.fullnameOverride }}
{{- else -}}
{{ .Release.Name }}-mixsweep
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "mixsweep.labels" -}}
app.kubernetes.io/name: mixsweep
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* Selector of the scheduler pods (Deployment, Service, PDB). */}}
{{- define "mixsweep.schedulerSelector" -}}
app.kubernetes.io/name: mixsweep
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: scheduler
{{- end -}}

{{/* Selector of the worker pods (Deployment, metrics Service). */}}
{{- define "mixsweep.workerSelector" -}}
app.kubernetes.io/name: mixsweep
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}
