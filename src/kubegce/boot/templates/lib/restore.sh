# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals that other fragments of bootstrap.sh read
# Restoring etcd from a backup (issue 22; docs/disaster-recovery.md).
#
# `kubegce restore etcd` writes the restore marker (CLUSTER/secrets/backups/etcd-restore: the
# backup, its sha256, its etcd version and the round's token) before it replaces the control
# planes with fresh etcd disks. A control plane that boots with no etcd member on its disk reads
# the marker; while it says "restoring", the control planes of the round elect one (a create-only
# write of etcd-restore-leader-TOKEN, as the init election does) and the winner downloads the
# snapshot (0600, beside etcd's data), checks its sha256, checks that its etcd can restore that
# version, restores it into an empty member (`etcdutl snapshot restore`: a new cluster ID, this
# instance the only member) and runs `kubeadm init` on it; the others join it as new members.
# The restore tool is etcdutl from the cluster's own etcd image (through containerd's ctr), or
# $KUBEGCE_ETCDUTL when set (the lab's real etcdctl/etcdutl).

KUBEGCE_ETCDUTL=${KUBEGCE_ETCDUTL:-}
RESTORE_BACKUP="" RESTORE_SHA256="" RESTORE_TOKEN="" RESTORE_ETCD_VERSION="" RESTORE_TOOL_VERSION=""

json_string_field() {
  # $1: a field name; stdin: a small JSON object. Its string value (the first), or nothing.
  tr -d '\n' | sed -nE "s/^.*\"$1\": *\"([^\"]*)\".*\$/\\1/p" | head -n 1
}

store_get() {
  # $1: an object URL (?alt=media). Prints the object; returns 0, or 4 when it does not exist,
  # or 1 when the store could not be read whole (the caller must not take "could not read" for
  # "none"): curl's own exit is checked, so a transfer cut short is never a 200 with half a body.
  local url=$1 tmp code rc=0
  tmp=$(umask 077 && mktemp)
  code=$(curl --silent --max-time 30 --retry 3 --output "$tmp" --write-out '%{http_code}' \
    -H "Authorization: Bearer $(service_account_token)" "$url" 2>/dev/null) || rc=$?
  if ((rc != 0)); then
    rm -f "$tmp"
    return 1
  fi
  case "$code" in
    200) head -c 65536 "$tmp" ;;
    404) rm -f "$tmp" && return 4 ;;
    *) rm -f "$tmp" && return 1 ;;
  esac
  rm -f "$tmp"
}

restore_pending() {
  # 0 when a restore is in progress for this control plane to take part in (RESTORE_* set); 1 when
  # there is none. A store that does not answer is retried: guessing "none" would kubeadm init an
  # empty cluster beside the one being restored.
  [[ "$KUBEGCE_ROLE" == control-plane && -n "${KUBEGCE_RESTORE_URL:-}" ]] || return 1
  local doc="" rc deadline=$((SECONDS + ${KUBEGCE_ELECTION_TIMEOUT:-600}))
  while true; do
    rc=0
    doc=$(store_get "$KUBEGCE_RESTORE_URL") || rc=$?
    if ((rc == 4)); then return 1; fi
    if ((rc == 0)); then break; fi
    if ((SECONDS >= deadline)); then
      fail "could not read the restore marker at ${KUBEGCE_RESTORE_URL%%\?*}; the node's service account must read the state bucket"
    fi
    log "etcd-restore: the state bucket did not answer for the restore marker; retrying"
    sleep "${KUBEGCE_ELECTION_INTERVAL:-5}"
  done
  local state expires me
  state=$(printf '%s' "$doc" | json_string_field state)
  case "$state" in
    complete | aborted) return 1 ;;
    restoring) ;;
    *) fail "the restore marker at ${KUBEGCE_RESTORE_URL%%\?*} is not one kubegce wrote (its state is not restoring, complete or aborted); rerun kubegce restore etcd" ;;
  esac
  RESTORE_BACKUP=$(printf '%s' "$doc" | json_string_field backup)
  RESTORE_SHA256=$(printf '%s' "$doc" | json_string_field sha256)
  RESTORE_TOKEN=$(printf '%s' "$doc" | json_string_field token)
  RESTORE_ETCD_VERSION=$(printf '%s' "$doc" | json_string_field etcdVersion)
  expires=$(printf '%s' "$doc" | tr -d '\n' | sed -nE 's/^.*"expires": *([0-9]{1,12}) *[,}].*$/\1/p')
  if [[ ! "$RESTORE_BACKUP" =~ ^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,63}$ || ! "$RESTORE_SHA256" =~ ^[0-9a-f]{64}$ ||
    ! "$RESTORE_TOKEN" =~ ^[0-9a-f]{16}$ ||
    ! "$RESTORE_ETCD_VERSION" =~ ^v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}([-+][0-9A-Za-z.-]{1,40})?$ ||
    -z "$expires" ]]; then
    fail "the restore marker at ${KUBEGCE_RESTORE_URL%%\?*} is not one kubegce wrote; rerun kubegce restore etcd"
  fi
  # An abandoned restore's marker is not honoured (`kubegce restore etcd` renews it while it runs),
  # nor is it taken for "no restore": a fresh disk that runs kubeadm init here would make an empty
  # cluster. The boot fails until the restore is rerun or given up (--abort).
  if (($(date -u +%s) >= expires)); then
    fail "$KUBEGCE_ETCD_RESTORE: a restore of backup $RESTORE_BACKUP (round $RESTORE_TOKEN) is marked but expired:" \
      "kubegce restore etcd is not running; rerun it to finish the restore, or give it up with kubegce restore etcd CLUSTER --abort"
  fi
  # An instance the round replaces (an old control plane that lost its disk) takes no part.
  me=$(metadata_get "instance/id" || true)
  [[ "$me" =~ ^[0-9]{1,20}$ ]] || fail "etcd-restore: the metadata server named no instance id; cannot tell whether this instance takes part"
  if printf '%s' "$doc" | tr -d '\n' | grep -oE '"replace": *\[[^]]*\]' | grep -qF "\"$me\""; then
    log "etcd-restore: this instance ($me) is one the restore of $RESTORE_BACKUP replaces: not restoring"
    return 1
  fi
  return 0
}

restored_record() { echo "$KUBEGCE_ETCD_DIR/.kubegce-restored"; }

restored_this_round() {
  # 0 when an earlier run of this boot restored the round's snapshot onto this etcd disk
  [[ "$(cat "$(restored_record)" 2>/dev/null || true)" == "$RESTORE_TOKEN" ]]
}

restore_api_live() {
  # 0 when the cluster's API answers at the address the state store names (a load balancer's, or
  # the last single control plane's): the old control planes still run, and restoring beside them
  # would make a second cluster.
  local address
  [[ -n "${KUBEGCE_DISCOVERY_URL:-}" ]] || return 1
  address=$(curl --silent --fail --max-time 10 -H "Authorization: Bearer $(service_account_token)" \
    "$KUBEGCE_DISCOVERY_URL" 2>/dev/null || true)
  [[ "$address" =~ ^[0-9a-fA-F.:]+$ ]] || return 1
  [[ "$address" != "$(metadata_get "instance/network-interfaces/0/ip")" ]] || return 1
  curl --silent --insecure --max-time 5 "https://$address:443/healthz" >/dev/null 2>&1
}

elect_restore_leader() {
  # The round's control planes elect the one that restores the snapshot: the create-only write
  # of the round's leader object (lib/election.sh's claim_object) decides.
  local upload=${KUBEGCE_RESTORE_ELECTION_UPLOAD_URL//RESTORETOKEN/$RESTORE_TOKEN}
  local read=${KUBEGCE_RESTORE_ELECTION_URL//RESTORETOKEN/$RESTORE_TOKEN}
  if claim_object "$upload" "$read"; then
    KUBEGCE_FIRST_CONTROL_PLANE=1
    if ! restored_this_round && restore_api_live; then
      fail "$KUBEGCE_ETCD_RESTORE: the cluster API answers while the restore of backup $RESTORE_BACKUP" \
        "(round $RESTORE_TOKEN) is marked: the old control planes still run; kubegce restore etcd deletes them" \
        "before it makes new ones: rerun it (it starts a new round)"
    fi
    log "$KUBEGCE_ETCD_RESTORE=leader backup=$RESTORE_BACKUP"
  else
    KUBEGCE_FIRST_CONTROL_PLANE=0
    log "$KUBEGCE_ETCD_RESTORE=member backup=$RESTORE_BACKUP leader=$CLAIM_HOLDER"
  fi
}

etcd_restore_tool() {
  # etcdutl (etcd 3.5+; etcd 3.4's etcdctl takes the same `snapshot restore` arguments).
  if [[ -n "$KUBEGCE_ETCDUTL" ]]; then
    ETCDCTL_API=3 "$KUBEGCE_ETCDUTL" "$@"
    return
  fi
  local image
  image=$(kubeadm config images list --config /etc/kubegce/kubeadm.yaml 2>/dev/null | grep -E '/etcd:' | head -n 1)
  [[ -n "$image" ]] || fail "etcd-restore: kubeadm names no etcd image for this cluster"
  "$KUBEGCE_BIN_DIR/ctr" -n k8s.io images pull "$image" >/dev/null
  "$KUBEGCE_BIN_DIR/ctr" -n k8s.io run --rm \
    --mount "type=bind,src=$KUBEGCE_ETCD_DIR,dst=$KUBEGCE_ETCD_DIR,options=rbind:rw" \
    "$image" "kubegce-restore-$$" etcdutl "$@"
}

version_minor() {
  # $1: a version (v3.6.4, 3.5.21-0); "MAJOR MINOR", or nothing
  if [[ "$1" =~ ^v?([0-9]+)\.([0-9]+)\. ]]; then echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"; fi
}

check_restore_version() {
  # A snapshot restores with the same etcd major version, a minor no newer than the tool's and at
  # most one older (etcd's own upgrade rule).
  local tool have want
  tool=$(etcd_restore_tool version 2>/dev/null | sed -nE 's/^etcd(ctl|utl) version: *v?([0-9.]+).*$/\2/p' | head -n 1 || true)
  read -r -a have <<<"$(version_minor "$tool")"
  read -r -a want <<<"$(version_minor "$RESTORE_ETCD_VERSION")"
  if ((${#have[@]} != 2 || ${#want[@]} != 2)); then
    fail "$KUBEGCE_RESTORE_ETCD_VERSION: could not read the etcd version of the restore tool (${tool:-none}) or of backup $RESTORE_BACKUP ($RESTORE_ETCD_VERSION)"
  fi
  RESTORE_TOOL_VERSION=$tool
  if ((have[0] != want[0] || want[1] > have[1] || have[1] - want[1] > 1)); then
    fail "$KUBEGCE_RESTORE_ETCD_VERSION: backup $RESTORE_BACKUP was taken with etcd $RESTORE_ETCD_VERSION;" \
      "this control plane runs etcd $tool, which restores snapshots of its own major version, one minor older at most;" \
      "restore with the Kubernetes version the backup was taken with"
  fi
}

restore_etcd_snapshot() {
  # The round's leader: the snapshot, checked, restored into an empty member at this instance's
  # address. The work directory is on the etcd disk, 0700; the snapshot (every Kubernetes
  # Secret) is deleted once restored.
  local work="$KUBEGCE_ETCD_DIR/.kubegce-restore" snap got address name
  if restored_this_round; then
    # an earlier run of this boot restored the round's snapshot (kubeadm init may have started
    # etcd on it since): never restore over it again
    log "$KUBEGCE_ETCD_RESTORE=restored backup=$RESTORE_BACKUP (an earlier run)"
    return 0
  fi
  check_restore_version
  rm -rf "$work"
  (umask 077 && mkdir -p "$work")
  snap="$work/snapshot.db"
  download_private "$snap" --silent --show-error --fail --retry 5 --max-time 1800 \
    -H "Authorization: Bearer $(service_account_token)" "${KUBEGCE_RESTORE_SNAPSHOT_URL}${RESTORE_BACKUP}%2Fsnapshot.db?alt=media"
  got=$(sha256sum "$snap" | cut -d' ' -f1)
  if [[ "$got" != "$RESTORE_SHA256" ]]; then
    rm -rf "$work"
    fail "$KUBEGCE_RESTORE_CHECKSUM_MISMATCH: the snapshot of backup $RESTORE_BACKUP has sha256 $got," \
      "the restore marker says $RESTORE_SHA256; it was changed in the store: restore another backup"
  fi
  address=$(metadata_get "instance/network-interfaces/0/ip")
  name=$(hostname -s | tr '[:upper:]' '[:lower:]')
  # A cluster token of the round's: a new cluster ID even when this instance has an old member's
  # address. etcd 3.5.10+ (CHANGELOG-3.5, v3.5.10: etcdutl snapshot restore --bump-revision and
  # --mark-compacted) moves the revision past anything a watcher saw before the backup, so
  # informers relist instead of missing the objects the restore took back.
  local extra=()
  if [[ -n "$RESTORE_TOOL_VERSION" && "$(printf '%s\n' 3.5.10 "$RESTORE_TOOL_VERSION" | sort -V | head -n 1)" == 3.5.10 ]]; then
    extra=(--bump-revision 1000000000 --mark-compacted)
  fi
  etcd_restore_tool snapshot restore "$snap" --data-dir "$work/data" --name "$name" \
    --initial-cluster "$name=https://$address:2380" --initial-advertise-peer-urls "https://$address:2380" \
    --initial-cluster-token "kubegce-$RESTORE_TOKEN" "${extra[@]}" >/dev/null
  rm -rf "$KUBEGCE_ETCD_DIR/member"
  mv "$work/data/member" "$KUBEGCE_ETCD_DIR/member"
  rm -rf "$work"
  printf '%s\n' "$RESTORE_TOKEN" >"$(restored_record).partial"
  mv -f "$(restored_record).partial" "$(restored_record)"
  log "$KUBEGCE_ETCD_RESTORE=restored backup=$RESTORE_BACKUP member=$name address=$address"
}
