"""Unit tests of what run-local plays of a cluster for Dynamo's kubernetes discovery, so far:
the translation rules K1 and K2, the pods' names, the RBAC authorizer over the manifests'
Roles, a CRD's structural schema, and the per-pod mount namespaces. The shipped
`dev-kubernetes-discovery` manifests come from dist/ (kept current by tests/test_synth.py)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from constructs_lib._render import discovery
from constructs_lib.tools.run_local import mountns, pods
from constructs_lib.tools.run_local.kube_api import (
    Attributes,
    Identity,
    Rbac,
)
from constructs_lib.tools.run_local.kube_schema import StructuralSchema
from constructs_lib.tools.run_local.synthesized import read_manifests
from constructs_lib.tools.run_local.translate import (
    LocalContext,
    PodIdentity,
    translate_container,
)
from tests.conftest import ROOT

from . import containers as c

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


def _deployment(documents: list[dict[str, Any]], component: str) -> dict[str, Any]:
    [found] = [d for d in documents if d["kind"] == "Deployment" and
               d["metadata"]["labels"]["app.kubernetes.io/dynamo-component"] == component]
    return found


@pytest.fixture
def ctx(tmp_path: Path) -> LocalContext:
    return LocalContext(python="/venv/bin/python", model_dir=tmp_path / "model",
                        workdir=tmp_path)


# --------------------------------------------------------------------------- K1, K2


def _discovery_worker() -> dict[str, Any]:
    worker = copy.deepcopy(c.DECODE)
    worker["env"] = [e for e in worker["env"] if e["name"] != "ETCD_ENDPOINTS"] + [
        {"name": "DYN_DISCOVERY_BACKEND", "value": "kubernetes"}, *discovery.pod_env()]
    return worker


def test_k1_the_downward_api_gives_the_pod_identity(ctx: LocalContext) -> None:
    pod = PodIdentity("rel-decode-7c5d9b4f6d-x2k4q", "e2e", "0d9e5c7a-1111-4a2b-9c3d-5e6f7a8b9c0d")
    cmd = translate_container("decode-0", _discovery_worker(), ctx, pod=pod)
    assert (cmd.env["POD_NAME"], cmd.env["POD_NAMESPACE"], cmd.env["POD_UID"]) == (
        pod.name, pod.namespace, pod.uid)
    assert cmd.pod == pod
    assert f"K1 env POD_UID from metadata.uid -> {pod.uid}" in cmd.notes
    assert "K1 env POD_NAMESPACE from metadata.namespace -> e2e" in cmd.notes
    # The pod's place is still R3's.
    assert "R3 env DYN_TCP_RPC_HOST from status.podIP -> 127.0.0.1" in cmd.notes


def test_k1_without_an_identity_the_pod_is_named_after_the_process(ctx: LocalContext) -> None:
    first = translate_container("decode-0", _discovery_worker(), ctx)
    again = translate_container("decode-0", _discovery_worker(), ctx)
    other = translate_container("decode-1", _discovery_worker(), ctx)
    assert (first.env["POD_NAME"], first.env["POD_NAMESPACE"]) == ("decode-0", "default")
    assert re.fullmatch(r"[0-9a-f-]{36}", first.env["POD_UID"])
    assert first.env["POD_UID"] == again.env["POD_UID"] != other.env["POD_UID"]


def test_k1_refuses_other_value_sources_still(ctx: LocalContext) -> None:
    worker = _discovery_worker()
    worker["env"].append({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}})
    with pytest.raises(ValueError, match="env X: unsupported valueFrom"):
        translate_container("decode-0", worker, ctx)


def test_k2_the_api_server_address_comes_first_and_yields_to_the_container(
        ctx: LocalContext) -> None:
    assert "KUBERNETES_SERVICE_HOST" not in translate_container(
        "decode-0", _discovery_worker(), ctx).env
    ctx.kubernetes_api = ("127.0.0.1", 23456)
    cmd = translate_container("decode-0", _discovery_worker(), ctx)
    assert (cmd.env["KUBERNETES_SERVICE_HOST"], cmd.env["KUBERNETES_SERVICE_PORT"]) == (
        "127.0.0.1", "23456")
    assert "K2 env KUBERNETES_SERVICE_HOST=127.0.0.1, KUBERNETES_SERVICE_PORT=23456" in cmd.notes
    # As the kubelet's service variables: the container's own win, and $(VAR) sees them.
    worker = _discovery_worker()
    worker["env"] += [
        {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
        {"name": "API", "value": "$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}]
    cmd = translate_container("decode-0", worker, ctx)
    assert cmd.env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert cmd.env["API"] == "127.0.0.1:6443"


def test_the_shipped_containers_translate(documents: list[dict[str, Any]],
                                          ctx: LocalContext) -> None:
    """What crashed run-local before: `metadata.uid`."""
    for component in ("frontend", "decode"):
        deployment = _deployment(documents, component)
        pod = pods.pod_of(deployment, 0)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        cmd = translate_container(component, container, ctx, pod=pod.identity)
        assert cmd.env["POD_NAME"] == pod.name and cmd.env["POD_UID"] == pod.uid
        assert cmd.env["POD_NAMESPACE"] == NAMESPACE


# --------------------------------------------------------------------------- pods


def test_pods_are_named_as_their_controllers_name_them(documents: list[dict[str, Any]]) -> None:
    deployment = _deployment(documents, "decode")
    first, again, second = (pods.pod_of(deployment, 0), pods.pod_of(deployment, 0),
                            pods.pod_of(deployment, 1))
    match = re.fullmatch(r"dynamo-dev-kd-decode-([456789bcdf]{1,10})-"
                         r"([bcdfghjklmnpqrstvwxz2456789]{5})", first.name)
    assert match, first.name
    assert first.labels["pod-template-hash"] == match.group(1)
    # Stable from run to run, one per replica, new with a new template; the UID is new each time.
    assert first.name == again.name != second.name
    assert first.uid != again.uid
    changed = copy.deepcopy(deployment)
    changed["spec"]["template"]["metadata"]["labels"]["extra"] = "x"
    assert pods.pod_of(changed, 0).labels["pod-template-hash"] != match.group(1)
    assert first.service_account == ACCOUNT and first.namespace == NAMESPACE
    assert first.labels[discovery.DISCOVERY_LABEL] == "true"
    manifest = first.manifest()
    assert manifest["metadata"]["uid"] == first.uid and manifest["status"]["podIP"] == "127.0.0.1"

    statefulset = {"kind": "StatefulSet", "metadata": {"name": "rel-etcd", "namespace": "e2e"},
                   "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {}}}}
    assert pods.pod_of(statefulset, 0).name == "rel-etcd-0"
    lws = {"kind": "LeaderWorkerSet", "metadata": {"name": "rel-decode"},
           "spec": {"leaderWorkerTemplate": {"size": 2, "workerTemplate": {
               "metadata": {"labels": {"a": "b"}}, "spec": {}}}}}
    leader = pods.pod_of(lws, 1)
    assert (leader.name, leader.namespace) == ("rel-decode-1", "default")
    assert leader.labels["leaderworkerset.sigs.k8s.io/group-index"] == "1"


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
