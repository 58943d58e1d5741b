#!/usr/bin/env bash
# The project's test command (README): sets up what the tests need, then lint, types and every suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
# Everything Python runs from the project's virtual environment (.venv/), never the system Python.
# shellcheck source=scripts/venv.sh
source scripts/venv.sh "[test]"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
mypy
python -m pytest "$@"
