"""dist/<environment>/kustomization.yaml: every manifest, once, in an order that applies what the
Dynamo pods depend on (ConfigMaps, etcd, NATS) before them, and that kustomize keeps."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from constructs_lib.tools.synth import _apply_rank
from tests.conftest import ROOT, SHIPPED

DIST = ROOT / "dist"


def _kustomization(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DIST / name / "kustomization.yaml").read_text())
    return document


def _document(name: str, file: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DIST / name / file).read_text())
    return document


@pytest.mark.parametrize("name", SHIPPED)
def test_the_kustomization_lists_every_manifest_once_and_keeps_its_order(name: str) -> None:
    kustomization = _kustomization(name)
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    # Without fifo, kustomize sorts by kind and puts Deployments before StatefulSets.
    assert kustomization["sortOptions"] == {"order": "fifo"}
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert sorted(resources) == sorted(p.name for p in (DIST / name).glob("*.k8s.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_dependencies_come_before_the_dynamo_pods(name: str) -> None:
    documents = [_document(name, file) for file in _kustomization(name)["resources"]]
    dependencies = [i for i, d in enumerate(documents)
                    if d["kind"] == "ConfigMap"
                    or d["metadata"].get("labels", {}).get("app.kubernetes.io/name")
                    in ("etcd", "nats")]
    pods = [i for i, d in enumerate(documents) if d["kind"] == "Deployment"]
    if not dependencies:
        # Kubernetes discovery deploys neither etcd nor NATS: what the pods run as and write
        # comes first instead.
        dependencies = [i for i, d in enumerate(documents) if d["kind"] in (
            "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding")]
        assert len(dependencies) == 4
    else:
        assert any(documents[i]["kind"] == "StatefulSet" for i in dependencies)
    assert pods and max(dependencies) < min(pods)


def test_kinds_apply_in_dependency_order_and_unknown_kinds_last() -> None:
    files = ["Deployment.a.k8s.yaml", "Widget.a.k8s.yaml", "ServiceMonitor.a.k8s.yaml",
             "StatefulSet.b.k8s.yaml", "ConfigMap.z.k8s.yaml", "ConfigMap.a.k8s.yaml",
             "Service.a.k8s.yaml"]
    assert sorted(files, key=_apply_rank) == [
        "ConfigMap.a.k8s.yaml", "ConfigMap.z.k8s.yaml", "Service.a.k8s.yaml",
        "StatefulSet.b.k8s.yaml", "Deployment.a.k8s.yaml", "ServiceMonitor.a.k8s.yaml",
        "Widget.a.k8s.yaml"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("name", SHIPPED)
def test_kubectl_kustomize_renders_every_manifest_in_the_listed_order(name: str) -> None:
    result = subprocess.run(["kubectl", "kustomize", str(DIST / name)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    listed = [_document(name, file) for file in _kustomization(name)["resources"]]
    assert [(d["kind"], d["metadata"]["name"]) for d in rendered] == [
        (d["kind"], d["metadata"]["name"]) for d in listed]
