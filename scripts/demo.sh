#!/usr/bin/env bash
# The main job on its embedded default: install kubegce, start the built-in GCE emulator, create a
# cluster whose groups boot from different image families, apply it and show each node's boot channel.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e .
exec kubegce demo "$@"
