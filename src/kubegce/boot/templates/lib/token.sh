# shellcheck shell=bash
# The join token's keeper on control planes: nodes can join on any day.
#
# kubeadm's bootstrap tokens expire (kubeadm's default: 24 h). Nodes that a MIG makes later (a
# repair, a resize, a rolling update, an autoscaler) fetch the token from the state store, so the
# token there must be one the API server accepts whenever they boot. Every control plane runs
# keep_join_token from a systemd timer (every 5 minutes): it reads the current token from its
# role's bundle in the state store (a `kubegce rotate token` writes a new one there), creates it in
# the cluster if it is not there (`kubeadm token create`), and otherwise moves its expiration to
# now + its lifetime (at least 15 minutes, so a short lifetime outlives the 5 minutes between
# runs). A token no control plane renews (the cluster is down, or the token was rotated away)
# expires one lifetime later. docs/state-store.md has the trade-offs.

KUBEGCE_TOKEN_KEEPER=/etc/kubegce/keep-join-token.sh
KUBEGCE_TOKEN_FILE=/etc/kubegce/join-token
KUBEGCE_ADMIN_KUBECONFIG=/etc/kubernetes/admin.conf
KUBEGCE_TOKEN_DESCRIPTION="kubegce join token (renewed by kubegce-join-token.timer)"

token_expiration() {
  # $1 lifetime in seconds: the RFC 3339 time the token's Secret gets (now + max($1, 900 s)).
  local ttl=$1
  if ((ttl < 900)); then ttl=900; fi
  date -u -d "@$(($(date -u +%s) + ttl))" +%Y-%m-%dT%H:%M:%SZ
}

current_join_token() {
  # The token the state store holds now (into $KUBEGCE_TOKEN_FILE, 0600), or the one already on
  # this node when the store cannot be read; its lifetime beside it (join-token-ttl).
  local tmp
  tmp=$(umask 077 && mktemp -d "$KUBEGCE_TOKEN_FILE.XXXXXX")  # beside it: the moves below are renames
  if [[ -n "${KUBEGCE_SECRETS_URL:-}" ]] &&
    download_private "$tmp/bundle.tar" --silent --show-error --fail --retry 3 --max-time 60 \
      -H "Authorization: Bearer $(service_account_token)" "$KUBEGCE_SECRETS_URL" &&
    (umask 077 && tar --no-same-permissions -C "$tmp" -xf "$tmp/bundle.tar" etc/kubegce/join-token \
      etc/kubegce/join-token-ttl); then
    mv -f "$tmp/etc/kubegce/join-token-ttl" "$KUBEGCE_TOKEN_FILE-ttl"
    mv -f "$tmp/etc/kubegce/join-token" "$KUBEGCE_TOKEN_FILE"
  else
    log "join token: the state store could not be read; keeping the token on this node"
  fi
  rm -rf "$tmp"
}

keep_join_token() {
  # Create or renew the store's current join token in the cluster. The token is an argument of
  # kubeadm only (never printed: kubeadm's output goes nowhere).
  local kubeconfig=$KUBEGCE_ADMIN_KUBECONFIG token id ttl expiration
  current_join_token
  token=$(<"$KUBEGCE_TOKEN_FILE")
  ttl=86400
  if [[ -r "$KUBEGCE_TOKEN_FILE-ttl" ]]; then ttl=$(<"$KUBEGCE_TOKEN_FILE-ttl"); fi
  if [[ ! "$token" =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]]; then
    echo "join token: $KUBEGCE_TOKEN_FILE is not a kubeadm token" >&2
    return 1
  fi
  if [[ ! "$ttl" =~ ^[1-9][0-9]{0,7}$ ]]; then ttl=86400; fi
  id=${token%%.*}
  expiration=$(token_expiration "$ttl")
  if "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig "$kubeconfig" -n kube-system get secret "bootstrap-token-$id" \
    -o name >/dev/null 2>&1; then
    "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig "$kubeconfig" -n kube-system patch secret "bootstrap-token-$id" \
      --type merge -p "{\"stringData\":{\"expiration\":\"$expiration\"}}" >/dev/null
    log "join token id=$id renewed until $expiration"
  else
    "$KUBEGCE_BIN_DIR/kubeadm" token create "$token" --ttl "$((ttl < 900 ? 900 : ttl))s" \
      --description "$KUBEGCE_TOKEN_DESCRIPTION" --kubeconfig "$kubeconfig" >/dev/null
    log "join token id=$id created in the cluster, valid until $expiration unless renewed"
  fi
}

install_token_keeper() {
  # The keeper as a script of its own (the functions it needs and the settings they read, copied
  # from this bootstrap) and its timer; enabled now.
  [[ "$KUBEGCE_ROLE" == control-plane ]] || return 0
  local script
  script=$(
    echo '#!/bin/bash'
    echo '# kubegce: renews the cluster join token (written by the node bootstrap; lib/token.sh).'
    echo 'set -o errexit -o nounset -o pipefail'
    declare -p KUBEGCE_SECRETS_URL KUBEGCE_BIN_DIR KUBEGCE_TOKEN_DESCRIPTION KUBEGCE_LOG_PREFIX \
      KUBEGCE_METADATA_URL KUBEGCE_TOKEN_FILE KUBEGCE_ADMIN_KUBECONFIG
    declare -f log metadata_get service_account_token download_private token_expiration \
      current_join_token keep_join_token
    echo 'keep_join_token'
  )
  (umask 077 && printf '%s\n' "$script" >"$KUBEGCE_TOKEN_KEEPER.partial")
  mv -f "$KUBEGCE_TOKEN_KEEPER.partial" "$KUBEGCE_TOKEN_KEEPER"
  chmod 0700 "$KUBEGCE_TOKEN_KEEPER"
  cat >/etc/systemd/system/kubegce-join-token.service <<EOF
[Unit]
Description=kubegce: renew the cluster join token
After=kubelet.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=$KUBEGCE_TOKEN_KEEPER
EOF
  cat >/etc/systemd/system/kubegce-join-token.timer <<'EOF'
[Unit]
Description=kubegce: renew the cluster join token every 5 minutes

[Timer]
OnBootSec=2min
OnUnitActiveSec=5min
RandomizedDelaySec=30s

[Install]
WantedBy=timers.target
EOF
  systemctl daemon-reload
  systemctl enable --now kubegce-join-token.timer
}
