"""Unit tests of the stand-in API server's cluster parts: the RBAC authorizer over the
manifests' Roles, a CRD's structural schema (validation and pruning), and the per-pod mount
namespaces. The shipped `dev-kubernetes-discovery` manifests come from dist/ (kept current by
tests/test_synth.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from constructs_lib.tools.run_local import mountns
from constructs_lib.tools.run_local.kube_api import (
    Attributes,
    Identity,
    Rbac,
)
from constructs_lib.tools.run_local.kube_schema import StructuralSchema
from constructs_lib.tools.run_local.synthesized import read_manifests
from tests.conftest import ROOT

MANIFESTS = ROOT / "dist" / "dev-kubernetes-discovery"
NAMESPACE = "dynamo-dev-kd"
ACCOUNT = "dynamo-dev-kd-discovery"


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return read_manifests(MANIFESTS)


def _kind(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [d for d in documents if d["kind"] == kind
               and name in (None, d["metadata"]["name"])]
    return found


# --------------------------------------------------------------------------- RBAC


def test_rbac_grants_what_the_role_says_where_it_says(documents: list[dict[str, Any]]) -> None:
    rbac = Rbac(documents)
    pod = Identity.service_account(NAMESPACE, ACCOUNT, "p")

    def allows(identity: Identity, verb: str, group: str, resource: str,
               namespace: str = NAMESPACE, name: str = "") -> bool:
        return rbac.allows(identity, Attributes(verb, group, resource, namespace, name))

    assert allows(pod, "watch", "discovery.k8s.io", "endpointslices")
    assert allows(pod, "create", "nvidia.com", "dynamoworkermetadatas", name="x")
    assert not allows(pod, "get", "discovery.k8s.io", "endpointslices", name="x")
    assert not allows(pod, "delete", "nvidia.com", "dynamoworkermetadatas", name="x")
    assert not allows(pod, "list", "", "pods")
    # A Role grants in its own namespace only, and to the subjects its binding names.
    assert not allows(pod, "list", "discovery.k8s.io", "endpointslices", namespace="other")
    assert not allows(Identity.service_account(NAMESPACE, "default"), "list",
                      "discovery.k8s.io", "endpointslices")
    extra = [
        {"kind": "ClusterRole", "metadata": {"name": "pods-reader"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"],
                    "resourceNames": ["one"]}]},
        {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": NAMESPACE},
         "roleRef": {"kind": "ClusterRole", "name": "pods-reader"},
         "subjects": [{"kind": "Group", "name": f"system:serviceaccounts:{NAMESPACE}"}]},
        {"kind": "ClusterRole", "metadata": {"name": "all"},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "admin"},
         "roleRef": {"kind": "ClusterRole", "name": "all"},
         "subjects": [{"kind": "User", "name": "admin"}]},
    ]
    rbac = Rbac([*documents, *extra])
    assert allows(pod, "get", "", "pods", name="one")
    assert not allows(pod, "get", "", "pods", name="two")
    assert not allows(pod, "list", "", "pods")
    assert allows(Identity("admin"), "delete", "x.io", "things", namespace="any", name="y")


def _metadata(name: str, uid: str, data: Any = None) -> dict[str, Any]:
    return {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoWorkerMetadata",
            "metadata": {"name": name, "namespace": NAMESPACE, "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid,
                 "controller": True, "blockOwnerDeletion": False}]},
            "spec": {"data": {"endpoints": {}} if data is None else data}}


# --------------------------------------------------------------------------- schema


def test_the_structural_schema_agrees_with_json_schema(documents: list[dict[str, Any]]) -> None:
    crd = _kind(documents, "CustomResourceDefinition")
    schema = StructuralSchema.of(crd)
    raw = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    samples = [_metadata("a", "u"), _metadata("a", "u", data={"x": [1, {"y": None}]}),
               {**_metadata("a", "u"), "spec": {}}, _metadata("a", "u", data=[]),
               {**_metadata("a", "u"), "spec": "no"}, {"apiVersion": "x", "kind": "y"}]
    for sample in samples:
        ours = schema.errors(sample)
        theirs = list(jsonschema.Draft7Validator(raw).iter_errors(sample))
        assert bool(ours) == bool(theirs), (sample, ours, theirs)
    assert schema.errors({**_metadata("a", "u"), "spec": {}}) == ["spec.data: Required value"]
    assert schema.unchecked == []


def test_pruning_keeps_what_the_schema_specifies_or_preserves() -> None:
    schema = StructuralSchema({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "kept": {"type": "integer"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "a": {"type": "string", "enum": ["x"]}}}}}}}})
    obj = {"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}},
           "spec": {"kept": 1, "gone": 2, "free": {"any": {"thing": 1}},
                    "items": [{"a": "x", "b": 1}]}, "status": {}}
    assert sorted(schema.prune(obj)) == ["spec.gone", "spec.items[0].b", "status"]
    assert obj == {"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}},
                   "spec": {"kept": 1, "free": {"any": {"thing": 1}}, "items": [{"a": "x"}]}}
    assert schema.errors({"spec": {"kept": True, "items": [{"a": "y"}]}}) == [
        "spec.kept: Invalid value: bool: must be of type integer",
        "spec.items[0].a: Unsupported value: 'y': supported values: 'x'"]


# --------------------------------------------------------------------------- mount namespaces


def _can_unshare_mounts() -> bool:
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True) \
        if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


@pytest.mark.skipif(not _can_unshare_mounts(), reason="no private mount namespace here")
def test_each_pod_sees_its_own_service_account_files(tmp_path: Path) -> None:
    target = mountns.SERVICE_ACCOUNT_DIR
    outside = sorted(os.listdir("/run"))
    seen = {}
    cwd = os.getcwd()
    with mountns.PodMountNamespaces() as mounts:
        for token in ("first", "second"):
            with mounts.pod(mountns.TokenVolume(token, "CA PEM", f"ns-{token}")):
                seen[token] = subprocess.run(
                    ["sh", "-c", f"cat {target}/token; echo; cat {target}/namespace; echo; "
                     f"ls /run; touch {target}/x 2>/dev/null || echo read-only"],
                    capture_output=True, text=True, check=True).stdout.split("\n")
            assert os.getcwd() == cwd
            assert not target.exists()
    for token, lines in seen.items():
        assert lines[:2] == [token, f"ns-{token}"]
        # The machine's /run as it was, plus the secrets the tmpfs holds.
        assert sorted(set(lines[2:-2]) - {"secrets"}) == [e for e in outside if e != "secrets"]
        assert lines[-2] == "read-only"
    assert not target.exists() and sorted(os.listdir("/run")) == outside
