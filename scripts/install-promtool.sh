#!/usr/bin/env bash
# Install promtool, Prometheus' own PromQL checker, for tests/test_promql.py: it parses every
# query the autoscalers and dashboards use and evaluates them on series shaped like the
# runtime's. Taken from Debian's `prometheus` package, unpacked and not installed, so that no
# Prometheus server is set up or started on this machine.
#
# Usage: scripts/install-promtool.sh [DIR]
#   DIR defaults to $PROMTOOL_DIR, else <repo>/.tools/promtool; the binary is DIR/promtool.
# Idempotent: with promtool there, it exits without touching the network.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-${PROMTOOL_DIR:-$repo_root/.tools/promtool}}"

if [[ -x "$dir/promtool" ]] && "$dir/promtool" --version >/dev/null 2>&1; then
    echo "promtool already installed in $dir"
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's download user must be able to write there
(cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) || {
    apt-get update -qq >/dev/null
    (cd "$work" && apt-get download -qq prometheus >/dev/null)
}
dpkg-deb -x "$work"/prometheus_*.deb "$work/unpacked"
mkdir -p "$dir"
install -m 755 "$work/unpacked/usr/bin/promtool" "$dir/promtool"
"$dir/promtool" --version | head -1
