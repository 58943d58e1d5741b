# shellcheck shell=bash
# etcd backups to the state store (issue 22; docs/disaster-recovery.md).
#
# Every control plane runs run_etcd_backup from kubegce-etcd-backup.timer once a minute. Only the
# etcd leader acts, and only when its member is healthy: it takes a snapshot when one was asked
# for (`kubegce backup etcd` writes the request object) or when the newest backup in the store is
# older than the interval, then prunes by the retention rule (src/kubegce/backups/retention.py,
# the same rule written in bash below). A backup is CLUSTER/secrets/backups/etcd/ID/snapshot.db
# and, uploaded after it, ID/manifest.json: a backup whose manifest is missing is not one.
# The snapshot is taken with the etcd the cluster runs: etcdctl inside kubeadm's etcd static pod
# (through containerd's ctr), or $KUBEGCE_ETCDCTL when set (the lab's real etcdctl). Snapshots
# hold every Kubernetes Secret: they are written 0600 beside the data, uploaded with the control
# plane's service account, never printed, and deleted from the disk after upload.

KUBEGCE_BACKUP_JOB=/etc/kubegce/etcd-backup.sh
KUBEGCE_BACKUP_WORK=/var/lib/etcd/kubegce-backup
KUBEGCE_ETCD_PKI=/etc/kubernetes/pki/etcd
KUBEGCE_ETCDCTL=${KUBEGCE_ETCDCTL:-}

etcd_ctl() {
  # etcdctl against the local member, as the cluster's own etcd runs it.
  local tls=(--endpoints "${KUBEGCE_ETCD_ENDPOINT:-https://127.0.0.1:2379}" --cacert "$KUBEGCE_ETCD_PKI/ca.crt"
    --cert "$KUBEGCE_ETCD_PKI/healthcheck-client.crt" --key "$KUBEGCE_ETCD_PKI/healthcheck-client.key")
  if [[ "${KUBEGCE_ETCD_INSECURE:-0}" == 1 ]]; then tls=(--endpoints "$KUBEGCE_ETCD_ENDPOINT"); fi
  if [[ -n "$KUBEGCE_ETCDCTL" ]]; then
    ETCDCTL_API=3 "$KUBEGCE_ETCDCTL" "${tls[@]}" --command-timeout=60s "$@"
    return
  fi
  local id
  id=$("$KUBEGCE_BIN_DIR/ctr" -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" {print $1}' |
    while read -r c; do
      if "$KUBEGCE_BIN_DIR/ctr" -n k8s.io containers info "$c" 2>/dev/null |
        grep -q '"io.kubernetes.container.name": "etcd"'; then
        echo "$c"
        break
      fi
    done)
  [[ -n "$id" ]] || {
    echo "etcd backup: no running etcd container" >&2
    return 1
  }
  "$KUBEGCE_BIN_DIR/ctr" -n k8s.io tasks exec --exec-id "kubegce-backup-$$" "$id" \
    env ETCDCTL_API=3 etcdctl "${tls[@]}" --command-timeout=60s "$@"
}

etcd_status_field() {
  # $1: a field of `endpoint status -w fields` (MemberID, Leader, Revision, Version).
  etcd_ctl endpoint status -w fields | sed -nE "s/^\"$1\" : \"?([^\"]*)\"?\$/\\1/p" | head -n 1
}

backup_store() {
  # $1 method, $2 URL, then curl's arguments: a state-store call with this instance's identity.
  local method=$1 url=$2
  shift 2
  curl --silent --show-error --fail --retry 3 --max-time 600 -X "$method" \
    -H "Authorization: Bearer $(service_account_token)" "$@" "$url"
}

backup_ids() {
  # Ids of the backups in the store that have a manifest, newest first.
  local listing
  listing=$(backup_store GET "$KUBEGCE_BACKUP_LIST_URL") || return 1
  printf '%s\n' "$listing" | { grep -oE '"name": *"[^"]*/[0-9]{8}T[0-9]{6}Z-[a-z0-9-]+/manifest\.json"' || true; } |
    sed -E 's#.*/([0-9]{8}T[0-9]{6}Z-[a-z0-9-]+)/manifest\.json"#\1#' | LC_ALL=C sort -r -u
}

backup_age_s() {
  # $1: a backup id; seconds since its time (0 when in the future).
  local t=${1%%-*} epoch
  epoch=$(date -u -d "${t:0:4}-${t:4:2}-${t:6:2}T${t:9:2}:${t:11:2}:${t:13:2}Z" +%s)
  local age=$(($(date -u +%s) - epoch))
  echo $((age < 0 ? 0 : age))
}

backups_to_prune() {
  # Ids on stdin (newest first): those the retention rule does not keep (retention.py's rule:
  # the newest always; all younger than KEEP_ALL; the newest of each UTC hour younger than
  # KEEP_HOURLY; the newest of each UTC day younger than KEEP_DAILY).
  local id age first=1 hour day
  declare -A hours=() days=()
  while read -r id; do
    [[ -n "$id" ]] || continue
    age=$(backup_age_s "$id")
    hour=${id:0:11} day=${id:0:8}
    local keep=0
    if ((first)); then keep=1; fi
    first=0
    if ((age < KUBEGCE_BACKUP_KEEP_ALL)); then keep=1; fi
    if ((age < KUBEGCE_BACKUP_KEEP_HOURLY)) && [[ -z "${hours[$hour]:-}" ]]; then
      hours[$hour]=1
      keep=1
    fi
    if ((age < KUBEGCE_BACKUP_KEEP_DAILY)) && [[ -z "${days[$day]:-}" ]]; then
      days[$day]=1
      keep=1
    fi
    if ((!keep)); then echo "$id"; fi
  done
}

take_etcd_backup() {
  # $1: request token ("" for a scheduled backup). Snapshot, checksum, upload, manifest last.
  local request=$1 member id now sha size revision version snapshot
  member=$(printf '%s' "${KUBEGCE_BACKUP_MEMBER:-$(hostname -s)}" | tr '[:upper:]' '[:lower:]')
  now=$(date -u +%Y%m%dT%H%M%SZ)
  id="$now-$member"
  revision=$(etcd_status_field Revision)
  version=$(etcd_status_field Version)
  (umask 077 && mkdir -p "$KUBEGCE_BACKUP_WORK")
  snapshot="$KUBEGCE_BACKUP_WORK/snapshot.db"
  rm -f "$snapshot" "$snapshot.part"
  (umask 077 && etcd_ctl snapshot save "$snapshot" >/dev/null)
  sha=$(sha256sum "$snapshot" | cut -d' ' -f1)
  size=$(stat -c %s "$snapshot")
  if ! backup_store POST "$KUBEGCE_BACKUP_UPLOAD_URL$id%2Fsnapshot.db" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$snapshot" >/dev/null; then
    rm -f "$snapshot"
    put_guest_attribute "$KUBEGCE_ATTR_BACKUP" "$KUBEGCE_BACKUP_STORE_UNWRITABLE: the upload of backup $id to the state store failed"
    log "etcd backup: $KUBEGCE_BACKUP_STORE_UNWRITABLE: the upload of $id failed"
    return 1
  fi
  printf '{"id": "%s", "cluster": "%s", "time": "%s", "member": "%s", "revision": %d, "etcdVersion": "%s", "kubernetesVersion": "%s", "size": %d, "sha256": "%s", "request": "%s"}\n' \
    "$id" "$KUBEGCE_CLUSTER_NAME" "$(date -u -d "${now:0:4}-${now:4:2}-${now:6:2}T${now:9:2}:${now:11:2}:${now:13:2}Z" +%Y-%m-%dT%H:%M:%SZ)" \
    "$member" "$revision" "$version" "$KUBEGCE_KUBERNETES_VERSION" "$size" "$sha" "$request" >"$KUBEGCE_BACKUP_WORK/manifest.json"
  if ! backup_store POST "$KUBEGCE_BACKUP_UPLOAD_URL$id%2Fmanifest.json" -H 'Content-Type: application/json' \
    --data-binary "@$KUBEGCE_BACKUP_WORK/manifest.json" >/dev/null; then
    rm -f "$snapshot" "$KUBEGCE_BACKUP_WORK/manifest.json"
    put_guest_attribute "$KUBEGCE_ATTR_BACKUP" "$KUBEGCE_BACKUP_STORE_UNWRITABLE: the manifest of backup $id could not be written"
    return 1
  fi
  rm -f "$snapshot" "$KUBEGCE_BACKUP_WORK/manifest.json"
  put_guest_attribute "$KUBEGCE_ATTR_BACKUP" "ok $id"
  log "etcd backup id=$id revision=$revision size=$size"
}

restoring_backup() {
  # The backup a restore in progress is using ("" when none); returns 1 when the restore marker
  # could not be read (then nothing is pruned: the snapshot a new round needs must stay). The
  # marker is read as lib/restore.sh reads it (store_get, json_string_field).
  local doc rc=0
  [[ -n "${KUBEGCE_RESTORE_URL:-}" ]] || return 0
  doc=$(store_get "$KUBEGCE_RESTORE_URL") || rc=$?
  if ((rc == 4)); then return 0; fi
  if ((rc != 0)); then return 1; fi
  if [[ "$(printf '%s' "$doc" | json_string_field state)" == restoring ]]; then
    printf '%s' "$doc" | json_string_field backup | { grep -E '^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,63}$' || true; }
  fi
}

prune_etcd_backups() {
  local id keep
  if ! keep=$(restoring_backup); then
    log "etcd backup: the restore marker could not be read; nothing pruned this run"
    return 0
  fi
  backup_ids | backups_to_prune | while read -r id; do
    if [[ -n "$keep" && "$id" == "$keep" ]]; then
      continue # a restore is using it
    fi
    # the manifest first: a backup being pruned stops being listed before its snapshot goes
    backup_store DELETE "$KUBEGCE_BACKUP_OBJECT_URL$id%2Fmanifest.json" >/dev/null || true
    backup_store DELETE "$KUBEGCE_BACKUP_OBJECT_URL$id%2Fsnapshot.db" >/dev/null || true
    log "etcd backup id=$id pruned"
  done
}

run_etcd_backup() {
  # One run of the timer: leader only, healthy only; a requested or a due backup; then prune.
  local request="" newest leader member ids
  if ! etcd_ctl endpoint health --command-timeout=5s >/dev/null 2>&1; then
    log "etcd backup: $KUBEGCE_BACKUP_ETCD_UNHEALTHY: this member is not healthy; skipped"
    put_guest_attribute "$KUBEGCE_ATTR_BACKUP" "$KUBEGCE_BACKUP_ETCD_UNHEALTHY: the local etcd member is not healthy; it takes no backup"
    return 0
  fi
  member=$(etcd_status_field MemberID)
  leader=$(etcd_status_field Leader)
  if [[ -z "$member" || "$member" != "$leader" ]]; then
    return 0 # another member (the leader) takes the backups
  fi
  request=$(backup_store GET "$KUBEGCE_BACKUP_REQUEST_URL" 2>/dev/null | tr -cd 'a-z0-9' | head -c 32 || true)
  if ! ids=$(backup_ids); then
    put_guest_attribute "$KUBEGCE_ATTR_BACKUP" "$KUBEGCE_BACKUP_STORE_UNWRITABLE: the backups in the state store could not be listed"
    log "etcd backup: $KUBEGCE_BACKUP_STORE_UNWRITABLE: the backups in the state store could not be listed"
    return 1
  fi
  newest=$(printf '%s\n' "$ids" | head -n 1)
  if [[ -n "$request" ]] || [[ -z "$newest" ]] ||
    (($(backup_age_s "$newest") >= KUBEGCE_BACKUP_INTERVAL)); then
    take_etcd_backup "$request"
    if [[ -n "$request" ]]; then
      backup_store DELETE "$KUBEGCE_BACKUP_REQUEST_OBJECT_URL" >/dev/null 2>&1 || true
    fi
  fi
  prune_etcd_backups
}

etcd_backup_job() {
  # The job as a script of its own: the functions it needs and the settings they read, copied
  # from this bootstrap.
  echo '#!/bin/bash'
  echo '# kubegce: backs etcd up to the state store (written by the node bootstrap; lib/backup.sh).'
  echo 'set -o errexit -o nounset -o pipefail'
  declare -p KUBEGCE_BIN_DIR KUBEGCE_LOG_PREFIX KUBEGCE_METADATA_URL KUBEGCE_CLUSTER_NAME \
    KUBEGCE_KUBERNETES_VERSION KUBEGCE_BACKUP_INTERVAL KUBEGCE_BACKUP_KEEP_ALL KUBEGCE_BACKUP_KEEP_HOURLY \
    KUBEGCE_BACKUP_KEEP_DAILY KUBEGCE_BACKUP_LIST_URL KUBEGCE_BACKUP_UPLOAD_URL KUBEGCE_BACKUP_OBJECT_URL \
    KUBEGCE_BACKUP_REQUEST_URL KUBEGCE_BACKUP_REQUEST_OBJECT_URL KUBEGCE_BACKUP_WORK KUBEGCE_ETCD_PKI \
    KUBEGCE_ETCDCTL KUBEGCE_ATTRIBUTE_NAMESPACE KUBEGCE_ATTR_BACKUP KUBEGCE_BACKUP_STORE_UNWRITABLE \
    KUBEGCE_BACKUP_ETCD_UNHEALTHY
  printf 'KUBEGCE_RESTORE_URL=%q\n' "${KUBEGCE_RESTORE_URL:-}" # (unset where no store can hold a restore)
  declare -f log metadata_get service_account_token etcd_ctl etcd_status_field backup_store backup_ids \
    backup_age_s backups_to_prune take_etcd_backup json_string_field store_get restoring_backup prune_etcd_backups run_etcd_backup put_guest_attribute
  echo 'run_etcd_backup'
}

install_etcd_backup() {
  # Control planes with backups enabled (and a store nodes can write): the job and its timer,
  # enabled now.
  [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_BACKUP_ENABLED" == 1 ]] || return 0
  (umask 077 && etcd_backup_job >"$KUBEGCE_BACKUP_JOB.partial")
  mv -f "$KUBEGCE_BACKUP_JOB.partial" "$KUBEGCE_BACKUP_JOB"
  chmod 0700 "$KUBEGCE_BACKUP_JOB"
  cat >/etc/systemd/system/kubegce-etcd-backup.service <<UNIT
[Unit]
Description=kubegce: back etcd up to the state store
After=kubelet.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=$KUBEGCE_BACKUP_JOB
UNIT
  cat >/etc/systemd/system/kubegce-etcd-backup.timer <<'UNIT'
[Unit]
Description=kubegce: back etcd up when one is due or asked for (checked every minute)

[Timer]
OnBootSec=3min
OnUnitActiveSec=1min
AccuracySec=10s

[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  systemctl enable --now kubegce-etcd-backup.timer
}
