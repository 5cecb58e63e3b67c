"""Runs checkov's Kubernetes checks on each folder or file given, in one process, printing JSON.

Each is scanned on its own, because checkov's graph checks (CKV2_K8S_6: is every pod
selected by a NetworkPolicy?) would otherwise match one environment's NetworkPolicies with
another's pods. One process, because importing checkov takes seconds and a scan a fraction of
one. Usage (with checkov's interpreter, see scripts/install-checkov.sh):
.venv-checkov/bin/python -m tests.support.checkov_scan PATH...
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")  # no mapping download from Bridgecrew

from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter


def main(paths: list[str]) -> None:
    scans = {}
    for path in paths:
        single = os.path.isfile(path)
        report = Runner().run(None if single else path, files=[path] if single else None,
                              runner_filter=RunnerFilter(framework=["kubernetes"]))
        scans[path] = {
            "summary": report.get_summary(),
            "failed": [{"check_id": r.check_id, "resource": r.resource, "file": r.file_path}
                       for r in report.failed_checks],
        }
    json.dump(scans, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
