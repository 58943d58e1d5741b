#!/usr/bin/env bash
# The project's test command (README): lint, types, then every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check src tests benchmarks
mypy
python3 -m pytest "$@"
