#!/usr/bin/env bash
# Install the NVIDIA Dynamo 1.x runtime (frontend + mock engine, no GPU stack) into a
# dedicated virtualenv, for the local end-to-end tests (tests/e2e/).
#
# Why a dedicated venv: `pip install ai-dynamo==1.6.1` cannot be resolved from PyPI alone
# (it depends on `aisimulate`, whose PyPI package is a stub that downloads the real wheel
# from another index). Installing the runtime wheel, then ai-dynamo without its
# dependencies, then the few pure-Python extras the frontend and the mocker import, works
# from PyPI only. Keeping it out of the project's main venv keeps that venv small.
#
# Usage: scripts/install-dynamo-runtime.sh [VENV_DIR]
#   VENV_DIR defaults to $DYNAMO_VENV, else <repo>/.venv-dynamo.
#   PYTHON selects the interpreter that creates the venv (default: python3, must be >= 3.10).
#
# Idempotent: when the venv already has the pinned versions and imports work, it exits
# without touching the network.
set -euo pipefail

DYNAMO_VERSION="1.6.1"
# Pure-Python modules that ai-dynamo imports but that the runtime wheel does not pull in
# (found by running `python -m dynamo.frontend --help` and `python -m dynamo.mocker --help`),
# plus `tokenizers`, used to build the tiny test tokenizer.
EXTRAS=(pyyaml packaging msgspec tokenizers)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${DYNAMO_VENV:-$repo_root/.venv-dynamo}}"
python="${PYTHON:-python3}"
py="$venv/bin/python"

check() {
    [[ -x "$py" ]] || return 1
    "$py" - "$DYNAMO_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
want = sys.argv[1]
assert version("ai-dynamo-runtime") == want, "runtime"
assert version("ai-dynamo") == want, "ai-dynamo"
import dynamo.frontend, dynamo.mocker, dynamo.llm, dynamo.runtime  # noqa: F401
import tokenizers, yaml, msgspec, packaging  # noqa: F401
EOF
}

if check; then
    echo "dynamo runtime ${DYNAMO_VERSION} already installed in $venv"
    exit 0
fi

start=$(date +%s)
if [[ ! -x "$py" ]]; then
    "$python" -m venv "$venv"
fi
pip=("$py" -m pip install --disable-pip-version-check --no-input --quiet)
"${pip[@]}" "ai-dynamo-runtime==${DYNAMO_VERSION}" "${EXTRAS[@]}"
# Last, and without its dependencies (see above). pip then reports the dependencies it
# did not install (aisimulate, transformers, ...): expected, the mocker needs none of them.
"${pip[@]}" --no-deps "ai-dynamo==${DYNAMO_VERSION}"

if ! check; then
    echo "error: dynamo runtime in $venv does not import; see: $py -c 'import dynamo.mocker'" >&2
    exit 1
fi
echo "dynamo runtime ${DYNAMO_VERSION} installed in $venv in $(( $(date +%s) - start )) s" \
     "($(du -sh "$venv" | cut -f1))"
