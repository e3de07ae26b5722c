{{- define "helpdesk.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "helpdesk.selectorLabels" -}}
app.kubernetes.io/name: helpdesk
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "helpdesk.labels" -}}
{{ include "helpdesk.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "helpdesk.databaseEnv" -}}
{{- if .Values.database.existingSecret }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: DATABASE_URL
{{- else if .Values.database.url }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "helpdesk.name" . }}-database
      key: DATABASE_URL
{{- else }}
# Embedded SQLite on the pod's own volume.
- name: DATABASE_URL
  value: "sqlite:///data/helpdesk.db?mode=rwc"
{{- end }}
{{- end -}}
