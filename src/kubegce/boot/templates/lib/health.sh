# shellcheck shell=bash
# The API's health for GCE's load balancer: control planes behind the API's target pool.
#
# A target pool takes only a legacy HTTP health check (plain HTTP; Compute v1 TargetPool.healthChecks:
# "Only legacy HttpHealthChecks are supported"), while kube-apiserver serves only HTTPS. kOps puts
# a sidecar (kube-apiserver-healthcheck, port 3990) in front of it; kubegce needs no image: systemd
# listens on $KUBEGCE_API_HEALTH_PORT (kubegce-api-health.socket, Accept=yes) and runs the small
# script below once per probe, with the connection as its stdin and stdout. It answers 200 only
# while the local API server's /readyz says "ok" (readable without credentials: kubeadm's
# system:public-info-viewer role), and 503 otherwise, so GCE stops sending API traffic to a control
# plane that is being recreated, restarting or not yet joined, and sends it again once it is ready.

KUBEGCE_API_HEALTH_SCRIPT=/etc/kubegce/api-health.sh

api_health_answer() {
  # One probe: read the request (its line and headers, so that closing does not reset the
  # connection before the answer is read) and answer it. GET or HEAD of / or /readyz only.
  local line method path status body n=0
  IFS=$' \r' read -r -t 5 method path _ || return 0
  while IFS=$'\r' read -r -t 5 line && [[ -n "$line" ]] && ((n++ < 100)); do :; done
  if [[ ! "$method" =~ ^(GET|HEAD)$ ]]; then
    status="405 Method Not Allowed" body="GET only"
  elif [[ "$path" != "/readyz" && "$path" != "/" ]]; then
    status="404 Not Found" body="not found"
  elif [[ "$(api_health_probe)" == ok ]]; then
    status="200 OK" body="ok"
  else
    status="503 Service Unavailable" body="kube-apiserver is not ready"
  fi
  printf 'HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' \
    "$status" "$((${#body} + 1))"
  if [[ "$method" != HEAD ]]; then printf '%s\n' "$body"; fi
}

api_health_probe() {
  # The local API server's /readyz body ("ok" when ready). Loopback only and no credentials sent,
  # so its serving certificate (whose names do not include 127.0.0.1) is not checked.
  curl --silent --insecure --max-time 3 "https://127.0.0.1:$KUBEGCE_API_PORT/readyz" 2>/dev/null || true
}

api_health_script() {
  # The per-probe script: the two functions above and the API port they read.
  echo '#!/bin/bash'
  echo '# kubegce: answers one GCE health check of the local API server (lib/health.sh).'
  echo 'set -o nounset -o pipefail'
  declare -p KUBEGCE_API_PORT
  declare -f api_health_answer api_health_probe
  echo 'api_health_answer'
}

install_api_health() {
  # Control planes behind a load balancer (KUBEGCE_API_LOAD_BALANCED=1): the script, the socket
  # and the per-connection service; the socket enabled now (it answers 503 until the API is ready).
  [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_API_LOAD_BALANCED" == 1 ]] || return 0
  api_health_script >"$KUBEGCE_API_HEALTH_SCRIPT.partial"
  chmod 0755 "$KUBEGCE_API_HEALTH_SCRIPT.partial"
  mv -f "$KUBEGCE_API_HEALTH_SCRIPT.partial" "$KUBEGCE_API_HEALTH_SCRIPT"
  cat >/etc/systemd/system/kubegce-api-health.socket <<EOF
[Unit]
Description=kubegce: GCE health checks of the local API server (port $KUBEGCE_API_HEALTH_PORT)

[Socket]
ListenStream=$KUBEGCE_API_HEALTH_PORT
Accept=yes
MaxConnections=32
MaxConnectionsPerSource=8

[Install]
WantedBy=sockets.target
EOF
  cat >/etc/systemd/system/kubegce-api-health@.service <<EOF
[Unit]
Description=kubegce: answer one GCE health check of the local API server

[Service]
ExecStart=$KUBEGCE_API_HEALTH_SCRIPT
StandardInput=socket
StandardOutput=socket
StandardError=journal
RuntimeMaxSec=15
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
EOF
  systemctl daemon-reload
  systemctl enable --now kubegce-api-health.socket
}
