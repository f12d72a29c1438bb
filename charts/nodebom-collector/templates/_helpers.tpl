{{/* Name of the chart, overridable. */}}
{{- define "nodebom-collector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name when it already contains the chart name. */}}
{{- define "nodebom-collector.fullname" -}}
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
{{- define "nodebom-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodebom-collector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "nodebom-collector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nodebom-collector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: collector
app.kubernetes.io/part-of: nodebom
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nodebom-collector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodebom-collector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nodebom-collector.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Checks across values that the schema cannot express. The first two repeat the
schema's, for installs with --skip-schema-validation: the collector stores in one SQLite
file, so it runs as exactly one pod, and it refuses a postgres:// store at start. */}}
{{- define "nodebom-collector.validate" -}}
{{- if ne (int .Values.replicas) 1 }}
{{- fail "replicas must be 1: the collector stores in one SQLite file on its volume (one pod); several replicas need PostgreSQL, which this collector does not support yet" }}
{{- end }}
{{- if hasKey .Values.store "postgres" }}
{{- fail "store.postgres is not supported: this collector stores in SQLite only (store.sqlite); PostgreSQL support is not built yet" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.existingSecret is required with tls.enabled (or set tls.enabled=false behind a TLS-terminating mesh)" }}
{{- end }}
{{- if and .Values.tls.clientCAKey (not .Values.tls.enabled) }}
{{- fail "tls.clientCAKey (mTLS) needs tls.enabled" }}
{{- end }}
{{- if and .Values.dtrack.url (not .Values.dtrack.apiKey.existingSecret) }}
{{- fail "dtrack.url needs dtrack.apiKey.existingSecret, a Secret holding the Dependency-Track API key" }}
{{- end }}
{{- end }}

{{/* The pod template of the StatefulSet. */}}
{{- define "nodebom-collector.podTemplate" -}}
metadata:
  labels:
    {{- include "nodebom-collector.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "nodebom-collector.serviceAccountName" . }}
  # The collector never talks to the Kubernetes API.
  automountServiceAccountToken: false
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: collector
      image: {{ include "nodebom-collector.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --listen=0.0.0.0:{{ .Values.service.port }}
        - --data-dir=/var/lib/nodebom
        {{- if .Values.tls.enabled }}
        - --tls-cert=/etc/nodebom/tls/tls.crt
        - --tls-key=/etc/nodebom/tls/tls.key
        {{- with .Values.tls.clientCAKey }}
        - --tls-client-ca=/etc/nodebom/tls/{{ . }}
        {{- end }}
        {{- else }}
        - --insecure
        {{- end }}
        - --cluster-tokens-file=/etc/nodebom/cluster-tokens/{{ .Values.clusterTokens.key }}
        - --node-expiry={{ .Values.retention.nodeExpiry }}
        - --history-retention={{ .Values.retention.history }}
        - --max-sbom-bytes={{ int64 .Values.limits.maxSbomBytes }}
        - --max-images-per-node={{ .Values.limits.maxImagesPerNode }}
        - --max-workloads-per-node={{ .Values.limits.maxWorkloadsPerNode }}
        - --max-concurrent-uploads={{ .Values.limits.maxConcurrentUploads }}
        - --metrics-listen=0.0.0.0:{{ .Values.metrics.port }}
        {{- with .Values.dtrack.url }}
        - {{ printf "--dtrack-url=%s" . | quote }}
        - --dtrack-api-key-file=/etc/nodebom/dtrack/{{ $.Values.dtrack.apiKey.key }}
        - {{ printf "--dtrack-project-name=%s" $.Values.dtrack.project.name | quote }}
        - {{ printf "--dtrack-project-version=%s" $.Values.dtrack.project.version | quote }}
        - --dtrack-tag-grace={{ $.Values.dtrack.tags.grace }}
        {{- with $.Values.dtrack.kev.catalog }}
        - {{ printf "--kev-catalog=%s" . | quote }}
        {{- end }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: NODEBOM_LOG
          value: {{ .Values.log.level | quote }}
        - name: NODEBOM_LOG_FORMAT
          value: {{ .Values.log.format | quote }}
        {{- if .Values.queryTokens.existingSecret }}
        - name: NODEBOM_QUERY_TOKENS
          valueFrom:
            secretKeyRef:
              name: {{ .Values.queryTokens.existingSecret }}
              key: {{ .Values.queryTokens.key }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: grpc
          containerPort: {{ .Values.service.port }}
          protocol: TCP
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
      {{- $probe := dict "initialDelaySeconds" .Values.probes.initialDelaySeconds "periodSeconds" .Values.probes.periodSeconds }}
      {{- if .Values.tls.enabled }}
      {{- $_ := set $probe "tcpSocket" (dict "port" "grpc") }}
      {{- else }}
      {{- $_ := set $probe "grpc" (dict "port" (int .Values.service.port)) }}
      {{- end }}
      readinessProbe:
        {{- toYaml $probe | nindent 8 }}
      livenessProbe:
        {{- toYaml (merge (dict "failureThreshold" 6) $probe) | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: data
          mountPath: /var/lib/nodebom
        - name: tmp
          mountPath: /tmp
        {{- if .Values.tls.enabled }}
        - name: tls
          mountPath: /etc/nodebom/tls
          readOnly: true
        {{- end }}
        - name: cluster-tokens
          mountPath: /etc/nodebom/cluster-tokens
          readOnly: true
        {{- if .Values.dtrack.url }}
        - name: dtrack
          mountPath: /etc/nodebom/dtrack
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if not .Values.store.sqlite.persistence.enabled }}
    # No PersistentVolumeClaim: the SQLite file lives and dies with the pod.
    - name: data
      emptyDir: {}
    {{- end }}
    - name: tmp
      emptyDir: {}
    {{- if .Values.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ .Values.tls.existingSecret }}
    {{- end }}
    - name: cluster-tokens
      secret:
        secretName: {{ .Values.clusterTokens.existingSecret }}
        items:
          - key: {{ .Values.clusterTokens.key }}
            path: {{ .Values.clusterTokens.key }}
    {{- if .Values.dtrack.url }}
    - name: dtrack
      secret:
        secretName: {{ .Values.dtrack.apiKey.existingSecret }}
        items:
          - key: {{ .Values.dtrack.apiKey.key }}
            path: {{ .Values.dtrack.apiKey.key }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
