{{/* Name of the chart, overridable. */}}
{{- define "nodebom-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name when it already contains the chart name. */}}
{{- define "nodebom-agent.fullname" -}}
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

{{/* Labels that select the release's pods; never change them between versions. */}}
{{- define "nodebom-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodebom-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "nodebom-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nodebom-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: nodebom
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nodebom-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodebom-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nodebom-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The collector's address; by default the nodebom-collector chart's Service in this namespace. */}}
{{- define "nodebom-agent.collectorAddress" -}}
{{- default (printf "https://nodebom-collector.%s.svc:7443" .Release.Namespace) .Values.collector.address }}
{{- end }}

{{/* Directory of containerd's socket: mounted rather than the socket file (see values.yaml). */}}
{{- define "nodebom-agent.socketDir" -}}
{{- dir .Values.containerd.socket }}
{{- end }}

{{/* Where containerd's overlayfs snapshotter keeps the unpacked layers. */}}
{{- define "nodebom-agent.snapshotsDir" -}}
{{- printf "%s/io.containerd.snapshotter.v1.overlayfs" (trimSuffix "/" .Values.containerd.root) }}
{{- end }}

{{/* Checks across values that the schema cannot express; included by the DaemonSet. */}}
{{- define "nodebom-agent.validate" -}}
{{- if and (hasPrefix "http://" (include "nodebom-agent.collectorAddress" .)) (not .Values.collector.insecure) }}
{{- fail "collector.address is plaintext http://: use https://, or set collector.insecure=true (behind a mesh that encrypts)" }}
{{- end }}
{{- if and .Values.collector.insecure .Values.collector.ca.existingSecret }}
{{- fail "collector.ca.existingSecret and collector.insecure exclude each other" }}
{{- end }}
{{- end }}
