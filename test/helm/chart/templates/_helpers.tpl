{{- define "peerdb.selectorLabels" -}}
app.kubernetes.io/name: peerdb
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "peerdb.labels" -}}
{{ include "peerdb.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ .Chart.Name }}
{{- end -}}

{{- define "component.labels" -}}
app.kubernetes.io/component: {{ . }}
app: {{ . }}
{{- end -}}

{{- define "catalog.secretName" -}}
{{- .Values.catalog.existingSecret | default .Values.catalog.credentialsSecretName -}}
{{- end -}}

{{/* As in the PeerDB chart: catalog settings by secretKeyRef, Temporal settings as literals. */}}
{{- define "peerdb.env" -}}
{{- $secret := include "catalog.secretName" . }}
{{- range $name, $key := dict "PEERDB_CATALOG_HOST" "host" "PEERDB_CATALOG_PORT" "port" "PEERDB_CATALOG_USER" "user" "PEERDB_CATALOG_PASSWORD" "password" "PEERDB_CATALOG_DATABASE" "dbname" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
- name: TEMPORAL_HOST_PORT
  value: "{{ .Values.temporal.host }}:{{ .Values.temporal.port }}"
- name: PEERDB_TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: PEERDB_DEPLOYMENT_UID
  value: {{ .Values.temporal.taskQueueId | quote }}
{{- end -}}

{{/*
One workload of the chart. Call with (dict "root" $ "key" "flowApi" "component" "flow-api" "kind" "Deployment").
The image tag is `<key>.version | default peerdb.version`, exactly the PeerDB chart's rule.
*/}}
{{- define "peerdb.workload" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .key -}}
apiVersion: apps/v1
kind: {{ .kind }}
metadata:
  name: {{ .component }}
  labels:
    {{- include "component.labels" .component | nindent 4 }}
    {{- include "peerdb.labels" $root | nindent 4 }}
spec:
  replicas: {{ $values.replicaCount }}
  {{- if eq .kind "StatefulSet" }}
  serviceName: {{ .component }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "component.labels" .component | nindent 6 }}
      {{- include "peerdb.selectorLabels" $root | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "component.labels" .component | nindent 8 }}
        {{- include "peerdb.labels" $root | nindent 8 }}
    spec:
      {{- if eq .kind "StatefulSet" }}
      terminationGracePeriodSeconds: 600
      {{- end }}
      containers:
        - name: {{ .component }}
          image: "{{ $values.image.repository }}:{{ $values.version | default $root.Values.peerdb.version }}"
          imagePullPolicy: {{ $values.image.pullPolicy }}
          env:
            {{- include "peerdb.env" $root | nindent 12 }}
          {{- with $values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end -}}
