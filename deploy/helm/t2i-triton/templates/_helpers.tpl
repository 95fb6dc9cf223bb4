{{/* Names: <release>-<chart> unless overridden, trimmed to Kubernetes' 63 characters. */}}
{{- define "t2i.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "t2i.fullname" -}}
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

{{/* Component names; the suffix is kept whole, the prefix trimmed. */}}
{{- define "t2i.triton.fullname" -}}
{{- printf "%s-triton" (include "t2i.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "t2i.frontend.fullname" -}}
{{- printf "%s-frontend" (include "t2i.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "t2i.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "t2i.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "triton"). */}}
{{- define "t2i.selectorLabels" -}}
app.kubernetes.io/name: {{ include "t2i.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "t2i.triton.image" -}}
{{- printf "%s:%s" .Values.triton.image.repository (default .Chart.AppVersion .Values.triton.image.tag) }}
{{- end }}

{{- define "t2i.frontend.image" -}}
{{- printf "%s:%s" .Values.frontend.image.repository (default .Chart.AppVersion .Values.frontend.image.tag) }}
{{- end }}

{{/* The Secret the frontend reads: the user's, or the one this chart creates. */}}
{{- define "t2i.frontend.secretName" -}}
{{- default (include "t2i.frontend.fullname" .) .Values.frontend.existingSecret }}
{{- end }}

{{/* The model repository is an s3:// URL (Triton reads it itself) rather than a mounted volume. */}}
{{- define "t2i.triton.fromS3" -}}
{{- if hasPrefix "s3://" .Values.triton.modelRepository.url }}true{{ end }}
{{- end }}

{{- define "t2i.triton.s3SecretName" -}}
{{- default (printf "%s-s3" (include "t2i.triton.fullname" .)) .Values.triton.s3.existingSecret }}
{{- end }}

{{/* Exactly one model repository source; a bad combination fails the render with a message. */}}
{{- define "t2i.triton.modelRepositoryArg" -}}
{{- $repo := .Values.triton.modelRepository }}
{{- $sources := 0 }}
{{- if $repo.url }}{{ $sources = add1 $sources }}{{ end }}
{{- if $repo.persistentVolumeClaim }}{{ $sources = add1 $sources }}{{ end }}
{{- if $repo.hostPath }}{{ $sources = add1 $sources }}{{ end }}
{{- if ne (int $sources) 1 }}
{{- fail "set exactly one of triton.modelRepository.url, .persistentVolumeClaim, .hostPath (to use url or hostPath, set persistentVolumeClaim to \"\")" }}
{{- end }}
{{- if $repo.url }}
{{- if not (include "t2i.triton.fromS3" .) }}
{{- fail (printf "triton.modelRepository.url must start with s3:// (got %q); mount other storage as a volume" $repo.url) }}
{{- end }}
{{- $repo.url }}
{{- else }}/models{{ end }}
{{- end }}
