# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals that other fragments of bootstrap.sh read
# Which distro and package manager the node has.

os_release_package_manager() {
  # $1 ID, $2 ID_LIKE, $3 VARIANT_ID of /etc/os-release: the package manager they suggest, or
  # nothing. Only a cross-check (and the answer for an image the catalog does not know): the
  # node config carries the catalog's package manager.
  local id=$1 id_like=$2 variant_id=$3
  case "$id" in
    ubuntu | debian) echo apt ;;
    fedora) if [[ "$variant_id" == coreos ]]; then echo none; else echo dnf; fi ;;
    rhel | rocky | centos | almalinux | ol) echo dnf ;;
    sles | sled | opensuse-leap | opensuse-tumbleweed) echo zypper ;;
    cos) echo none ;;
    *)
      case " $id_like " in
        *" debian "*) echo apt ;;
        *" rhel "* | *" fedora "*) echo dnf ;;
        *" suse "*) echo zypper ;;
      esac
      ;;
  esac
}

detect_distro() {
  local id="" version_id="" id_like="" variant_id="" seen packages
  if [[ -r /etc/os-release ]]; then
    # shellcheck source=/dev/null
    id=$(. /etc/os-release && echo "${ID:-}")
    # shellcheck source=/dev/null
    version_id=$(. /etc/os-release && echo "${VERSION_ID:-}")
    # shellcheck source=/dev/null
    id_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
    # shellcheck source=/dev/null
    variant_id=$(. /etc/os-release && echo "${VARIANT_ID:-}")
  fi
  DISTRO_ID=$id
  DISTRO_VERSION=$version_id
  seen=$(os_release_package_manager "$id" "$id_like" "$variant_id")
  if [[ -n "${KUBEGCE_PACKAGE_MANAGER:-}" ]]; then
    PKG=$KUBEGCE_PACKAGE_MANAGER
    if [[ "$seen" != "$PKG" ]]; then
      warn "the image catalog says package-manager=$PKG but /etc/os-release (ID=${id:-none} ID_LIKE=${id_like:-none}) suggests ${seen:-none known}; using $PKG"
    fi
  elif [[ -n "$seen" ]]; then
    # An image the catalog does not know: its os-release decides, with the catalog's package list
    # for that package manager.
    PKG=$seen
    packages="KUBEGCE_PACKAGES_${PKG^^}[@]"
    if declare -p "KUBEGCE_PACKAGES_${PKG^^}" >/dev/null 2>&1; then
      KUBEGCE_HOST_PACKAGES=("${!packages}")
    fi
  else
    echo "unsupported distro: ID=${id:-none} VERSION_ID=${version_id:-none} ID_LIKE=${id_like:-none}" >&2
    return 1
  fi
  log "distro=$DISTRO_ID version=$DISTRO_VERSION package-manager=$PKG"
}

install_packages() {
  case "$PKG" in
    apt)
      DEBIAN_FRONTEND=noninteractive apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
      ;;
    dnf) dnf install -y -q "$@" ;;
    zypper) zypper --non-interactive install --no-recommends "$@" ;;
    none)
      echo "cannot install $* on $DISTRO_ID (no package manager)" >&2
      return 1
      ;;
  esac
}
