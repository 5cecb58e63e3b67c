"""End to end: the shipped `dev-kubernetes-discovery` environment, synthesized, runs with the
real 1.6.1 frontend and a mock-engine worker against a stand-in Kubernetes API server, with no
etcd and no NATS (tests/e2e/kubernetes_discovery_run.py does the run in private mount and
network namespaces, constructs_lib/tools/run_local/kube_api.py is the API server).

Checks: every API call the runtime made is allowed by the Role the manifests grant, and the Role
grants nothing it did not use; the worker applies its DynamoWorkerMetadata as its pod (named
after it, owned by its UID), accepted by the CRD the manifests install; the frontend's
`/v1/models/<name>/ready` stays 404 while the EndpointSlice lists the worker not ready, turns
200 once it says ready and drops back when it no longer does; a chat completion is served; the
processes ran with the discovery variables the Deployments declare.

Needs the Dynamo venv (``scripts/install-dynamo-runtime.sh``), root with `unshare` (private
namespaces) and `openssl`; skipped with the reason otherwise (an error instead when
DYNAMO_E2E_REQUIRED=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest

from constructs_lib.tools import synth
from constructs_lib.tools.run_local import dynamo_python
from constructs_lib.tools.run_local.kube_api import ApiCall, denied
from tests.conftest import ENVIRONMENTS, ROOT, read_documents

ENVIRONMENT = "dev-kubernetes-discovery"
BUDGET = 60.0
DISCOVERY_ENV = ("DYN_NAMESPACE", "DYN_DISCOVERY_BACKEND", "POD_NAME", "POD_UID", "POD_NAMESPACE",
                 "DYN_REQUEST_PLANE", "DYN_EVENT_PLANE")


def _missing() -> str | None:
    if not dynamo_python().exists():
        return f"Dynamo venv missing ({dynamo_python()}): run scripts/install-dynamo-runtime.sh"
    if shutil.which("openssl") is None:
        return "openssl not found (the stand-in API server speaks TLS, as in-cluster clients need)"
    if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--mount", "--net", "true"], capture_output=True).returncode != 0:
        return ("needs root and `unshare --mount --net`: the runtime reads the in-cluster "
                "ServiceAccount files from their fixed path, mounted in a private namespace")
    return None


def _marks() -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.e2e]
    missing = _missing()
    if missing is not None:
        if os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
            raise RuntimeError(missing)
        marks.append(pytest.mark.skip(reason=missing))
    return marks


pytestmark = _marks()


@dataclass(frozen=True)
class Run:
    documents: list[dict[str, Any]]
    report: dict[str, Any]
    seconds: float

    def find(self, kind: str, component: str | None = None) -> dict[str, Any]:
        [found] = [d for d in self.documents if d["kind"] == kind and component in (
            None, d["metadata"].get("labels", {}).get("app.kubernetes.io/dynamo-component"))]
        return found

    @property
    def calls(self) -> list[ApiCall]:
        return [ApiCall(**{**call, "verbs": tuple(call["verbs"])})
                for call in self.report["calls"]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("synth") / "dist"
    synth.synthesize(synth.load_all([ENVIRONMENTS / f"{ENVIRONMENT}.yaml"]), out)
    workdir = tmp_path_factory.mktemp("kubernetes-discovery")
    report = workdir / "report.json"
    started = time.monotonic()
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--", sys.executable, "-m",
         "tests.e2e.kubernetes_discovery_run", "--manifests", str(out / ENVIRONMENT),
         "--workdir", str(workdir / "run"), "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=BUDGET * 2)
    seconds = time.monotonic() - started
    found = json.loads(report.read_text()) if report.exists() else {}
    logs = "\n".join(f"--- {name}\n{tail}" for name, tail in found.get("logs", {}).items())
    assert done.returncode == 0 and "error" not in found, (
        f"{found.get('error', '')}\n{done.stderr[-3000:]}\n{logs}")
    return Run(read_documents(out / ENVIRONMENT), found, seconds)


def test_the_deployment_has_no_etcd_and_no_nats(run: Run) -> None:
    assert not [d for d in run.documents if d["kind"] == "StatefulSet"]
    for role, env in run.report["env"].items():
        assert not {"ETCD_ENDPOINTS", "NATS_SERVER"} & set(env), role


def test_every_call_the_runtime_made_is_one_the_role_allows(run: Run) -> None:
    role = run.find("Role")
    calls = run.calls
    assert denied(calls, role) == []
    assert all(200 <= call.status < 300 for call in calls), [
        (c.method, c.path, c.status) for c in calls if not 200 <= c.status < 300]
    # And nothing more: each verb the Role grants was needed.
    used = {(c.group, c.resource, verb) for c in calls for verb in c.verbs}
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert used == granted
    # Both components watch both resources in their own namespace, by the slices' label.
    namespace = run.report["pods"]["decode"]["namespace"]
    watches = [c for c in calls if c.verbs == ("watch",)]
    assert len(watches) >= 4
    assert {c.namespace for c in calls} == {namespace}
    assert {c.query.get("labelSelector") for c in watches if c.resource == "endpointslices"} \
        == {"nvidia.com/dynamo-discovery-enabled=true"}


def test_the_worker_applies_its_metadata_as_its_pod(run: Run) -> None:
    worker = run.report["pods"]["decode"]
    applies = [c for c in run.calls if c.method == "PATCH"]
    assert applies, "the worker applied nothing"
    assert {(c.name, c.query.get("fieldManager"), c.query.get("force")) for c in applies} == {
        (worker["name"], "dynamo-worker", "true")}
    # The first apply creates the object: the API server authorizes it as create too.
    assert applies[0].verbs == ("patch", "create") and applies[0].status == 201
    [stored] = run.report["metadata"]
    assert stored["metadata"]["ownerReferences"] == [{
        "apiVersion": "v1", "kind": "Pod", "name": worker["name"], "uid": worker["uid"],
        "controller": True, "blockOwnerDeletion": False}]
    data = stored["spec"]["data"]
    assert {"endpoints", "model_cards"} <= set(data)
    assert any(card["card_json"]["display_name"] == "Qwen/Qwen3-0.6B"
               for card in data["model_cards"].values())


def test_the_frontend_is_ready_only_while_the_endpoint_slice_says_the_worker_is(run: Run) -> None:
    report = run.report
    slice_ = report["slice"]
    # Built as the controller would from the synthesized Service: its labels, and the worker
    # pod alone (the frontend carries no discovery label).
    assert slice_["metadata"]["labels"]["nvidia.com/dynamo-discovery-enabled"] == "true"
    assert [e["targetRef"]["name"] for e in slice_["endpoints"]] == [
        report["pods"]["decode"]["name"]]
    before = report["ready_before_slice"]
    assert len(before) == 10 and set(before) == {404}, before
    assert report["seconds"]["ready_after_slice"] < 5
    assert set(report["ready_after_unready_slice"]) == {404}


def test_a_chat_completion_is_served(run: Run) -> None:
    chat = run.report["chat"]
    assert chat["content"].strip()
    assert chat["finish_reason"] == "length"
    assert chat["usage"]["completion_tokens"] == 8
    assert run.report["exit_codes"] == {"decode": 0, "frontend": 0}


def test_the_processes_ran_with_the_discovery_env_the_deployments_declare(run: Run) -> None:
    for role in ("frontend", "decode"):
        container = run.find("Deployment", role)["spec"]["template"]["spec"]["containers"][0]
        declared = {e["name"]: e for e in container["env"] if e["name"] in DISCOVERY_ENV}
        assert set(declared) == set(DISCOVERY_ENV), role
        pod = run.report["pods"][role]
        downward = {"metadata.name": pod["name"], "metadata.uid": pod["uid"],
                    "metadata.namespace": pod["namespace"]}
        env = run.report["env"][role]
        for name, entry in declared.items():
            expected = entry.get("value") or downward[entry["valueFrom"]["fieldRef"]["fieldPath"]]
            assert env[name] == expected, (role, name)


def test_the_run_fits_its_budget(run: Run) -> None:
    assert run.seconds < BUDGET, run.report["seconds"]
