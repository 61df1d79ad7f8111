{{/* The image reference. */}}
{{- define "chrony.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* imagePullPolicy, only when set. */}}
{{- define "chrony.pullPolicy" -}}
{{- with .Values.image.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end -}}

{{/* The chart's bookkeeping labels, on every object's metadata (never in selectors). */}}
{{- define "chrony.chartLabels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The node clock's sources: the tiered layout or the configured ones. */}}
{{- define "chrony.nodeSources" -}}
{{- if .Values.tiered.enabled -}}
{{- if .Values.tiered.serverAddresses -}}
{{- $s := list -}}
{{- range .Values.tiered.serverAddresses }}{{ $s = append $s (printf "%s iburst prefer" .) }}{{ end -}}
- name: NTP_SERVERS
  value: {{ join ", " $s | quote }}
- name: NTP_POOLS
  value: {{ .Values.tiered.fallback | quote }}
{{- else -}}
- name: NTP_POOLS
  value: {{ printf "chrony-pool.%s.svc.cluster.local iburst prefer maxsources %v, %s" .Values.server.namespace .Values.tiered.maxSources .Values.tiered.fallback | quote }}
{{- end -}}
{{- else -}}
{{- with .Values.nodeClock.servers }}
- name: NTP_SERVERS
  value: {{ . | quote }}
{{- end }}
{{- if not .Values.nodeClock.timeSource }}
{{- with .Values.nodeClock.pools }}
- name: NTP_POOLS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* A probe's action: an HTTP GET of /healthz or /readyz on the container's metrics port
(kubelet's own client: about 0.5 ms of the entrypoint's CPU), or, with probes: exec, the
entrypoint's `probe` command (paid in the container runtime: about 60 ms of CPU per probe). */}}
{{- define "chrony.probeAction" -}}
{{- if eq .Values.probes "exec" -}}
exec:
  command: ["/usr/local/bin/entrypoint", "probe", {{ .probe | quote }}]
{{- else if eq .Values.probes "httpGet" -}}
httpGet:
  path: {{ if eq .probe "live" }}/healthz{{ else }}/readyz{{ end }}
  port: metrics
{{- else -}}
{{- fail (printf "probes: %q, want httpGet or exec" .Values.probes) -}}
{{- end -}}
{{- end -}}
