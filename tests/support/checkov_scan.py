"""Runs checkov's Kubernetes checks on each folder or file given, in one process, printing JSON.

Each is scanned on its own, because checkov's graph checks (CKV2_K8S_6: is every pod
selected by a NetworkPolicy?) would otherwise match one environment's NetworkPolicies with
another's pods. One process, because importing checkov takes seconds and a scan a fraction of
one. Usage (with checkov's interpreter, see scripts/install-checkov.sh):
.venv-checkov/bin/python -m tests.support.checkov_scan PATH...

checkov has no checks for a LeaderWorkerSet (it scans the pods of built-in kinds only), so
each LeaderWorkerSet's leader and worker pod templates are scanned as Deployments of their own,
reported back as `LeaderWorkerSet.<namespace>.<name>.leaderTemplate` (and `.workerTemplate`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")  # no mapping download from Bridgecrew

from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter

TEMPLATES = ("leaderTemplate", "workerTemplate")


def _as_deployments(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A LeaderWorkerSet's pod templates, each as a Deployment named `<name>.<template>`."""
    meta = document["metadata"]
    group = document["spec"]["leaderWorkerTemplate"]
    return [{"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {**meta, "name": f"{meta['name']}.{key}"},
             "spec": {"replicas": document["spec"].get("replicas", 1),
                      "selector": {"matchLabels": group[key]["metadata"]["labels"]},
                      "template": group[key]}}
            for key in TEMPLATES if key in group]


def _unwrapped(path: str, scratch: Path) -> tuple[str, set[str]]:
    """`path`, or a copy of it in `scratch` with each LeaderWorkerSet replaced by its pod
    templates as Deployments; and the names of those Deployments."""
    files = [Path(path)] if os.path.isfile(path) else sorted(Path(path).glob("*.yaml"))
    wrapped = {f: d for f in files if f.name.endswith(".k8s.yaml")
               for d in [list(yaml.safe_load_all(f.read_text()))]
               if any(x and x.get("kind") == "LeaderWorkerSet" for x in d)}
    if not wrapped:
        return path, set()
    names: set[str] = set()
    target = scratch / Path(path).name
    if os.path.isfile(path):
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        shutil.copytree(path, target)
    for file, documents in wrapped.items():
        out: list[dict[str, Any]] = []
        for document in documents:
            if document and document.get("kind") == "LeaderWorkerSet":
                deployments = _as_deployments(document)
                names |= {d["metadata"]["name"] for d in deployments}
                out += deployments
            elif document:
                out.append(document)
        written = target if os.path.isfile(path) else target / file.name
        written.write_text(yaml.safe_dump_all(out, sort_keys=False))
    return str(target), names


def _resource(resource: str, unwrapped: set[str]) -> str:
    kind, _, rest = resource.partition(".")
    namespace, _, name = rest.partition(".")
    if kind == "Deployment" and name in unwrapped:
        return f"LeaderWorkerSet.{namespace}.{name}"
    return resource


def main(paths: list[str]) -> None:
    scans = {}
    with tempfile.TemporaryDirectory(prefix="checkov-scan-") as scratch:
        for index, path in enumerate(paths):
            scanned, unwrapped = _unwrapped(path, Path(scratch) / str(index))
            single = os.path.isfile(scanned)
            report = Runner().run(None if single else scanned,
                                  files=[scanned] if single else None,
                                  runner_filter=RunnerFilter(framework=["kubernetes"]))
            scans[path] = {
                "summary": report.get_summary(),
                "failed": [{"check_id": r.check_id,
                            "resource": _resource(r.resource, unwrapped),
                            "file": r.file_path} for r in report.failed_checks],
            }
    json.dump(scans, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
