{{/* The server Deployment. role: "server" (alone), "follower" (NTS under the keys of the
generator, NTS_KEYS_FROM) or "keys" (the generator chrony-nts-keys: one replica, its STATE_DIR
on the shared volume). */}}
{{- define "chrony.serverDeployment" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- $sv := $root.Values.server }}
{{- $nts := $sv.ntsServer.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ if eq $role "keys" }}chrony-nts-keys{{ else }}chrony{{ end }}
  namespace: {{ $sv.namespace }}
  labels:
    app.kubernetes.io/name: chrony
    app.kubernetes.io/component: server
    {{- include "chrony.chartLabels" $root | nindent 4 }}
spec:
  replicas: {{ if eq $role "keys" }}1{{ else }}{{ $sv.replicas }}{{ end }}
  selector:
    matchLabels:
      app.kubernetes.io/name: chrony
      app.kubernetes.io/component: server
  strategy:
    {{- if eq $role "keys" }}
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
      maxSurge: {{ if $sv.hostNetwork }}0{{ else }}1{{ end }}
    {{- end }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: chrony
        app.kubernetes.io/component: server
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9123"
        prometheus.io/path: /metrics
    spec:
      {{- if $sv.hostNetwork }}
      hostNetwork: true
      dnsPolicy: Default
      {{- end }}
      {{- with $sv.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $sv.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sv.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 15
      securityContext:
        runAsUser: 100
        runAsGroup: 101
        runAsNonRoot: true
        fsGroup: 101
        seccompProfile:
          type: RuntimeDefault
        {{- if not $sv.hostNetwork }}
        sysctls:
          - name: net.ipv4.ip_unprivileged_port_start
            value: "0"
        {{- end }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: DoNotSchedule
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: chrony
              app.kubernetes.io/component: server
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: chrony
              app.kubernetes.io/component: server
      containers:
        - name: chrony
          image: {{ include "chrony.image" $root }}
          {{- include "chrony.pullPolicy" $root | nindent 10 }}
          env:
            - name: CLOCK_CONTROL
              value: "off"
            {{- with $sv.servers }}
            - name: NTP_SERVERS
              value: {{ . | quote }}
            {{- end }}
            {{- with $sv.pools }}
            - name: NTP_POOLS
              value: {{ . | quote }}
            {{- end }}
            {{- if $sv.nts }}
            - name: ENABLE_NTS
              value: "true"
            {{- end }}
            - name: ALLOW
              value: {{ $sv.allow | quote }}
            - name: HTTP_ADDR
              value: ":9123"
            {{- if $nts }}
            - name: NTS_SERVER_CERT
              value: /etc/chrony/nts/tls.crt
            - name: NTS_SERVER_KEY
              value: /etc/chrony/nts/tls.key
            {{- if eq $role "follower" }}
            - name: NTS_KEYS_FROM
              value: /var/lib/chrony-nts-keys/ntskeys
            {{- end }}
            {{- with $sv.ntsServer.watchInterval }}
            - name: NTS_WATCH_INTERVAL
              value: {{ . | quote }}
            {{- end }}
            {{- end }}
            {{- with $sv.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: ntp
              containerPort: 123
              protocol: UDP
            - name: nts-ke
              containerPort: 4460
              protocol: TCP
            - name: metrics
              containerPort: 9123
              protocol: TCP
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
              {{- if $sv.hostNetwork }}
              add: ["NET_BIND_SERVICE"]
              {{- end }}
          startupProbe:
            {{- include "chrony.probeAction" (dict "probe" "live" "Values" $root.Values) | nindent 12 }}
            periodSeconds: 2
            timeoutSeconds: 5
            failureThreshold: 30
          livenessProbe:
            {{- include "chrony.probeAction" (dict "probe" "live" "Values" $root.Values) | nindent 12 }}
            periodSeconds: 30
            timeoutSeconds: 5
            failureThreshold: 3
          readinessProbe:
            {{- include "chrony.probeAction" (dict "probe" "ready" "Values" $root.Values) | nindent 12 }}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml $sv.resources | nindent 12 }}
          volumeMounts:
            - name: state
              mountPath: /var/lib/chrony
            - name: run
              mountPath: /run/chrony
            {{- if $nts }}
            - name: nts
              mountPath: /etc/chrony/nts
              readOnly: true
            {{- end }}
            {{- if eq $role "follower" }}
            - name: nts-keys
              mountPath: /var/lib/chrony-nts-keys
              readOnly: true
            {{- end }}
      volumes:
        - name: state
          {{- if eq $role "keys" }}
          persistentVolumeClaim:
            claimName: chrony-nts-keys
          {{- else }}
          emptyDir: {}
          {{- end }}
        - name: run
          emptyDir:
            medium: Memory
            sizeLimit: 8Mi
        {{- if $nts }}
        - name: nts
          secret:
            secretName: {{ $sv.ntsServer.secretName }}
            defaultMode: 0440
        {{- end }}
        {{- if eq $role "follower" }}
        - name: nts-keys
          persistentVolumeClaim:
            claimName: chrony-nts-keys
            readOnly: true
        {{- end }}
{{- end -}}
