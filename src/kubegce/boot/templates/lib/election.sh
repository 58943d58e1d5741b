# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals that other fragments of bootstrap.sh read
# HA: which control plane runs kubeadm init.

elect_first_control_plane() {
  # HA: exactly one control plane runs `kubeadm init`. It is the one whose create-only write
  # (ifGenerationMatch=0) of the election object in the state bucket succeeds; the object holds
  # its instance name, so a rerun on the winner (after a failed init) knows it won. A winner whose
  # disk was recreated finds the API already answering and joins instead.
  local me code holder deadline=$((SECONDS + ${KUBEGCE_ELECTION_TIMEOUT:-600}))
  if [[ -z "$KUBEGCE_ELECTION_UPLOAD_URL" ]]; then
    log "init-election=none (no state bucket): the first control plane is the one that finds no API"
    if api_answers 6; then KUBEGCE_FIRST_CONTROL_PLANE=0; else KUBEGCE_FIRST_CONTROL_PLANE=1; fi
    return 0
  fi
  me=$(metadata_get "instance/name")
  while ((SECONDS < deadline)); do
    # A multipart upload: its ifGenerationMatch=0 is honoured by GCS and by fake-gcs-server alike.
    code=$(printf -- '--kubegce\r\nContent-Type: application/json\r\n\r\n{}\r\n--kubegce\r\nContent-Type: text/plain\r\n\r\n%s\r\n--kubegce--\r\n' "$me" |
      curl --silent --output /dev/null --write-out '%{http_code}' --max-time 30 -X POST \
        -H "Authorization: Bearer $(service_account_token)" \
        -H 'Content-Type: multipart/related; boundary=kubegce' \
        --data-binary @- "$KUBEGCE_ELECTION_UPLOAD_URL" || true)
    if [[ "$code" == 200 ]]; then
      KUBEGCE_FIRST_CONTROL_PLANE=1
      log "init-election=won holder=$me"
      return 0
    elif [[ "$code" == 412 ]]; then
      holder=$(curl --silent --fail --max-time 10 -H "Authorization: Bearer $(service_account_token)" \
        "$KUBEGCE_ELECTION_URL" 2>/dev/null || true)
      if [[ "$holder" == "$me" ]] && ! api_answers 0; then
        KUBEGCE_FIRST_CONTROL_PLANE=1
        log "init-election=won holder=$me (earlier run)"
        return 0
      elif [[ -n "$holder" ]]; then
        KUBEGCE_FIRST_CONTROL_PLANE=0
        log "init-election=lost holder=$holder"
        return 0
      fi
    fi
    log "init-election: state bucket answered ${code:-nothing}; retrying"
    sleep "${KUBEGCE_ELECTION_INTERVAL:-5}"
  done
  echo "could not write or read the election object at $KUBEGCE_ELECTION_URL" >&2
  return 1
}
