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

{{/* "true" when the collector stores in PostgreSQL (a Deployment of any number of pods),
empty with SQLite (a StatefulSet of one pod). */}}
{{- define "nodebom-collector.postgres" -}}
{{- if eq .Values.store.type "postgres" }}true{{ end }}
{{- end }}

{{/* Checks across values. The store checks repeat the schema's, for installs with
--skip-schema-validation, and say what to do in words the schema's errors cannot. */}}
{{- define "nodebom-collector.validate" -}}
{{- $postgres := .Values.store.postgres }}
{{- if not (has .Values.store.type (list "sqlite" "postgres")) }}
{{- fail (printf "store.type must be sqlite or postgres, not %q" (toString .Values.store.type)) }}
{{- end }}
{{- if include "nodebom-collector.postgres" . }}
{{- if lt (int .Values.replicas) 1 }}
{{- fail "replicas must be at least 1" }}
{{- end }}
{{- if not $postgres.existingSecret }}
{{- fail "store.type postgres needs store.postgres.existingSecret: an existing Secret holding the database URL (key store.postgres.urlKey) and, unless the URL carries it, the password (key store.postgres.passwordKey)" }}
{{- end }}
{{- if not $postgres.urlKey }}
{{- fail "store.postgres.urlKey must name the key of the database URL in store.postgres.existingSecret" }}
{{- end }}
{{- else }}
{{- if ne (int .Values.replicas) 1 }}
{{- fail "replicas must be 1 with store.type sqlite: the SQLite file belongs to one pod; several replicas share a PostgreSQL database (store.type postgres)" }}
{{- end }}
{{- if or $postgres.existingSecret $postgres.ca.existingSecret }}
{{- fail "store.postgres is set but store.type is sqlite: the collector uses one store; set store.type=postgres to use PostgreSQL, or leave store.postgres.existingSecret and store.postgres.ca.existingSecret empty for SQLite" }}
{{- end }}
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

{{/* The pod template of the StatefulSet (SQLite) and of the Deployment (PostgreSQL). */}}
{{- define "nodebom-collector.podTemplate" -}}
{{- $postgres := include "nodebom-collector.postgres" . }}
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
        {{- if $postgres }}
        {{- with .Values.store.postgres.ca.existingSecret }}
        - --store-ca-file=/etc/nodebom/store-ca/{{ $.Values.store.postgres.ca.key }}
        {{- end }}
        {{- with .Values.store.postgres.poolSize }}
        - --store-pool-size={{ int . }}
        {{- end }}
        {{- else }}
        - --data-dir=/var/lib/nodebom
        {{- end }}
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
        {{- if .Values.ui.enabled }}
        - --ui-listen=0.0.0.0:{{ .Values.ui.port }}
        {{- end }}
        {{- with .Values.dtrack.url }}
        - {{ printf "--dtrack-url=%s" . | quote }}
        - --dtrack-api-key-file=/etc/nodebom/dtrack/{{ $.Values.dtrack.apiKey.key }}
        {{- with $.Values.dtrack.frontendUrl }}
        - {{ printf "--dtrack-frontend-url=%s" . | quote }}
        {{- end }}
        - {{ printf "--dtrack-project-name=%s" $.Values.dtrack.project.name | quote }}
        - {{ printf "--dtrack-project-version=%s" $.Values.dtrack.project.version | quote }}
        - {{ printf "--dtrack-node-project-name=%s" $.Values.dtrack.nodeProject.name | quote }}
        - {{ printf "--dtrack-node-project-version=%s" $.Values.dtrack.nodeProject.version | quote }}
        - --dtrack-tag-grace={{ $.Values.dtrack.tags.grace }}
        - --dtrack-findings-refresh={{ $.Values.dtrack.findings.refresh }}
        {{- with $.Values.dtrack.kev.catalog }}
        - {{ printf "--kev-catalog=%s" . | quote }}
        {{- end }}
        {{- if $.Values.dtrack.policies }}
        - --dtrack-policies=/etc/nodebom/policies/policies.yaml
        {{- end }}
        - --dtrack-policy-interval={{ $.Values.dtrack.policyInterval }}
        {{- end }}
        {{- if .Values.notifications.webhooks.existingSecret }}
        - --notify-min-epss={{ .Values.notifications.minEpss }}
        - --notify-interval={{ .Values.notifications.interval }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: NODEBOM_LOG
          value: {{ .Values.log.level | quote }}
        - name: NODEBOM_LOG_FORMAT
          value: {{ .Values.log.format | quote }}
        {{- if $postgres }}
        # The database URL and password from the Secret, never as arguments.
        - name: NODEBOM_STORE
          valueFrom:
            secretKeyRef:
              name: {{ .Values.store.postgres.existingSecret }}
              key: {{ .Values.store.postgres.urlKey }}
        {{- with .Values.store.postgres.passwordKey }}
        - name: NODEBOM_STORE_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ $.Values.store.postgres.existingSecret }}
              key: {{ . }}
        {{- end }}
        {{- end }}
        {{- if .Values.notifications.webhooks.existingSecret }}
        - name: NODEBOM_WEBHOOKS
          valueFrom:
            secretKeyRef:
              name: {{ .Values.notifications.webhooks.existingSecret }}
              key: {{ .Values.notifications.webhooks.key }}
        {{- end }}
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
        {{- if .Values.ui.enabled }}
        - name: ui
          containerPort: {{ .Values.ui.port }}
          protocol: TCP
        {{- end }}
      {{- $timing := dict "initialDelaySeconds" .Values.probes.initialDelaySeconds "periodSeconds" .Values.probes.periodSeconds }}
      {{- $ready := dict }}
      {{- $alive := dict }}
      {{- if $postgres }}
      {{- /* The chart always serves the metrics port (--metrics-listen above). */}}
      {{- $ready = dict "httpGet" (dict "path" "/readyz" "port" "metrics") }}
      {{- $alive = dict "httpGet" (dict "path" "/healthz" "port" "metrics") }}
      {{- else if .Values.tls.enabled }}
      {{- $ready = dict "tcpSocket" (dict "port" "grpc") }}
      {{- $alive = $ready }}
      {{- else }}
      {{- $ready = dict "grpc" (dict "port" (int .Values.service.port)) }}
      {{- $alive = $ready }}
      {{- end }}
      readinessProbe:
        {{- toYaml (merge (dict) $ready $timing) | nindent 8 }}
      livenessProbe:
        {{- toYaml (merge (dict "failureThreshold" 6) $alive $timing) | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        {{- if not $postgres }}
        - name: data
          mountPath: /var/lib/nodebom
        {{- end }}
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
        {{- if .Values.dtrack.policies }}
        - name: policies
          mountPath: /etc/nodebom/policies
          readOnly: true
        {{- end }}
        {{- end }}
        {{- if and $postgres .Values.store.postgres.ca.existingSecret }}
        - name: store-ca
          mountPath: /etc/nodebom/store-ca
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if and (not $postgres) (not .Values.store.sqlite.persistence.enabled) }}
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
    {{- if .Values.dtrack.policies }}
    - name: policies
      configMap:
        name: {{ include "nodebom-collector.fullname" . }}-policies
    {{- end }}
    {{- end }}
    {{- if and $postgres .Values.store.postgres.ca.existingSecret }}
    - name: store-ca
      secret:
        secretName: {{ .Values.store.postgres.ca.existingSecret }}
        items:
          - key: {{ .Values.store.postgres.ca.key }}
            path: {{ .Values.store.postgres.ca.key }}
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
  {{- $spread := list }}
  {{- if and $postgres (gt (int .Values.replicas) 1) }}
  {{- /* Soft: pods on as many nodes as possible, but a pod never stays pending for it. */}}
  {{- $selector := include "nodebom-collector.selectorLabels" . | fromYaml }}
  {{- $spread = append $spread (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" (dict "matchLabels" $selector)) }}
  {{- end }}
  {{- $spread = concat $spread .Values.topologySpreadConstraints }}
  {{- with $spread }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
