{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "cognigy-warden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full resource name: `<release>-<chart>`, or the release name when it already contains the chart
name. Truncated to 63 characters.
*/}}
{{- define "cognigy-warden.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "cognigy-warden.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select this release's pod. Never change them: Deployment selectors are immutable.
*/}}
{{- define "cognigy-warden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cognigy-warden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every resource: the selector labels, the standard app.kubernetes.io/* labels,
helm.sh/chart, and commonLabels.
*/}}
{{- define "cognigy-warden.labels" -}}
helm.sh/chart: {{ include "cognigy-warden.chart" . }}
{{ include "cognigy-warden.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: daemon
app.kubernetes.io/part-of: cognigy-warden
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the pod runs as.
*/}}
{{- define "cognigy-warden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cognigy-warden.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "cognigy-warden.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Fixed paths inside the container. The TOML names the secret files; the files come from Secrets.
*/}}
{{- define "cognigy-warden.configDir" -}}/etc/cognigy-warden{{- end }}
{{- define "cognigy-warden.configPath" -}}/etc/cognigy-warden/config.toml{{- end }}
{{- define "cognigy-warden.chartCaPath" -}}/etc/cognigy-warden/cognigy-ca.pem{{- end }}
{{- define "cognigy-warden.secretsDir" -}}/var/run/secrets/cognigy-warden{{- end }}
{{- define "cognigy-warden.passwordPath" -}}/var/run/secrets/cognigy-warden/management-password{{- end }}
{{- define "cognigy-warden.triggerTokenPath" -}}/var/run/secrets/cognigy-warden/trigger-token{{- end }}

{{/*
Name of the Secret the chart creates (only when a password or token is given in values).
*/}}
{{- define "cognigy-warden.chartSecretName" -}}
{{- include "cognigy-warden.fullname" . }}
{{- end }}

{{/*
"true" when the chart must create its own Secret.
*/}}
{{- define "cognigy-warden.createSecret" -}}
{{- $trigger := .Values.admin.trigger }}
{{- if or (not .Values.management.existingSecret) (and $trigger.enabled (not $trigger.existingSecret)) }}true{{ end }}
{{- end }}

{{/*
Where the management password comes from: name and key of the Secret.
*/}}
{{- define "cognigy-warden.managementSecretName" -}}
{{- .Values.management.existingSecret | default (include "cognigy-warden.chartSecretName" .) }}
{{- end }}
{{- define "cognigy-warden.managementSecretKey" -}}
{{- if .Values.management.existingSecret }}{{ .Values.management.existingSecretPasswordKey }}{{ else }}management-password{{ end }}
{{- end }}

{{/*
Where the trigger token comes from: name and key of the Secret.
*/}}
{{- define "cognigy-warden.triggerSecretName" -}}
{{- .Values.admin.trigger.existingSecret | default (include "cognigy-warden.chartSecretName" .) }}
{{- end }}
{{- define "cognigy-warden.triggerSecretKey" -}}
{{- if .Values.admin.trigger.existingSecret }}{{ .Values.admin.trigger.existingSecretTokenKey }}{{ else }}trigger-token{{ end }}
{{- end }}

{{/*
Path of the extra CA bundle the daemon trusts, or "" for none.
*/}}
{{- define "cognigy-warden.caFile" -}}
{{- if or .Values.cognigy.ca.configMapName .Values.cognigy.ca.secretName }}
{{- include "cognigy-warden.chartCaPath" . }}
{{- else }}
{{- .Values.cognigy.caFile }}
{{- end }}
{{- end }}

{{/*
Name of the reports PersistentVolumeClaim (existing or created).
*/}}
{{- define "cognigy-warden.reportsClaimName" -}}
{{- .Values.reports.persistence.existingClaim | default (printf "%s-reports" (include "cognigy-warden.fullname" .)) }}
{{- end }}

{{/*
Whole seconds (rounded up) of a humantime duration such as "25s", "1m 30s" or "1.5m": the same
grammar and units the daemon accepts. Fails on anything else.
*/}}
{{- define "cognigy-warden.durationSeconds" -}}
{{- $input := toString .value }}
{{- $units := dict
  "nanos" 0.000000001 "nsec" 0.000000001 "ns" 0.000000001
  "usec" 0.000001 "us" 0.000001
  "millis" 0.001 "msec" 0.001 "ms" 0.001
  "seconds" 1 "second" 1 "secs" 1 "sec" 1 "s" 1
  "minutes" 60 "minute" 60 "mins" 60 "min" 60 "m" 60
  "hours" 3600 "hour" 3600 "hrs" 3600 "hr" 3600 "h" 3600
  "days" 86400 "day" 86400 "d" 86400
  "weeks" 604800 "week" 604800 "wks" 604800 "wk" 604800 "w" 604800
  "months" 2630016 "month" 2630016 "M" 2630016
  "years" 31557600 "year" 31557600 "yrs" 31557600 "yr" 31557600 "y" 31557600 }}
{{- if not (regexMatch "^\\s*([0-9]+(\\.[0-9]+)?\\s*[a-zA-Z]+\\s*)+$" $input) }}
{{- fail (printf "%s: %q is not a duration: write a number and a unit, e.g. \"25s\", \"1m 30s\"." .name $input) }}
{{- end }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?\\s*[a-zA-Z]+" $input -1 }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $unit := trim (trimPrefix $number .) }}
{{- if not (hasKey $units $unit) }}
{{- fail (printf "%s: unknown unit %q in %q: use ms, s, m, h, d (or their long names)." $.name $unit $input) }}
{{- end }}
{{- $total = addf $total (mulf (float64 $number) (get $units $unit)) }}
{{- end }}
{{- ceil $total | int64 }}
{{- end }}

{{/*
A TOML float literal: always with a decimal point, so the daemon sees a float.
*/}}
{{- define "cognigy-warden.tomlFloat" -}}
{{- $value := float64 . }}
{{- if eq $value (floor $value) }}{{ printf "%.1f" $value }}{{ else }}{{ $value }}{{ end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: explicit (checked to exceed admin.shutdownGrace) or derived as
shutdownGrace + 5 s, so the daemon's own drain always ends before the kubelet's SIGKILL.
*/}}
{{- define "cognigy-warden.terminationGracePeriodSeconds" -}}
{{- $grace := include "cognigy-warden.durationSeconds" (dict "name" "admin.shutdownGrace" "value" .Values.admin.shutdownGrace) | int64 }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $grace 5 }}
{{- else }}
{{- $explicit := .Values.terminationGracePeriodSeconds | int64 }}
{{- if le $explicit $grace }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than admin.shutdownGrace (%s = %d s), or the kubelet kills the daemon before it has drained: raise it or leave it empty to derive %d." $explicit .Values.admin.shutdownGrace $grace (add $grace 5)) }}
{{- end }}
{{- $explicit }}
{{- end }}
{{- end }}

{{/*
Cross-field checks the JSON schema cannot express. Included by the Deployment and the ConfigMap.
*/}}
{{- define "cognigy-warden.validate" -}}
{{- $hint := "(see the comments in the chart's values.yaml)" }}
{{- $_ := required "cognigy.baseUrl is required: set it to the Cognigy.AI API URL, e.g. --set cognigy.baseUrl=https://api.cognigy.example.com" .Values.cognigy.baseUrl }}
{{- $_ = required "cognigy.managementUsername is required: set it to the management (Service User) username of your Cognigy install (its managementUiCredentials)" .Values.cognigy.managementUsername }}
{{- if and (not .Values.management.existingSecret) (not .Values.management.password) }}
{{- fail (printf "The management password is missing: set management.existingSecret to the name of a Secret holding it under key %q (recommended), or set management.password %s." .Values.management.existingSecretPasswordKey $hint) }}
{{- end }}
{{- if and .Values.management.existingSecret .Values.management.password }}
{{- fail "Both management.existingSecret and management.password are set: keep only one (existingSecret is recommended)." }}
{{- end }}
{{- $trigger := .Values.admin.trigger }}
{{- if and $trigger.enabled (not $trigger.existingSecret) (not $trigger.token) }}
{{- fail (printf "admin.trigger.enabled is true but no token is given: set admin.trigger.existingSecret to a Secret holding the token under key %q, or set admin.trigger.token." $trigger.existingSecretTokenKey) }}
{{- end }}
{{- if and $trigger.existingSecret $trigger.token }}
{{- fail "Both admin.trigger.existingSecret and admin.trigger.token are set: keep only one." }}
{{- end }}
{{- $caSources := 0 }}
{{- range (list .Values.cognigy.caFile .Values.cognigy.ca.configMapName .Values.cognigy.ca.secretName) }}
{{- if . }}{{ $caSources = add1 $caSources }}{{ end }}
{{- end }}
{{- if gt $caSources 1 }}
{{- fail "Set at most one of cognigy.caFile, cognigy.ca.configMapName and cognigy.ca.secretName." }}
{{- end }}
{{- $persistence := .Values.reports.persistence }}
{{- if and $persistence.existingClaim (not $persistence.enabled) }}
{{- fail (printf "reports.persistence.existingClaim is %q but reports.persistence.enabled is false: set enabled to true to use the claim." $persistence.existingClaim) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.cognigyApi.peers) }}
{{- fail "networkPolicy.enabled is true but networkPolicy.cognigyApi.peers is empty: name the peers that answer for cognigy.baseUrl (namespaceSelector/podSelector of the ingress controller or API pods, or ipBlock CIDRs), or the daemon could not reach Cognigy." }}
{{- end }}
{{- $reportsDir := clean .Values.reports.dir }}
{{- range (list "/" "/tmp" (include "cognigy-warden.configDir" .) (include "cognigy-warden.secretsDir" .)) }}
{{- if eq $reportsDir . }}
{{- fail (printf "reports.dir %q collides with a path the chart mounts itself: choose another directory, e.g. /var/lib/cognigy-warden/reports." $.Values.reports.dir) }}
{{- end }}
{{- end }}
{{- $_ = include "cognigy-warden.terminationGracePeriodSeconds" . }}
{{- end }}
