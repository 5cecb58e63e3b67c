"""Unit tests of what run-local plays of a cluster for Dynamo's kubernetes discovery: the
translation rules K1 and K2, the pods' names, the plan read off the manifests, the RBAC
authorizer and the stand-in's refusals, the CRD's schema, the garbage collector, the
EndpointSlice controller following a readiness probe, the per-pod mount namespaces, and the
command refusing what this machine cannot do. The shipped `dev-kubernetes-discovery` manifests
come from dist/ (kept current by tests/test_synth.py)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from constructs_lib._render import discovery
from constructs_lib.tools.cli import main
from constructs_lib.tools.run_local import control_plane, dynamo_python, mountns, pods, tls
from constructs_lib.tools.run_local.control_plane import (
    ControlPlane,
    Endpoint,
    Plan,
    endpoint_slice,
)
from constructs_lib.tools.run_local.kube_api import (
    ENDPOINT_SLICES,
    PODS,
    Attributes,
    Identity,
    Rbac,
)
from constructs_lib.tools.run_local.kube_schema import StructuralSchema
from constructs_lib.tools.run_local.processes import PortAllocator, ProcessGroup
from constructs_lib.tools.run_local.synthesized import read_manifests
from constructs_lib.tools.run_local.translate import (
    LocalCommand,
    LocalContext,
    PodIdentity,
    translate_container,
)
from tests.conftest import ENVIRONMENTS, ROOT

from . import containers as c

MANIFESTS = ROOT / "dist" / "dev-kubernetes-discovery"
NAMESPACE = "dynamo-dev-kd"
ACCOUNT = "dynamo-dev-kd-discovery"
HAVE_OPENSSL = shutil.which("openssl") is not None
HAVE_DYNAMO = dynamo_python().exists()


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


# --------------------------------------------------------------------------- the plan


def test_the_plan_serves_what_the_role_grants(documents: list[dict[str, Any]]) -> None:
    plan = control_plane.plan(documents)
    assert plan is not None and plan.problems == [] and plan.mounts_tokens
    assert [(r.group, r.plural, r.version, r.kind) for r in plan.resources] == [
        ("discovery.k8s.io", "endpointslices", "v1", "EndpointSlice"),
        ("nvidia.com", "dynamoworkermetadatas", "v1alpha1", "DynamoWorkerMetadata")]
    assert plan.resources[1].validate is not None  # under the emitted CRD
    assert {s["metadata"]["name"] for s in plan.services} == {
        f"{NAMESPACE}-discovery", f"{NAMESPACE}-frontend"}
    # Without the CRD, its objects are served unvalidated, and the report says so.
    without = control_plane.plan([d for d in documents
                                  if d["kind"] != "CustomResourceDefinition"])
    assert without is not None and without.resources[1].validate is None
    assert any("no CRD dynamoworkermetadatas.nvidia.com" in note for note in without.notes)


def test_no_plan_without_kubernetes_discovery() -> None:
    documents = read_manifests(ROOT / "dist" / "dev")
    assert control_plane.plan(documents) is None


def test_the_plan_refuses_what_the_cluster_would(documents: list[dict[str, Any]]) -> None:
    changed = copy.deepcopy(documents)
    decode = _deployment(changed, "decode")
    decode["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    _deployment(changed, "frontend")["spec"]["template"]["spec"]["serviceAccountName"] = "nobody"
    plan = control_plane.plan(changed)
    assert plan is not None
    assert sorted(plan.problems) == [
        "Deployment dynamo-dev-kd-decode: its pods use kubernetes discovery but mount no "
        "ServiceAccount token (automountServiceAccountToken false): the runtime could not "
        "reach the API server",
        "Deployment dynamo-dev-kd-frontend: its ServiceAccount nobody is not in the manifests: "
        "the cluster would not create its pods"]


def test_worker_metadata_is_the_resource_the_library_emits() -> None:
    assert control_plane.WORKER_METADATA_GROUP == discovery.GROUP
    assert control_plane.WORKER_METADATA_VERSION == discovery.VERSION
    assert control_plane.WORKER_METADATA_KIND == discovery.KIND
    assert control_plane.WORKER_METADATA_PLURAL == discovery.PLURAL


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


class _Client:
    """An in-cluster client of the stand-in: its token, trusting its CA."""

    def __init__(self, port: int, token: str, ca_pem: str) -> None:
        self.base = f"https://127.0.0.1:{port}"
        self.token = token
        self.context = ssl.create_default_context(cadata=ca_pem)

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> tuple[int, dict[str, Any], Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.context) as answer:
                return answer.status, dict(answer.headers), json.loads(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), json.loads(err.read())

    def apply(self, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
        return self.request(
            "PATCH", f"/apis/nvidia.com/v1alpha1/namespaces/{NAMESPACE}/dynamoworkermetadatas/"
            f"{name}?fieldManager=dynamo-worker&force=true", body,
            "application/apply-patch+yaml")


@pytest.fixture
def started(documents: list[dict[str, Any]], tmp_path: Path) -> Iterator[ControlPlane]:
    """The control plane of the shipped manifests, without mount namespaces (no process of
    these tests reads the token files)."""
    if not HAVE_OPENSSL:
        pytest.skip("openssl not found")
    plan = control_plane.plan(documents)
    assert plan is not None
    plane = ControlPlane(Plan(plan.documents, plan.rbac, plan.resources, plan.services,
                              mounts_tokens=False), tmp_path / "cp", PortAllocator(),
                         interval=0.05)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def _client(plane: ControlPlane, pod: pods.LocalPod) -> _Client:
    volume = plane.admit(pod)
    assert volume is not None
    return _Client(plane.address[1], volume.token, volume.ca)


def test_a_call_the_role_does_not_grant_is_refused_and_fails_the_run(
        documents: list[dict[str, Any]], started: ControlPlane) -> None:
    worker = pods.pod_of(_deployment(documents, "decode"), 0)
    client = _client(started, worker)
    status, _, body = client.request(
        "GET", f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
        "?labelSelector=nvidia.com/dynamo-discovery-enabled%3Dtrue")
    assert status == 200 and [s["metadata"]["labels"][discovery.DISCOVERY_LABEL]
                              for s in body["items"]] == ["true"]
    status, _, body = client.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")
    assert status == 403
    assert body["message"] == (
        f'pods is forbidden: User "system:serviceaccount:{NAMESPACE}:{ACCOUNT}" cannot list '
        f'resource "pods" in API group "" in the namespace "{NAMESPACE}"')
    # Deleting is not granted either (the garbage collector deletes, not the runtime).
    status, _, _ = client.request(
        "DELETE", f"/apis/nvidia.com/v1alpha1/namespaces/{NAMESPACE}/dynamoworkermetadatas/x")
    assert status == 403
    # A bad token is no one.
    assert _Client(started.address[1], "wrong", _ca(started)).request(
        "GET", f"/api/v1/namespaces/{NAMESPACE}/pods")[0] == 401
    report = started.report()
    assert any(line.startswith(f"  ServiceAccount {ACCOUNT}: 3 calls by ")
               and "2 refused (not granted by Role dynamo-dev-kd-discovery)" in line
               for line in report.lines), report.lines
    refused = [f for f in report.failures if "refused" in f]
    assert len(refused) == 2
    assert refused[0].startswith(f"{worker.name}: GET /api/v1/namespaces/{NAMESPACE}/pods "
                                 "refused: pods is forbidden")
    assert refused[0].endswith("the Roles do not grant it")


def _ca(plane: ControlPlane) -> str:
    return (plane.workdir / "ca" / "ca.crt").read_text()


def test_an_apply_that_creates_needs_create_too(documents: list[dict[str, Any]],
                                                tmp_path: Path) -> None:
    if not HAVE_OPENSSL:
        pytest.skip("openssl not found")
    changed = copy.deepcopy(documents)
    role = _kind(changed, "Role")
    role["rules"][1]["verbs"] = ["list", "patch", "watch"]
    plan = control_plane.plan(changed)
    assert plan is not None
    worker = pods.pod_of(_deployment(changed, "decode"), 0)
    with ControlPlane(Plan(plan.documents, plan.rbac, plan.resources, plan.services,
                           mounts_tokens=False), tmp_path / "cp", PortAllocator()) as plane:
        client = _client(plane, worker)
        status, _, body = client.apply(worker.name, _metadata(worker.name, worker.uid))
    assert status == 403
    assert 'cannot create resource "dynamoworkermetadatas" in API group "nvidia.com"' in \
        body["message"]


def test_applied_objects_are_pruned_and_validated_under_the_crd(
        documents: list[dict[str, Any]], started: ControlPlane) -> None:
    worker = pods.pod_of(_deployment(documents, "decode"), 0)
    client = _client(started, worker)
    status, _, body = client.apply(worker.name, _metadata(worker.name, worker.uid, data="text"))
    assert status == 422 and "spec.data: Invalid value: str: must be of type object" in \
        body["message"]
    extra = _metadata(worker.name, worker.uid)
    extra["spec"]["extra"] = 1
    status, headers, body = client.apply(worker.name, extra)
    assert status == 201 and "extra" not in body["spec"]
    assert headers["Warning"] == '299 - "unknown field \\"spec.extra\\""'
    assert body["metadata"]["ownerReferences"][0]["uid"] == worker.uid
    failures = started.report().failures
    assert any("answered 422: " in f and "spec.data" in f for f in failures), failures
    assert any('its CRD drops a field the runtime wrote (unknown field "spec.extra")' in f
               for f in failures), failures


def test_the_garbage_collector_deletes_what_no_pod_owns(
        documents: list[dict[str, Any]], started: ControlPlane) -> None:
    worker = pods.pod_of(_deployment(documents, "decode"), 0)
    client = _client(started, worker)
    assert client.apply(worker.name, _metadata(worker.name, worker.uid))[0] == 201
    # Named after the worker's pod, under a UID that is not the pod's.
    assert client.apply("stray", _metadata(worker.name, "no-such-uid") | {
        "metadata": {**_metadata(worker.name, "no-such-uid")["metadata"], "name": "stray"}})[0] \
        == 201
    assert started.api is not None
    deadline = time.monotonic() + 5
    while len(started.api.objects(started.plan.resources[1])) > 1 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert [o["metadata"]["name"] for o in started.api.objects(started.plan.resources[1])] == [
        worker.name]
    assert any(f.startswith("DynamoWorkerMetadata stray was deleted by the garbage collector "
                            "while the pod it names as owner ran: no owner exists: Pod "
                            f"{worker.name} (uid no-such-uid)")
               for f in started.report().failures), started.report().failures


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


# --------------------------------------------------------------------------- the controller


def test_an_endpoint_slice_lists_the_pods_its_service_selects(
        documents: list[dict[str, Any]]) -> None:
    service = _kind(documents, "Service", f"{NAMESPACE}-discovery")
    worker = pods.pod_of(_deployment(documents, "decode"), 0)
    frontend = pods.pod_of(_deployment(documents, "frontend"), 0)
    found = endpoint_slice(service, [Endpoint(frontend, True), Endpoint(worker, False)])
    assert found["metadata"]["labels"] == {
        **service["metadata"]["labels"], "kubernetes.io/service-name": service["metadata"]["name"],
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "service.kubernetes.io/headless": ""}
    assert [(e["targetRef"]["name"], e["targetRef"]["uid"], e["conditions"]["ready"])
            for e in found["endpoints"]] == [(worker.name, worker.uid, False)]
    assert found["ports"] == [{"name": "system", "port": 9090, "protocol": "TCP"}]
    stopping = endpoint_slice(service, [Endpoint(worker, True, terminating=True)])
    assert stopping["endpoints"][0]["conditions"] == {
        "ready": False, "serving": True, "terminating": True}


# A readiness probe that passes while the file it is given exists.
PROBED = """
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if os.path.exists(sys.argv[2]) else 503)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _wait(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_ready_follows_the_readiness_probe_of_the_pods_the_service_selects(
        documents: list[dict[str, Any]], started: ControlPlane, tmp_path: Path) -> None:
    assert started.api is not None
    api = started.api
    worker = pods.pod_of(_deployment(documents, "decode"), 0)
    frontend = pods.pod_of(_deployment(documents, "frontend"), 0)
    ready_file = tmp_path / "ready"
    ports = PortAllocator()
    with ProcessGroup(tmp_path / "logs", stop_timeout=5) as group:
        for name, pod in (("decode-0", worker), ("frontend", frontend)):
            port = ports.allocate()
            process = group.start(name, [sys.executable, "-c", PROBED, str(port),
                                         str(ready_file)])
            command = LocalCommand(name, "worker", process.argv, {}, {}, {}, None,
                                   f"http://127.0.0.1:{port}/health", [])
            started.admit(pod)
            started.running(pod, command, process)

        def discovery_slice() -> dict[str, Any]:
            [found] = [s for s in api.objects(ENDPOINT_SLICES) if s["metadata"]["labels"]
                       .get("kubernetes.io/service-name") == f"{NAMESPACE}-discovery"]
            return found

        def ready() -> list[bool]:
            return [e["conditions"]["ready"] for e in discovery_slice()["endpoints"]]

        # Listed while not ready; the frontend, which the selector does not match, never.
        _wait(lambda: ready() == [False], "the worker listed, not ready")
        assert [e["targetRef"]["name"] for e in discovery_slice()["endpoints"]] == [worker.name]
        time.sleep(0.3)
        assert ready() == [False]
        ready_file.touch()
        _wait(lambda: ready() == [True], "ready once the probe passes")
        ready_file.unlink()
        _wait(lambda: ready() == [False], "not ready once it fails")
        ready_file.touch()
        _wait(lambda: ready() == [True], "ready again")
        assert [p["metadata"]["name"] for p in api.objects(PODS)] == sorted(
            [worker.name, frontend.name])
        group.stop(["decode-0"])
        # A pod whose process is gone leaves the slice and the API server.
        _wait(lambda: discovery_slice()["endpoints"] == [], "the worker gone from the slice")
        assert [p["metadata"]["name"] for p in api.objects(PODS)] == [frontend.name]
    lines = started.report().lines
    assert any(line.startswith(f"  EndpointSlice {NAMESPACE}-discovery-") and
               f"of Service {NAMESPACE}-discovery: decode-0 ready " in line
               for line in lines), lines


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


# --------------------------------------------------------------------------- the command


@pytest.mark.skipif(not HAVE_DYNAMO, reason="Dynamo venv missing")
@pytest.mark.parametrize("what", ["mount namespace", "openssl"])
def test_run_local_refuses_in_one_line_what_this_machine_cannot_do(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], what: str) -> None:
    if what == "mount namespace":
        def refuse(self: mountns.PodMountNamespaces) -> mountns.PodMountNamespaces:
            raise mountns.MountNamespaceUnavailable("unshare(CLONE_NEWNS) failed: "
                                                    "Operation not permitted")
        monkeypatch.setattr(mountns.PodMountNamespaces, "__enter__", refuse)
        expected = (f"the runtime reads its ServiceAccount token from "
                    f"{mountns.SERVICE_ACCOUNT_DIR}, a path no variable moves")
    else:
        monkeypatch.setattr(tls, "OPENSSL", None)
        expected = "run-local makes its certificate with openssl, which is not installed"
    code = main(["run-local", str(ENVIRONMENTS / "dev-kubernetes-discovery.yaml")])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("run-local: dev-kubernetes-discovery: kubernetes discovery: ")
    assert expected in err
    assert "processes on 127.0.0.1" not in out
