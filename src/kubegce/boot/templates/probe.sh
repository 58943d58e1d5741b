#!/bin/bash
# kubegce image probe: reports through guest attributes which init program ran this script and
# what /etc/os-release says. kubegce sends the same script as startup-script and as user-data;
# each copy reports under its own key. It changes nothing else on the instance.
set -o nounset -o pipefail
# @@KUBEGCE_HEADER@@
: "${KUBEGCE_PROBE_CHANNEL:?rendered header missing}"
KUBEGCE_METADATA_URL="http://metadata.google.internal/computeMetadata/v1"
if [[ -r /etc/kubegce/lab.env ]]; then
  # shellcheck source=/dev/null
  . /etc/kubegce/lab.env
fi

put() {
  curl --silent --fail --max-time 5 -X PUT -H 'Metadata-Flavor: Google' --data-binary "$2" \
    "$KUBEGCE_METADATA_URL/instance/guest-attributes/kubegce-probe/$1" >/dev/null 2>&1 ||
    echo "kubegce-probe: could not write guest attribute $1"
}

os_release=""
if [[ -r /etc/os-release ]]; then
  os_release=$(grep -E '^(ID|ID_LIKE|VERSION_ID|VARIANT_ID)=' /etc/os-release | tr '\n' ';')
fi
tools=""
for tool in cloud-init google_metadata_script_runner ignition dnf apt-get zypper rpm-ostree; do
  if command -v "$tool" >/dev/null 2>&1; then tools="$tools$tool;"; fi
done
echo "kubegce-probe: channel=$KUBEGCE_PROBE_CHANNEL os-release=$os_release tools=$tools"
put "$KUBEGCE_PROBE_CHANNEL" ran
put os-release "$os_release"
put tools "$tools"
