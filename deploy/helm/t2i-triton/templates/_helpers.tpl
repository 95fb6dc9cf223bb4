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

{{- define "t2i.frontend.image" -}}
{{- printf "%s:%s" .Values.frontend.image.repository (default .Chart.AppVersion .Values.frontend.image.tag) }}
{{- end }}

{{/* The Secret the frontend reads: the user's, or the one this chart creates. */}}
{{- define "t2i.frontend.secretName" -}}
{{- default (include "t2i.frontend.fullname" .) .Values.frontend.existingSecret }}
{{- end }}

{{/* The Triton Deployments, as a YAML list: triton.deployments, or (when that is empty) one made of
triton.* itself, named as before. Each item: name (of its Deployment, Services, HPA), pool (the entry's
name, "" for the single one), at (the values path, for messages), values (triton.* with every key the
entry sets replacing triton's whole) and autoscaling (autoscaling.* with the entry's autoscaling keys
replacing those). */}}
{{- define "t2i.triton.deployments" -}}
{{- $base := include "t2i.triton.fullname" . }}
{{- $shared := omit .Values.triton "deployments" }}
{{- $result := list }}
{{- $seen := dict }}
{{- range $i, $entry := .Values.triton.deployments }}
{{- $at := printf "triton.deployments[%d]" $i }}
{{- $pool := toString (required (printf "%s.name is required" $at) $entry.name) }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$" $pool) }}
{{- fail (printf "%s.name must be 1 to 20 lowercase letters, digits or '-', starting and ending with a letter or digit (got %q)" $at $pool) }}
{{- end }}
{{- if hasKey $seen $pool }}
{{- fail (printf "%s.name %q is used by another entry" $at $pool) }}
{{- end }}
{{- $_ := set $seen $pool true }}
{{- $values := deepCopy $shared }}
{{- range $key, $value := omit $entry "name" "autoscaling" }}
{{- if not (hasKey $shared $key) }}
{{- fail (printf "%s.%s is not a key of triton (an entry may set any of: %s)" $at $key (keys $shared | sortAlpha | join ", ")) }}
{{- end }}
{{- $_ := set $values $key $value }}
{{- end }}
{{- with $entry.modelRepository }}
{{- /* The entry names its own source; only the cache size may come from triton's. */}}
{{- $source := dict "url" "" "persistentVolumeClaim" "" "hostPath" "" "subPath" "" "s3CacheSizeLimit" $shared.modelRepository.s3CacheSizeLimit }}
{{- $_ := set $values "modelRepository" (merge (deepCopy .) $source) }}
{{- end }}
{{- $scaling := deepCopy $.Values.autoscaling }}
{{- range $key, $value := $entry.autoscaling | default dict }}
{{- $_ := set $scaling $key $value }}
{{- end }}
{{- $name := printf "%s-%s" ($base | trunc (int (sub 62 (len $pool))) | trimSuffix "-") $pool }}
{{- $result = append $result (dict "name" $name "pool" $pool "at" $at "values" $values "autoscaling" $scaling) }}
{{- end }}
{{- if not $result }}
{{- $result = list (dict "name" $base "pool" "" "at" "triton" "values" $shared "autoscaling" .Values.autoscaling) }}
{{- end }}
{{- toYaml $result }}
{{- end }}

{{/* Selector labels of one Triton Deployment: call with (dict "ctx" $ "d" $d). */}}
{{- define "t2i.triton.selectorLabels" -}}
{{- include "t2i.selectorLabels" (dict "ctx" .ctx "component" "triton") }}
{{- with .d.pool }}
t2i-triton/deployment: {{ . }}
{{- end }}
{{- end }}

{{/* The Triton images, one per Deployment (an entry may set its own triton.image). */}}
{{- define "t2i.triton.image" -}}
{{- printf "%s:%s" .d.values.image.repository (default .ctx.Chart.AppVersion .d.values.image.tag) }}
{{- end }}

{{/* A Deployment's model repository is an s3:// URL (Triton reads it itself) rather than a mounted volume. */}}
{{- define "t2i.triton.fromS3" -}}
{{- if hasPrefix "s3://" .values.modelRepository.url }}true{{ end }}
{{- end }}

{{- define "t2i.triton.s3SecretName" -}}
{{- default (printf "%s-s3" .name) .values.s3.existingSecret }}
{{- end }}

{{/* Exactly one model repository source; a bad combination fails the render with a message. */}}
{{- define "t2i.triton.modelRepositoryArg" -}}
{{- $repo := .values.modelRepository }}
{{- $sources := 0 }}
{{- if $repo.url }}{{ $sources = add1 $sources }}{{ end }}
{{- if $repo.persistentVolumeClaim }}{{ $sources = add1 $sources }}{{ end }}
{{- if $repo.hostPath }}{{ $sources = add1 $sources }}{{ end }}
{{- if ne (int $sources) 1 }}
{{- fail (printf "set exactly one of %s.modelRepository.url, .persistentVolumeClaim, .hostPath (to use url or hostPath, set persistentVolumeClaim to \"\")" .at) }}
{{- end }}
{{- if $repo.url }}
{{- if not (include "t2i.triton.fromS3" .) }}
{{- fail (printf "%s.modelRepository.url must start with s3:// (got %q); mount other storage as a volume" .at $repo.url) }}
{{- end }}
{{- if $repo.subPath }}
{{- fail (printf "%s.modelRepository.subPath is for a volume; put the folder in the s3:// URL" .at) }}
{{- end }}
{{- $repo.url }}
{{- else }}/models{{ end }}
{{- end }}
