#!/usr/bin/env bash
# Install the real argument parsers of the pinned Dynamo 1.x worker image (ai-dynamo 1.6.1 with
# vLLM 0.31.0) into a virtualenv of their own, so that tests can check every 1.x command line
# the charts synthesize with `dynamo.vllm.args.parse_args` and the frontend's `parse_args`
# (tests/support/runtime_parsers.py), and scripts/gen-vllm-engine-args.py can derive
# constructs_lib/model/data/vllm_engine_args.json.
#
# Why this way: `pip install ai-dynamo[vllm]==1.6.1` needs CUDA wheels, NIXL and aisimulate
# (not on PyPI). The parsers need none of that: vLLM imports on its CPU platform
# (VLLM_TARGET_DEVICE=cpu) with the CPU build of torch 2.13.0 that lies on this machine's disk
# (/opt/wheels), and the pure-Python modules vLLM and Dynamo import while parsing. Those are
# pinned in scripts/runtime-parsers-requirements.txt (found by importing the parsers until they
# loaded) and installed with --no-deps: triton, flashinfer, CUDA libraries etc. never come in.
# Measured on a 2-core machine: 2 min 20 s with an empty pip cache (1 min with a warm one), 2.4 GB (torch 0.75 GB,
# vLLM's CUDA kernels 0.8 GB, the Dynamo runtime 0.25 GB); downloads about 0.5 GB from PyPI.
#
# Usage: scripts/install-runtime-parsers.sh [VENV_DIR]
#   VENV_DIR defaults to $DYNAMO_PARSERS_VENV, else <repo>/.venv-parsers.
#   PYTHON selects the interpreter (default python3; it must be 3.11, the torch wheel's Python).
# Idempotent: once the pinned set installed and the parsers imported (a stamp says so), it exits
# without touching the network.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo_root/scripts/runtime-parsers-requirements.txt"
venv="${1:-${DYNAMO_PARSERS_VENV:-$repo_root/.venv-parsers}}"
py="$venv/bin/python"
stamp="$venv/.installed-$(sha1sum "$requirements" | cut -c1-12)"

# Importing the parsers takes about 10 s: done once after installing, then the stamp (named after
# the requirements' hash) stands for it.
imports() {
    VLLM_TARGET_DEVICE=cpu "$py" -c '
import dynamo.vllm.args, dynamo.frontend.main  # noqa: F401
from vllm.engine.arg_utils import AsyncEngineArgs  # noqa: F401
' >/dev/null 2>&1
}

if [[ -x "$py" && -f "$stamp" ]]; then
    echo "runtime parsers already installed in $venv"
    exit 0
fi

start=$(date +%s)
[[ -x "$py" ]] || "${PYTHON:-python3}" -m venv "$venv"
rm -f "$venv"/.installed-*
"$py" -m pip install --disable-pip-version-check --no-input --quiet --no-deps -r "$requirements"
if ! imports; then
    echo "error: the parsers in $venv do not import; see:" \
         "VLLM_TARGET_DEVICE=cpu $py -c 'import dynamo.vllm.args'" >&2
    exit 1
fi
touch "$stamp"
echo "runtime parsers installed in $venv in $(( $(date +%s) - start )) s ($(du -sh "$venv" | cut -f1))"
