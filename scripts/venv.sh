#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: creates (once) and activates the project's virtual environment in
# .venv/ so that set-up never installs into, upgrades or pins anything of the system's Python
# (PEP 668 "externally-managed-environment" on Debian 12 and Ubuntu 24.04). Needs only python3 with
# its venv module (Debian: apt-get install python3-venv). KUBEGCE_VENV overrides the location.
# Usage: source scripts/venv.sh EXTRAS   (EXTRAS: "" or "[test]")
set -euo pipefail
kubegce_venv=${KUBEGCE_VENV:-$PWD/.venv}
kubegce_python=${KUBEGCE_PYTHON:-python3}
if [[ ! -x "$kubegce_venv/bin/python" ]] || ! "$kubegce_venv/bin/python" -c 'import sys' 2>/dev/null; then
  if ! "$kubegce_python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "kubegce needs Python 3.11 or newer as '$kubegce_python' (set KUBEGCE_PYTHON to another interpreter)" >&2
    exit 1
  fi
  rm -rf "$kubegce_venv"
  if ! "$kubegce_python" -m venv "$kubegce_venv" 2>/dev/null; then
    echo "could not create a virtual environment in $kubegce_venv with '$kubegce_python -m venv':" >&2
    echo "install Python's venv module (Debian/Ubuntu: apt-get install python3-venv) and rerun" >&2
    rm -rf "$kubegce_venv"
    exit 1
  fi
fi
# shellcheck disable=SC1091  # created above
source "$kubegce_venv/bin/activate"
# The stamp records what was installed: reinstall when pyproject.toml or the extras change.
kubegce_stamp="$kubegce_venv/.kubegce-installed"
kubegce_want="$(sha256sum pyproject.toml | cut -d' ' -f1) ${1:-}"
if [[ ! -f "$kubegce_stamp" ]] || ! grep -qxF "$kubegce_want" "$kubegce_stamp"; then
  python -m pip install -q --disable-pip-version-check -e ".${1:-}"
  printf '%s\n' "$kubegce_want" >>"$kubegce_stamp"
fi
