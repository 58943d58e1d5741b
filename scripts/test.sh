#!/usr/bin/env bash
# The project's test command (README): sets up what the tests need, then lint, types and every suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
ruff check src tests benchmarks
ruff format --check src tests benchmarks
mypy
python3 -m pytest "$@"
