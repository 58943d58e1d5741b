# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals that other fragments of bootstrap.sh read
# User extras, the once-per-config bookkeeping and main.

run_user_parts() {
  local i
  mkdir -p "$RUN_DIR/parts"
  for i in "${!KUBEGCE_USER_PART_NAMES[@]}"; do
    local file="$RUN_DIR/parts/$i"
    if [[ -e "$file.done" ]]; then continue; fi
    printf '%s' "${KUBEGCE_USER_PART_B64[$i]}" | base64 -d >"$file"
    chmod 0700 "$file"
    log "user-part=$i name=${KUBEGCE_USER_PART_NAMES[$i]@Q}"
    "$file"
    touch "$file.done"
  done
}

install_cloud_init() {
  if ! command -v cloud-init >/dev/null 2>&1; then
    install_packages cloud-init
  fi
  # Run the stages now, on this boot; cloud-init's per-instance records keep the next boots
  # from repeating them.
  cloud-init init --local
  cloud-init init
  cloud-init modules --mode=config
  cloud-init modules --mode=final
}

record_invocation() {
  # One line per time a channel started the bootstrap: $1 channel, $2 run|already-done.
  echo "$(date -u +%FT%TZ) pid=$$ channel=${1:-unknown} result=$2 config=$KUBEGCE_CONFIG_SHA256" \
    >>"$KUBEGCE_STATE_DIR/invocations.log"
}

install_resume_hook() {
  # cloud-init runs user-data once per instance; a per-boot copy lets a run that failed resume on
  # the next boot (it exits at once when it finds its done marker). Not needed where the guest
  # agent runs our startup-script on every boot anyway.
  local hook=/var/lib/cloud/scripts/per-boot/kubegce-bootstrap.sh
  if [[ "$KUBEGCE_CHANNEL" != user-data || ! -d "${hook%/*}" || ! -r "${BASH_SOURCE[0]}" ]]; then
    return 0
  fi
  if [[ "$KUBEGCE_PLAN_CHANNEL" != user-data ]] && command -v google_metadata_script_runner >/dev/null 2>&1; then
    return 0
  fi
  if [[ ! "${BASH_SOURCE[0]}" -ef "$hook" ]]; then
    install -m 0700 "${BASH_SOURCE[0]}" "$hook"
  fi
}

reapply_volatile_etc() {
  # A boot whose /etc is fresh (COS): put back what the steps finished on earlier boots left
  # there (all of them once the node is initialized), and the exec mount of the bin dir.
  keep_etc_dirs
  if [[ -e "$RUN_DIR/prepare_host.done" ]]; then configure_kernel; fi
  if [[ -e "$RUN_DIR/install_gpu_driver.done" ]]; then reload_gpu_driver; fi
  if [[ -e "$RUN_DIR/install_binaries.done" ]]; then make_bin_dirs; fi
  if [[ -e "$RUN_DIR/configure_services.done" ]]; then configure_services; fi
  if [[ -r "$RUN_DIR/api-address" ]]; then set_api_host "$(<"$RUN_DIR/api-address")"; fi
}

main() {
  mkdir -p "$KUBEGCE_STATE_DIR"
  exec 9>"$KUBEGCE_STATE_DIR/boot.lock"
  if ! flock -n 9; then
    log "another bootstrap run holds the lock; waiting for it"
    flock 9
  fi
  if [[ -e "$KUBEGCE_STATE_DIR/done-$KUBEGCE_CONFIG_SHA256" ]]; then
    record_invocation "$1" already-done
    log "phase=done config=$KUBEGCE_CONFIG_SHA256 already initialized; nothing to do"
    if [[ -e "$RUN_DIR/etcd-disk" ]]; then
      CURRENT_STEP=mount_etcd_disk
      load_config
      mount_etcd_disk
    fi
    if [[ -e "$RUN_DIR/api-discovered" ]]; then
      CURRENT_STEP=refresh_api_address
      load_config
      refresh_api_address
    fi
    if [[ -e "$RUN_DIR/volatile-etc" ]]; then
      CURRENT_STEP=reapply_volatile_etc
      load_config
      reapply_volatile_etc
      log "volatile /etc: kernel settings, services, /etc/kubernetes and the API address re-applied"
    fi
    if [[ -e "$RUN_DIR/install_gpu_driver.done" ]]; then
      CURRENT_STEP=check_gpu_driver
      load_config
      check_gpu_driver
    fi
    return 0
  fi
  mkdir -p "$RUN_DIR"
  record_invocation "$1" run
  report_phase started
  step fetch_config
  load_config
  install_resume_hook
  CURRENT_STEP=detect_distro
  detect_distro
  if [[ "$KUBEGCE_ROLE" == control-plane ]]; then
    CURRENT_STEP=mount_etcd_disk
    touch "$RUN_DIR/etcd-disk"
    mount_etcd_disk  # before anything writes /etc/kubernetes, on every boot
  fi
  if [[ "$KUBEGCE_VOLATILE_ETC" == 1 ]]; then
    touch "$RUN_DIR/volatile-etc"
    reapply_volatile_etc  # a resumed run: what earlier boots' finished steps left in /etc
  fi
  step prepare_host
  report_phase prepared
  step install_gpu_driver
  step install_gpu_toolkit
  step install_binaries
  step configure_services
  report_phase installed
  step fetch_secrets
  step kubeadm_join
  step install_addons
  step install_token_keeper  # control planes: nodes can join on any day (lib/token.sh)
  step install_api_health  # control planes behind the API's load balancer (lib/health.sh)
  step install_etcd_backup  # control planes: etcd backups to the state store (lib/backup.sh)
  report_phase joined
  step run_user_parts
  if [[ "$KUBEGCE_INSTALL_CLOUD_INIT" == 1 ]]; then
    step install_cloud_init
  fi
  touch "$KUBEGCE_STATE_DIR/done-$KUBEGCE_CONFIG_SHA256"
  log "done elapsed=$(elapsed)s config=$KUBEGCE_CONFIG_SHA256"
}
