#!/usr/bin/env bash
# Install checkov, the policy scanner of tests/test_checkov.py, into a virtualenv of its own.
#
# Why a dedicated venv: checkov pins packaging<24, while building this project's wheel needs
# setuptools>=77, which imports packaging.licenses (packaging>=24.2). In one venv the wheel
# build (tests/test_packaging.py) or checkov breaks. checkov is pinned because
# checkov-skips.yaml lists the failing checks of one version; a new release adds checks.
#
# Usage: scripts/install-checkov.sh [VENV_DIR]
#   VENV_DIR defaults to $CHECKOV_VENV, else <repo>/.venv-checkov.
# Idempotent: with the pinned version installed it exits without touching the network.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${CHECKOV_VENV:-$repo_root/.venv-checkov}}"
py="$venv/bin/python"

installed() {
    [[ -x "$py" ]] && "$py" -c "
import sys
from importlib.metadata import version
sys.exit(version('checkov') != '$CHECKOV_VERSION')" >/dev/null 2>&1
}

if installed; then
    echo "checkov ${CHECKOV_VERSION} already installed in $venv"
    exit 0
fi
start=$(date +%s)
[[ -x "$py" ]] || "${PYTHON:-python3}" -m venv "$venv"
"$py" -m pip install --disable-pip-version-check --no-input --quiet "checkov==${CHECKOV_VERSION}"
installed || { echo "error: checkov ${CHECKOV_VERSION} did not install in $venv" >&2; exit 1; }
echo "checkov ${CHECKOV_VERSION} installed in $venv in $(( $(date +%s) - start )) s"
