# shellcheck shell=bash
# The bootstrap's settings, logging, phase reports and step runner; the node config.

KUBEGCE_METADATA_URL="http://metadata.google.internal/computeMetadata/v1"
KUBEGCE_STATE_DIR="/var/lib/kubegce"
KUBEGCE_LAB_FAIL_AT=""
# The boot lab (and only the lab) points downloads and host changes at stand-ins here.
KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"
if [[ -r "$KUBEGCE_LAB_ENV" ]]; then
  # shellcheck source=/dev/null
  . "$KUBEGCE_LAB_ENV"
fi

BOOT_START=$(date +%s)
CURRENT_STEP="init"
RUN_DIR="$KUBEGCE_STATE_DIR/$KUBEGCE_CONFIG_SHA256"

log() {
  printf '%s %s\n' "$KUBEGCE_LOG_PREFIX" "$*"
}

warn() {
  # A problem that does not stop the bootstrap: on the console and in the warning guest attribute.
  log "warning: $*"
  put_guest_attribute "$KUBEGCE_ATTR_WARNING" "$*"
}

elapsed() {
  echo "$(($(date +%s) - BOOT_START))"
}

metadata_get() {
  # $1: path under computeMetadata/v1
  curl --silent --show-error --fail --max-time 10 --retry 5 --retry-delay 2 \
    -H 'Metadata-Flavor: Google' "$KUBEGCE_METADATA_URL/$1"
}

put_guest_attribute() {
  # $1: key under our guest-attribute namespace, $2: value
  local path="$KUBEGCE_ATTRIBUTE_NAMESPACE/$1"
  curl --silent --fail --max-time 5 -X PUT -H 'Metadata-Flavor: Google' \
    --data-binary "$2" "$KUBEGCE_METADATA_URL/instance/guest-attributes/$path" >/dev/null 2>&1 ||
    log "note: could not write guest attribute $path (is enable-guest-attributes set?)"
}

report_phase() {
  # $1: a phase of kubegce.boot.protocol (started ... joined, failed), $2: optional error text
  local phase=$1 error=${2:-}
  if [[ -n "$error" ]]; then
    log "phase=$phase elapsed=$(elapsed)s step=$CURRENT_STEP error=$error"
    put_guest_attribute "$KUBEGCE_ATTR_ERROR" "$CURRENT_STEP: $error"
    touch "$RUN_DIR/error-reported" 2>/dev/null || true
  elif [[ "$phase" == joined && -e "$RUN_DIR/error-reported" ]]; then
    log "phase=$phase elapsed=$(elapsed)s (recovered from an earlier failure)"
    put_guest_attribute "$KUBEGCE_ATTR_ERROR" ""
    rm -f "$RUN_DIR/error-reported"
  else
    log "phase=$phase elapsed=$(elapsed)s"
  fi
  put_guest_attribute "$KUBEGCE_ATTR_PHASE" "$phase"
}

on_error() {
  local code=$? line=$1 command=$2
  trap - ERR
  report_phase failed "exit $code at line $line: $command"
  exit "$code"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

fail() {
  # Stop with a cause of the bootstrap's own (not a failed command's): $* is the reported error.
  trap - ERR
  report_phase failed "$*"
  exit 1
}

step() {
  # Run function $1 unless its marker says it finished for this config.
  local name=$1
  CURRENT_STEP=$name
  if [[ -e "$RUN_DIR/$name.done" ]]; then
    log "step=$name already done"
    return 0
  fi
  log "step=$name"
  if [[ "$KUBEGCE_LAB_FAIL_AT" == "$name" ]]; then
    echo "injected failure at $name" >&2
    false
  fi
  "$name"
  touch "$RUN_DIR/$name.done"
}

download_private() {
  # $1: destination, then curl's arguments. The file is 0600 from its first byte (a temp file
  # beside it, made under umask 077) and takes its name only when complete: a failed download
  # leaves nothing behind.
  local dest=$1 tmp
  shift
  tmp=$(umask 077 && mktemp "$dest.partial.XXXXXX")
  if ! (umask 077 && curl "$@" -o "$tmp"); then
    rm -f "$tmp"
    return 1
  fi
  chmod 0600 "$tmp"
  mv -f "$tmp" "$dest"
}

sed_replacement() {
  # $1 made literal as the replacement of a sed s@...@...@ command (\, & and @ escaped); the
  # catalog already refuses a path that needs it, this keeps any value from becoming sed code.
  local value=${1//\\/\\\\}
  value=${value//&/\\&}
  printf '%s' "${value//@/\\@}"
}

service_account_token() {
  metadata_get "instance/service-accounts/default/token" | sed -E 's/.*"access_token" *: *"([^"]+)".*/\1/'
}

fetch_config() {
  # From instance metadata, or from the state bucket with the instance's service-account token;
  # either way only a config whose sha256 matches the header is used.
  local tmp got
  tmp=$(mktemp)
  case "$KUBEGCE_CONFIG_SOURCE" in
    metadata:*) metadata_get "instance/attributes/${KUBEGCE_CONFIG_SOURCE#metadata:}" >"$tmp" ;;
    *)
      curl --silent --show-error --fail --retry 5 --retry-delay 2 --max-time 60 \
        -H "Authorization: Bearer $(service_account_token)" -o "$tmp" "$KUBEGCE_CONFIG_SOURCE"
      ;;
  esac
  got=$(sha256sum "$tmp" | cut -d' ' -f1)
  if [[ "$got" != "$KUBEGCE_CONFIG_SHA256" ]]; then
    rm -f "$tmp"
    echo "node config from $KUBEGCE_CONFIG_SOURCE has sha256 $got, expected $KUBEGCE_CONFIG_SHA256; refusing it" >&2
    return 1
  fi
  install -m 0600 "$tmp" "$RUN_DIR/node-config.env"
  rm -f "$tmp"
}

load_config() {
  # The config file holds only KEY='value' lines written with shell quoting by kubegce,
  # and its hash was checked above.
  # shellcheck source=/dev/null
  . "$RUN_DIR/node-config.env"
}
