#!/bin/bash
# shellcheck disable=SC2154  # KUBEGCE_* settings come from the hash-checked node config
# kubegce node bootstrap: takes a node from a fresh GCE image to a joined Kubernetes node.
# Rendered by kubegce; runs from startup-script, user-data (cloud-init) or an Ignition unit.
# It runs to the end once per node config: a lock and a done marker keyed by the config hash
# make a second channel, the every-boot startup-script and reboots harmless; a run that died
# half way resumes at the step that failed.
set -o errexit -o nounset -o pipefail -o errtrace
umask 022

# The line below is replaced by kubegce with the config pointer and its hash (no secrets).
# @@KUBEGCE_HEADER@@
: "${KUBEGCE_CONFIG_SHA256:?rendered header missing}" "${KUBEGCE_CONFIG_SOURCE:?rendered header missing}"
# @@KUBEGCE_PROTOCOL@@

# @@KUBEGCE_INCLUDE lib/common.sh@@
# @@KUBEGCE_INCLUDE lib/distro.sh@@
# @@KUBEGCE_INCLUDE lib/host.sh@@
# @@KUBEGCE_INCLUDE lib/gpu.sh@@
# @@KUBEGCE_INCLUDE lib/binaries.sh@@
# @@KUBEGCE_INCLUDE lib/discovery.sh@@
# @@KUBEGCE_INCLUDE lib/election.sh@@
# @@KUBEGCE_INCLUDE lib/etcd.sh@@
# @@KUBEGCE_INCLUDE lib/restore.sh@@
# @@KUBEGCE_INCLUDE lib/join.sh@@
# @@KUBEGCE_INCLUDE lib/token.sh@@
# @@KUBEGCE_INCLUDE lib/health.sh@@
# @@KUBEGCE_INCLUDE lib/backup.sh@@
# @@KUBEGCE_INCLUDE lib/main.sh@@

main "${KUBEGCE_CHANNEL:-}"
