{{/* The chart's name. */}}
{{- define "meshcert.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects. */}}
{{- define "meshcert.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "meshcert.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "meshcert.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the Pods. */}}
{{- define "meshcert.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshcert.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount meshcert runs as. */}}
{{- define "meshcert.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "meshcert.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The webhook serving certificate's Secret. */}}
{{- define "meshcert.servingSecret" -}}
{{- if eq .Values.webhook.tls.mode "secret" }}
{{- required "webhook.tls.secret.name is required when webhook.tls.mode is secret" .Values.webhook.tls.secret.name }}
{{- else }}
{{- printf "%s-serving-cert" (include "meshcert.fullname" .) }}
{{- end }}
{{- end }}

{{/* Annotations of the webhook configurations: cainjector fills the CA bundle from the serving Certificate. */}}
{{- define "meshcert.webhookAnnotations" -}}
{{- if eq .Values.webhook.tls.mode "certManager" }}
cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "meshcert.servingSecret" .) }}
{{- end }}
{{- end }}

{{/*
How the API server reaches the webhook at a path: the Service, or the
external URL. Called with (list . "/path").
*/}}
{{- define "meshcert.clientConfig" -}}
{{- $ := index . 0 }}
{{- $path := index . 1 }}
{{- if $.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" $.Values.webhook.url) $path | quote }}
{{- else }}
service:
  name: {{ include "meshcert.fullname" $ }}
  namespace: {{ $.Release.Namespace }}
  path: {{ $path | quote }}
  port: 443
{{- end }}
{{- if eq $.Values.webhook.tls.mode "secret" }}
caBundle: {{ required "webhook.tls.secret.caBundle is required when webhook.tls.mode is secret" $.Values.webhook.tls.secret.caBundle }}
{{- end }}
{{- end }}

{{/* The image reference. */}}
{{- define "meshcert.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
