{{/*
config.toml, rendered from values. Strings go through toJson (a JSON string is a valid TOML basic
string); durations are strings. Secrets are never written here: the TOML only names the files
the Secrets are mounted as. Keys left out of a job or rule fall back to the daemon's defaults.
*/}}
{{- define "cognigy-warden.configToml" -}}
{{- $v := .Values -}}
# Rendered by the cognigy-warden Helm chart ({{ include "cognigy-warden.chart" . }}). Edit the
# release values, not this file. Environment variables WARDEN_<SECTION>__<KEY> override it.
# The Super API-Key is created at run time and kept in memory only.

[cognigy]
base_url = {{ required "cognigy.baseUrl is required: set it to the Cognigy.AI API URL, e.g. --set cognigy.baseUrl=https://api.cognigy.example.com" $v.cognigy.baseUrl | toJson }}
{{- with $v.cognigy.organisationId }}
organisation_id = {{ . | toJson }}
{{- end }}
management_username = {{ required "cognigy.managementUsername is required: set it to the management (Service User) username of your Cognigy install (its managementUiCredentials)" $v.cognigy.managementUsername | toJson }}
management_password_file = {{ include "cognigy-warden.passwordPath" . | toJson }}
request_timeout = {{ $v.cognigy.requestTimeout | toJson }}
max_in_flight = {{ $v.cognigy.maxInFlight | int64 }}
{{- with include "cognigy-warden.caFile" . }}
ca_file = {{ . | toJson }}
{{- end }}

[superkey]
ttl = {{ $v.superkey.ttl | toJson }}
renew_at = {{ include "cognigy-warden.tomlFloat" $v.superkey.renewAt }}
jitter = {{ include "cognigy-warden.tomlFloat" $v.superkey.jitter }}
margin = {{ $v.superkey.margin | toJson }}
backoff_max = {{ $v.superkey.backoffMax | toJson }}

[log]
format = {{ $v.log.format | toJson }}
level = {{ $v.log.level | toJson }}

[reports]
dir = {{ $v.reports.dir | toJson }}
keep_runs = {{ $v.reports.keepRuns | int64 }}

[admin]
listen = {{ printf "%s:%d" $v.admin.bindAddress ($v.admin.port | int64) | toJson }}
shutdown_grace = {{ $v.admin.shutdownGrace | toJson }}
{{- if $v.admin.trigger.enabled }}
trigger_token_file = {{ include "cognigy-warden.triggerTokenPath" . | toJson }}
{{- end }}
{{- $jobKeys := list (list "kind" "kind") (list "schedule" "schedule") (list "timezone" "timezone") (list "overlap" "overlap") (list "timeout" "timeout") (list "jitter" "jitter") (list "runOnStart" "run_on_start") (list "enabled" "enabled") (list "window" "window") }}
{{- $ruleKeys := list (list "enabled" "enabled") (list "severity" "severity") (list "maxAge" "max_age") (list "minCount" "min_count") }}
{{- range $name, $job := $v.jobs }}
{{- if kindIs "map" $job }}

[jobs.{{ $name | toJson }}]
{{- range $jobKeys }}
{{- if hasKey $job (index . 0) }}
{{ index . 1 }} = {{ get $job (index . 0) | toJson }}
{{- end }}
{{- end }}
{{- range $ruleName, $rule := $job.rules }}
{{- if kindIs "map" $rule }}

[jobs.{{ $name | toJson }}.rules.{{ $ruleName | toJson }}]
{{- range $ruleKeys }}
{{- if hasKey $rule (index . 0) }}
{{ index . 1 }} = {{ if eq (index . 0) "minCount" }}{{ get $rule "minCount" | int64 }}{{ else }}{{ get $rule (index . 0) | toJson }}{{ end }}
{{- end }}
{{- end }}
{{- if hasKey $rule "threshold" }}
threshold = {{ include "cognigy-warden.tomlFloat" $rule.threshold }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
