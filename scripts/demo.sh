#!/usr/bin/env bash
# The main job on its embedded default: install kubegce into the project's virtual environment
# (.venv/, never the system Python), start the built-in GCE emulator, create a cluster whose groups
# boot from different image families, apply it and show each node's boot channel.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh "[kubernetes]"  # the demo drains nodes through its simulated Kubernetes API
exec kubegce demo "$@"
