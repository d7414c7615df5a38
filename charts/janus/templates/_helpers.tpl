{{/* Names ---------------------------------------------------------------------------------- */}}

{{- define "janus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "janus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* What this release runs: "central", "agent" (agent-only) or "remote" (RBAC only). */}}
{{- define "janus.mode" -}}
{{- if .Values.agent.enabled -}}agent{{- else if .Values.remote.enabled -}}remote{{- else -}}central{{- end -}}
{{- end -}}

{{- define "janus.component" -}}
{{- if eq (include "janus.mode" .) "central" -}}central{{- else -}}agent{{- end -}}
{{- end -}}

{{- define "janus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "janus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: janus
{{- end -}}

{{- define "janus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "janus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "janus.component" . }}
{{- end -}}

{{/* The ServiceAccount the pod (and, for agents, the agent RBAC) uses. */}}
{{- define "janus.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}
{{- .Values.serviceAccount.name -}}
{{- else if eq (include "janus.mode" .) "central" -}}
{{- include "janus.fullname" . -}}
{{- else -}}
janus-agent
{{- end -}}
{{- end -}}

{{/* The cluster the embedded agent manages: agent.clusterName, else the first of clusters[]. */}}
{{- define "janus.embeddedCluster" -}}
{{- if .Values.agent.clusterName -}}
{{- .Values.agent.clusterName -}}
{{- else if .Values.clusters -}}
{{- (first .Values.clusters).name | default "" -}}
{{- end -}}
{{- end -}}

{{/* "true" when central runs the agent in-process. */}}
{{- define "janus.embedded" -}}
{{- if and (eq (include "janus.mode" .) "central") .Values.agent.embedded (include "janus.embeddedCluster" .) -}}true{{- end -}}
{{- end -}}

{{/* "true" when this release needs the agent's RBAC (agent-only, remote, or central with the embedded agent). */}}
{{- define "janus.agentRbac" -}}
{{- if and .Values.rbac.create (or (ne (include "janus.mode" .) "central") (include "janus.embedded" .)) -}}true{{- end -}}
{{- end -}}

{{/* "true" when central verifies some cluster's agent with TokenReview. */}}
{{- define "janus.tokenReview" -}}
{{- if eq (include "janus.mode" .) "central" -}}
{{- range .Values.clusters -}}
{{- if and .agent (eq (.agent.auth | default "") "tokenreview") -}}true{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "true" when the workload talks to the Kubernetes API server. */}}
{{- define "janus.needsApiServer" -}}
{{- if or (eq (include "janus.mode" .) "agent") (include "janus.embedded" .) (include "janus.tokenReview" .) -}}true{{- end -}}
{{- end -}}

{{/* Secrets ------------------------------------------------------------------------------- */}}

{{/* The Secret that holds the credentials central reads as files. */}}
{{- define "janus.secretName" -}}
{{- default (include "janus.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* The secret keys this release reads, as a list. */}}
{{- define "janus.secretKeys" -}}
{{- $keys := list -}}
{{- if eq (include "janus.mode" .) "central" -}}
{{- if .Values.oidc.enabled -}}{{- $keys = append $keys "oidc-client-secret" -}}{{- end -}}
{{- if eq .Values.auth.mode "github" -}}{{- $keys = append $keys "github-client-secret" -}}{{- end -}}
{{- if .Values.slack.enabled -}}{{- $keys = concat $keys (list "slack-bot-token" "slack-signing-secret") -}}{{- end -}}
{{- if .Values.discord.enabled -}}{{- $keys = append $keys "discord-bot-token" -}}{{- end -}}
{{- if .Values.postgresql.enabled -}}{{- $keys = append $keys "postgresql-password" -}}{{- end -}}
{{- end -}}
{{- toJson (sortAlpha $keys) -}}
{{- end -}}

{{- define "janus.linkSecretName" -}}
{{- default (printf "%s-links" (include "janus.fullname" .)) .Values.links.existingSecret -}}
{{- end -}}

{{- define "janus.joinTokenSecretName" -}}
{{- default (printf "%s-join-token" (include "janus.fullname" .)) .Values.agent.joinToken.existingSecret -}}
{{- end -}}

{{/* Configuration ------------------------------------------------------------------------- */}}

{{- define "janus.baseUrl" -}}
{{- if .Values.webui.baseUrl -}}
{{- .Values.webui.baseUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- else if and .Values.httpRoute.enabled .Values.httpRoute.hostnames -}}
{{- printf "https://%s" (first .Values.httpRoute.hostnames) -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%v" (include "janus.fullname" .) .Release.Namespace .Values.service.port -}}
{{- end -}}
{{- end -}}

{{/* The PostgreSQL URL; call with (dict "pg" .Values.postgresql "password" "…"). The password is
     never rendered into the ConfigMap: the Deployment sets JANUS_DATABASE__URL from the Secret. */}}
{{- define "janus.postgresUrl" -}}
{{- $pg := .pg -}}
{{- printf "postgres://%s%s@%s:%v/%s?sslmode=%s" $pg.username .password $pg.host $pg.port $pg.database $pg.sslMode -}}
{{- end -}}
