#!/usr/bin/env bash
# Installs what synthesis and the tests need, idempotently: the Python venv with the project,
# the pinned cdk8s CLI, and for the tests Debian's etcd and nats-server (as root), the
# Dynamo 1.x runtime (scripts/install-dynamo-runtime.sh), its argument parsers
# (scripts/install-runtime-parsers.sh), checkov (scripts/install-checkov.sh) and promtool
# (scripts/install-promtool.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi

# Byte-compile the project: with PYTHONDONTWRITEBYTECODE set (as on these machines), every
# process would otherwise compile it again, which costs a synth about 0.4 s.
.venv/bin/python -m compileall -q constructs_lib main.py >/dev/null

# The cdk8s CLI (for `npx cdk8s synth` and `npm run import`) and Node 22, which jsii then uses.
lock_stamp=node_modules/.installed-$(sha1sum package-lock.json | cut -c1-12)
if [ ! -f "$lock_stamp" ]; then
  npm ci --silent --no-audit --no-fund
  touch "$lock_stamp"
fi

if [ "${1:-}" = "--with-test-services" ]; then
  missing=()
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
  command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "setup: the tests need ${missing[*]}; install them with apt-get as root" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The Dynamo 1.x runtime for the end-to-end test, in a venv of its own.
  scripts/install-dynamo-runtime.sh >/dev/null
  # The real 1.x argument parsers (ai-dynamo 1.6.1 + vLLM 0.31.0 on CPU torch) for
  # tests/test_runtime_parsers.py, in a venv of their own (2.4 GB; see the script).
  scripts/install-runtime-parsers.sh >/dev/null
  # checkov for tests/test_checkov.py, in a venv of its own (see the script for why).
  scripts/install-checkov.sh >/dev/null
  # promtool for tests/test_promql.py, unpacked from Debian's prometheus package.
  scripts/install-promtool.sh >/dev/null
fi
