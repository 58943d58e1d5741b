#!/usr/bin/env bash
# Check kubegce on YOUR Google Cloud project: what this repository's tests cannot do (they never
# reach Google). Creates a small cluster with nodes on two image families, waits for every node to
# report, diagnoses any that did not initialize, and deletes everything it created.
#
#   bash scripts/check-gcp.sh PROJECT BUCKET [ZONE]
#
# Needs: gcloud auth application-default login; a bucket you own (gs://BUCKET, uniform access);
# Compute Engine API enabled; quota for 3 e2-medium instances. It costs a few cents.
set -euo pipefail
project=${1:?usage: check-gcp.sh PROJECT BUCKET [ZONE]}
bucket=${2:?usage: check-gcp.sh PROJECT BUCKET [ZONE]}
zone=${3:-us-central1-a}
name="kubegce-check-$(date +%s).example.com"
export KUBEGCE_STATE="gs://${bucket}/kubegce-check"
unset KUBEGCE_COMPUTE_ENDPOINT

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  echo "--- deleting $name"
  kubegce delete cluster "$name" --yes || echo "delete failed: re-run 'KUBEGCE_STATE=$KUBEGCE_STATE kubegce delete cluster $name --yes'"
}
trap cleanup EXIT

kubegce create cluster "$name" --project "$project" --zones "$zone" \
  --control-plane-image ubuntu-os-cloud/ubuntu-2404-lts-amd64 --node-image rocky-linux-cloud/rocky-linux-9 \
  --node-count 2
kubegce update cluster "$name"
kubegce update cluster "$name" --yes
status=0
kubegce validate cluster "$name" --wait 15m || status=$?
kubegce validate cluster "$name" -o json >"check-${name}.json" || true
python3 - "$name" "$project" <<'PY' || true
import json, subprocess, sys
name, project = sys.argv[1], sys.argv[2]
report = json.load(open(f"check-{name}.json"))
for node in report["nodes"]:
    print(f"{node['instance']}: channel={node['channel']} phase={node['phase']}")
    if node["phase"] != "joined":
        subprocess.run(["kubegce", "diagnose", "instance", node["instance"], "--zone", node["zone"], "--project", project])
PY
exit "$status"
