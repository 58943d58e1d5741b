# shellcheck shell=bash
# API address discovery: the first control plane publishes its address, the others wait for it.

set_api_host() {
  # $1: IP of the API endpoint name. Our own line in /etc/hosts, replaced, nothing else touched.
  local hosts=/etc/hosts tmp
  tmp=$(mktemp)
  grep -v ' # kubegce-api$' "$hosts" >"$tmp" || true
  printf '%s %s # kubegce-api\n' "$1" "$KUBEGCE_API_ENDPOINT" >>"$tmp"
  cat "$tmp" >"$hosts"
  rm -f "$tmp"
  echo "$1" >"$RUN_DIR/api-address"
}

discover_api_address() {
  # Wait until the first control plane (or kubegce, for a load-balanced API) has published the
  # API address in the state bucket.
  local address="" deadline=$((SECONDS + ${KUBEGCE_DISCOVERY_TIMEOUT:-1200}))
  while ((SECONDS < deadline)); do
    address=$(curl --silent --fail --max-time 10 -H "Authorization: Bearer $(service_account_token)" \
      "$KUBEGCE_DISCOVERY_URL" 2>/dev/null || true)
    if [[ "$address" =~ ^[0-9a-fA-F.:]+$ ]]; then
      set_api_host "$address"
      log "api-address=$address"
      # a single control plane's address is its instance's: a restore (or a recreation without
      # its stateful IP) moves it, so every later boot looks again (refresh_api_address)
      if [[ "$KUBEGCE_API_LOAD_BALANCED" == 0 ]]; then touch "$RUN_DIR/api-discovered"; fi
      return 0
    fi
    sleep "${KUBEGCE_DISCOVERY_INTERVAL:-10}"
  done
  echo "no API address was published at $KUBEGCE_DISCOVERY_URL" >&2
  return 1
}

publish_api_address() {
  # The first control plane of a cluster without a load balancer announces its own address.
  local address
  address=$(metadata_get "instance/network-interfaces/0/ip")
  set_api_host "$address"
  if [[ -n "$KUBEGCE_DISCOVERY_UPLOAD_URL" ]]; then
    curl --silent --show-error --fail --retry 5 --max-time 30 -X POST \
      -H "Authorization: Bearer $(service_account_token)" -H 'Content-Type: text/plain' \
      --data-binary "$address" "$KUBEGCE_DISCOVERY_UPLOAD_URL" >/dev/null
  fi
  log "api-address=$address published"
}

api_answers() {
  # $1: how many retries. Any answer from the API endpoint's /healthz counts.
  curl --silent --insecure --max-time 5 --retry "$1" --retry-delay 10 --retry-all-errors \
    "https://$KUBEGCE_API_ENDPOINT:443/healthz" >/dev/null 2>&1
}

refresh_api_address() {
  # A later boot of a node that discovered a single control plane's address: the one published
  # now, if the state bucket answers with one (else the one it had stays).
  local address current=""
  address=$(curl --silent --fail --max-time 10 --retry 3 -H "Authorization: Bearer $(service_account_token)" \
    "$KUBEGCE_DISCOVERY_URL" 2>/dev/null || true)
  if [[ -r "$RUN_DIR/api-address" ]]; then current=$(<"$RUN_DIR/api-address"); fi
  if [[ "$address" =~ ^[0-9a-fA-F.:]+$ && "$address" != "$current" ]]; then
    set_api_host "$address"
    log "api-address=$address (was ${current:-none}): the control plane's address changed"
  fi
}
