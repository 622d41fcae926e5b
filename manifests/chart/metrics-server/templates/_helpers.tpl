{{/*
The chart's name, or nameOverride.
*/}}
{{- define "metrics-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the namespaced objects: fullnameOverride, else the release name when it contains the
chart's name (metrics-server for a release named metrics-server), else <release>-<name>.
*/}}
{{- define "metrics-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "metrics-server.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Selector labels: the manifests' k8s-app label, with the fullname as its value so that two
releases never select each other's pods.
*/}}
{{- define "metrics-server.selectorLabels" -}}
k8s-app: {{ include "metrics-server.fullname" . }}
{{- end }}

{{/*
Labels of every object: the selector labels and commonLabels (which cannot replace them).
*/}}
{{- define "metrics-server.labels" -}}
{{- $labels := include "metrics-server.selectorLabels" . | fromYaml }}
{{- toYaml (merge $labels (.Values.commonLabels | default dict)) }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "metrics-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "metrics-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ClusterRole that lets view/edit/admin read the metrics API: the manifests' name for the
default fullname, else one per release so that two releases do not own the same object.
*/}}
{{- define "metrics-server.aggregatedReaderName" -}}
{{- $fullname := include "metrics-server.fullname" . }}
{{- if eq $fullname "metrics-server" }}
{{- print "system:aggregated-metrics-reader" }}
{{- else }}
{{- printf "system:%s-aggregated-reader" $fullname }}
{{- end }}
{{- end }}

{{/*
The container image: image.tag, else v<appVersion>.
*/}}
{{- define "metrics-server.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}

{{/*
The Secret holding the serving certificate (tls.crt, tls.key); empty for tls.type
metrics-server. Fails on an unknown tls.type.
*/}}
{{- define "metrics-server.tlsSecretName" -}}
{{- $type := .Values.tls.type }}
{{- if eq $type "existingSecret" }}
{{- required "tls.existingSecret.name is required with tls.type existingSecret" .Values.tls.existingSecret.name }}
{{- else if eq $type "cert-manager" }}
{{- include "metrics-server.fullname" . }}
{{- else if ne $type "metrics-server" }}
{{- fail (printf "tls.type must be metrics-server, existingSecret or cert-manager, not %q" $type) }}
{{- end }}
{{- end }}

{{/*
Fails on values of the upstream chart that this one does not implement, rather than ignoring
them.
*/}}
{{- define "metrics-server.unsupported" -}}
{{- if (.Values.addonResizer | default dict).enabled }}
{{- fail "addonResizer is not supported: set resources (see values.yaml for measured usage)" }}
{{- end }}
{{- end }}

{{/*
Where the Secret of tls.type existingSecret or cert-manager is mounted.
*/}}
{{- define "metrics-server.tlsMountPath" -}}
/tmp/tls-certs
{{- end }}

{{/*
The container's arguments, as a YAML list: the --cert-dir flags of defaultArgs, --secure-port,
the TLS file flags, the rest of defaultArgs, the /metrics flag, then args. (The serving flags
come first, as in manifests/base.)
*/}}
{{- define "metrics-server.args" -}}
{{- $certDir := list }}
{{- $rest := list }}
{{- range .Values.defaultArgs }}
{{- if hasPrefix "--cert-dir" . }}
{{- $certDir = append $certDir . }}
{{- else }}
{{- $rest = append $rest . }}
{{- end }}
{{- end }}
{{- $args := append $certDir (printf "--secure-port=%d" (int .Values.containerPort)) }}
{{- if include "metrics-server.tlsSecretName" . }}
{{- $dir := include "metrics-server.tlsMountPath" . }}
{{- $args = append $args (printf "--tls-cert-file=%s/tls.crt" $dir) }}
{{- $args = append $args (printf "--tls-private-key-file=%s/tls.key" $dir) }}
{{- end }}
{{- $args = concat $args $rest }}
{{- if or .Values.metrics.enabled .Values.serviceMonitor.enabled }}
{{- $args = append $args "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics" }}
{{- end }}
{{- $args = concat $args (.Values.args | default list) }}
{{- toYaml $args }}
{{- end }}

{{/*
Whether the APIServices get cert-manager's CA injection annotation ("true" or empty).
*/}}
{{- define "metrics-server.injectCA" -}}
{{- if and (eq .Values.tls.type "cert-manager") .Values.tls.certManager.addInjectorAnnotations }}true{{ end }}
{{- end }}

{{/*
One APIService of metrics.k8s.io. Called with a dict: root (the chart's context), version and
priority.
*/}}
{{- define "metrics-server.apiService" -}}
{{- $root := .root }}
{{- $values := $root.Values }}
{{- $inject := include "metrics-server.injectCA" $root }}
{{- $caBundle := "" }}
{{- if not $inject }}
{{- if $values.apiService.caBundle }}
{{- $caBundle = $values.apiService.caBundle | b64enc }}
{{- else if and (eq $values.tls.type "existingSecret") $values.tls.existingSecret.lookup }}
{{- /* On install and upgrade (not helm template): the Secret's ca.crt, else its tls.crt. */}}
{{- $secret := lookup "v1" "Secret" $root.Release.Namespace (include "metrics-server.tlsSecretName" $root) }}
{{- with $secret.data }}
{{- $caBundle = index . "ca.crt" | default (index . "tls.crt") | default "" }}
{{- end }}
{{- end }}
{{- end }}
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: {{ .version }}.metrics.k8s.io
  labels:
    {{- include "metrics-server.labels" $root | nindent 4 }}
  {{- if or $inject $values.apiService.annotations }}
  annotations:
    {{- if $inject }}
    cert-manager.io/inject-ca-from: {{ printf "%s/%s" $root.Release.Namespace (include "metrics-server.fullname" $root) }}
    {{- end }}
    {{- with $values.apiService.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  group: metrics.k8s.io
  version: {{ .version }}
  groupPriorityMinimum: 100
  versionPriority: {{ .priority }}
  {{- if $caBundle }}
  caBundle: {{ $caBundle }}
  {{- else if and $values.apiService.insecureSkipTLSVerify (not $inject) }}
  insecureSkipTLSVerify: true
  {{- end }}
  service:
    name: {{ include "metrics-server.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    {{- if ne (int $values.service.port) 443 }}
    port: {{ int $values.service.port }}
    {{- end }}
{{- end }}
