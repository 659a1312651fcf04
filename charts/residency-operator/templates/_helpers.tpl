{{/* Names: every object is named after the full name; the manager's flags get the same names. */}}

{{- define "residency-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "residency-operator.fullname" -}}
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

{{- define "residency-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "residency-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "residency-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "residency-operator.labels" -}}
helm.sh/chart: {{ include "residency-operator.chart" . }}
{{ include "residency-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: residency-operator
{{- end }}

{{- define "residency-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "residency-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "residency-operator.webhookServiceName" -}}
{{- printf "%s-webhook-service" (include "residency-operator.fullname" .) }}
{{- end }}

{{- define "residency-operator.metricsServiceName" -}}
{{- printf "%s-metrics-service" (include "residency-operator.fullname" .) }}
{{- end }}

{{- define "residency-operator.webhookSecretName" -}}
{{- printf "%s-webhook-server-cert" (include "residency-operator.fullname" .) }}
{{- end }}

{{- define "residency-operator.certificateName" -}}
{{- printf "%s-serving-cert" (include "residency-operator.fullname" .) }}
{{- end }}

{{- define "residency-operator.issuerName" -}}
{{- printf "%s-selfsigned-issuer" (include "residency-operator.fullname" .) }}
{{- end }}

{{/* The webhook configurations keep the generated names (config/webhook/manifests.yaml), prefixed
with the full name as kustomize's namePrefix does: "<fullname>-mutating-webhook-configuration". */}}
{{- define "residency-operator.webhookConfigurationName" -}}
{{- printf "%s-%s" (include "residency-operator.fullname" .root) .name }}
{{- end }}

{{- define "residency-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the webhook server reads tls.crt and tls.key: the certificate Secret's volume. */}}
{{- define "residency-operator.certDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end }}

{{/* Only governed namespaces, never kube-system nor the operator's own. */}}
{{- define "residency-operator.webhookNamespaceSelector" -}}
matchExpressions:
  - key: dataresidency.io/governed
    operator: In
    values: ["true"]
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- toYaml (concat (list "kube-system" .Release.Namespace) .Values.webhook.excludedNamespaces | uniq) | nindent 6 }}
{{- end }}

{{/* yamlDocs renders {"docs": [...]}: the objects in a multi-document file the sync script copied
into files/ (call with dict "root" $ "path" "files/..."). */}}
{{- define "residency-operator.yamlDocs" -}}
{{- $docs := list }}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" (.root.Files.Get .path) -1 }}
{{- $obj := fromYaml $doc }}
{{- if hasKey $obj "Error" }}
{{- fail (printf "%s: %s" $.path $obj.Error) }}
{{- end }}
{{- if $obj.kind }}
{{- $docs = append $docs $obj }}
{{- end }}
{{- end }}
{{- if not $docs }}
{{- fail (printf "%s is missing or empty: run hack/sync-chart.sh" .path) }}
{{- end }}
{{- toYaml (dict "docs" $docs) }}
{{- end }}

{{/* admissionMode is admission.mode, checked: policies, webhook or both. */}}
{{- define "residency-operator.admissionMode" -}}
{{- if not (has .Values.admission.mode (list "policies" "webhook" "both")) }}
{{- fail (printf "admission.mode must be policies, webhook or both, not %q" .Values.admission.mode) }}
{{- end }}
{{- .Values.admission.mode }}
{{- end }}
