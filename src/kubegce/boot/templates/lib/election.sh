# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals that other fragments of bootstrap.sh read
# HA: which control plane runs kubeadm init (and, in a restore round, which restores etcd).

CLAIM_HOLDER="" CLAIM_CREATED=0

claim_object() {
  # $1: a create-only upload URL (ifGenerationMatch=0), $2: the object's read URL. Writes this
  # instance's name there: returns 0 when this write created it, or when the holder is this
  # instance already (an earlier run; CLAIM_CREATED=0); 1 when another instance holds it
  # (CLAIM_HOLDER names it).
  local upload=$1 read=$2 me code deadline=$((SECONDS + ${KUBEGCE_ELECTION_TIMEOUT:-600}))
  me=$(metadata_get "instance/name" || true)
  [[ "$me" =~ ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || fail "election: the metadata server named no instance (${me:0:64}); cannot take part"
  CLAIM_CREATED=0
  while ((SECONDS < deadline)); do
    # A multipart upload: its ifGenerationMatch=0 is honoured by GCS and by fake-gcs-server alike.
    code=$(printf -- '--kubegce\r\nContent-Type: application/json\r\n\r\n{}\r\n--kubegce\r\nContent-Type: text/plain\r\n\r\n%s\r\n--kubegce--\r\n' "$me" |
      curl --silent --output /dev/null --write-out '%{http_code}' --max-time 30 -X POST \
        -H "Authorization: Bearer $(service_account_token)" \
        -H 'Content-Type: multipart/related; boundary=kubegce' \
        --data-binary @- "$upload" || true)
    if [[ "$code" == 200 ]]; then
      CLAIM_HOLDER=$me CLAIM_CREATED=1
      return 0
    elif [[ "$code" == 412 ]]; then
      CLAIM_HOLDER=$(curl --silent --fail --max-time 10 -H "Authorization: Bearer $(service_account_token)" \
        "$read" 2>/dev/null || true)
      if [[ "$CLAIM_HOLDER" == "$me" ]]; then
        return 0
      elif [[ -n "$CLAIM_HOLDER" ]]; then
        return 1
      fi
    fi
    log "election: state bucket answered ${code:-nothing}; retrying"
    sleep "${KUBEGCE_ELECTION_INTERVAL:-5}"
  done
  fail "could not write or read the election object at ${read%%\?*}"
}

elect_first_control_plane() {
  # HA: exactly one control plane runs `kubeadm init`. It is the one whose create-only write
  # of the election object in the state bucket succeeds; the object holds its instance name, so a
  # rerun on the winner (after a failed init) knows it won. A winner whose disk was recreated
  # finds the API already answering and joins instead.
  if [[ -z "$KUBEGCE_ELECTION_UPLOAD_URL" ]]; then
    log "init-election=none (no state bucket): the first control plane is the one that finds no API"
    if api_answers 6; then KUBEGCE_FIRST_CONTROL_PLANE=0; else KUBEGCE_FIRST_CONTROL_PLANE=1; fi
    return 0
  fi
  if claim_object "$KUBEGCE_ELECTION_UPLOAD_URL" "$KUBEGCE_ELECTION_URL"; then
    if ((!CLAIM_CREATED)) && api_answers 0; then
      KUBEGCE_FIRST_CONTROL_PLANE=0 # an earlier instance of this name initialised the cluster: join it
      log "init-election=lost holder=$CLAIM_HOLDER"
      return 0
    fi
    KUBEGCE_FIRST_CONTROL_PLANE=1
    log "init-election=won holder=$CLAIM_HOLDER$( ((CLAIM_CREATED)) || echo ' (earlier run)')"
  else
    KUBEGCE_FIRST_CONTROL_PLANE=0
    log "init-election=lost holder=$CLAIM_HOLDER"
  fi
}
