{{/* The chart's name. */}}
{{- define "entrance.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: release name, plus the chart's name unless it already has it. */}}
{{- define "entrance.fullname" -}}
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
{{- define "entrance.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "entrance.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end }}

{{/* Labels that select the pods. */}}
{{- define "entrance.selectorLabels" -}}
app.kubernetes.io/name: {{ include "entrance.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "entrance.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "entrance.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "entrance.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "entrance.fullname" . }}
{{- else }}
{{- required "secrets.existingSecret: name the Secret holding session-secret, or set secrets.create" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{/* Refuse a mode the chart does not know, once, wherever it is first needed. */}}
{{- define "entrance.mode" -}}
{{- if not (has .Values.mode (list "gateway" "sidecar")) }}
{{- fail (printf "mode: %q is not a mode; use gateway or sidecar" .Values.mode) }}
{{- end }}
{{- .Values.mode }}
{{- end }}

{{/*
entrance's config.yaml: values.config, with the keys the chart owns set from the ports and the
mode, so the probes, the Service and the config cannot disagree.
*/}}
{{- define "entrance.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $_ := set $config "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) }}
{{- $_ := set $config "admin" (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.admin))) }}
{{- if eq (include "entrance.mode" .) "sidecar" }}
{{- $_ := set $config "upstream" (printf "http://127.0.0.1:%d" (int .Values.sidecar.appPort)) }}
{{- else }}
{{- $_ := set $config "upstream" (required "gateway.upstream: the URL of your app's Service" .Values.gateway.upstream) }}
{{- end }}
{{- if empty $config.trusted_proxies }}
{{- $_ := unset $config "trusted_proxies" }}
{{- end }}
{{- if empty $config.authorization }}
{{- $_ := unset $config "authorization" }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The entrance container, the same in both modes. */}}
{{- define "entrance.container" -}}
- name: entrance
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["run", "--config", "/etc/entrance/config.yaml"]
  ports:
    - name: http
      containerPort: {{ .Values.ports.http }}
    - name: admin
      containerPort: {{ .Values.ports.admin }}
  livenessProbe:
    {{- toYaml .Values.livenessProbe | nindent 4 }}
  readinessProbe:
    {{- toYaml .Values.readinessProbe | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/entrance
      readOnly: true
    - name: secrets
      mountPath: {{ .Values.secrets.mountPath }}
      readOnly: true
{{- end }}
