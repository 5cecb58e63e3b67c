"""A synthesized environment with `runtime.discovery: kubernetes`, run against a stand-in
Kubernetes API server, with no etcd and no NATS.

Run by tests/e2e/test_kubernetes_discovery.py as

    unshare --mount --net -- python -m tests.e2e.kubernetes_discovery_run \\
        --manifests DIR --workdir DIR --report FILE

inside private namespaces, because the runtime finds the API server the in-cluster way: the
`KUBERNETES_SERVICE_HOST`/`PORT` variables and the token, CA and namespace files at their fixed
path under /var/run/secrets (kube-rs 2.0.1 has no override for the files), which a tmpfs
mounted over /var/run in the private mount namespace provides without touching the machine.
In the private network namespace only loopback exists, so the zmq event plane the manifests
ask for, which binds 0.0.0.0, listens on loopback alone.

The frontend and the worker start from the Deployments' containers (run_local's translation:
the Dynamo venv, `dynamo.mocker` for `dynamo.vllm`, local ports), with the downward API values
resolved as the kubelet would for the pods the stand-in knows, and the EndpointSlice of the
discovery Service built as the EndpointSlice controller would from the Service and the pods.
The run writes what it saw to the report; the test judges it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import socket
import struct
import subprocess
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from constructs_lib.tools.run_local import OpenAIClient, dynamo_python, write_tiny_model
from constructs_lib.tools.run_local.kube_api import (
    ENDPOINT_SLICES,
    PODS,
    Identity,
    KubeApiStandIn,
    Resource,
)
from constructs_lib.tools.run_local.processes import ProcessGroup, http_get
from constructs_lib.tools.run_local.synthesized import read_manifests
from constructs_lib.tools.run_local.tls import certificate_authority, tls_secret
from constructs_lib.tools.run_local.translate import LocalCommand, LocalContext, translate_container

COMPONENT_LABEL = "app.kubernetes.io/dynamo-component"
SERVICE_ACCOUNT_FILES = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TIMEOUT = 30.0
PROMPT = [{"role": "user", "content": "Say hello to the mock engine"}]


@dataclass(frozen=True)
class Pod:
    """A pod of a Deployment, as the API server and the kubelet know it."""

    role: str
    name: str
    uid: str
    namespace: str
    labels: dict[str, str]
    container: dict[str, Any]


def loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2: a new network namespace starts with its
    loopback down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, siocgifflags, request)[:18])[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))


def service_account_files(token: str, ca_file: Path, namespace: str) -> None:
    """The files the kubelet mounts for a pod with automountServiceAccountToken, at the path
    in-cluster clients read them from."""
    run = os.path.realpath("/var/run")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", run], check=True)
    SERVICE_ACCOUNT_FILES.mkdir(parents=True)
    (SERVICE_ACCOUNT_FILES / "token").write_text(token)
    (SERVICE_ACCOUNT_FILES / "ca.crt").write_text(ca_file.read_text())
    (SERVICE_ACCOUNT_FILES / "namespace").write_text(namespace)


def crd_validator(documents: list[dict[str, Any]]) -> Callable[[dict[str, Any]], list[str]]:
    """Problems of an applied DynamoWorkerMetadata under the CRD the manifests install (any
    object when they install none)."""
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    if not crds:
        return lambda obj: []
    [version] = crds[0]["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]

    def validate(obj: dict[str, Any]) -> list[str]:
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(obj)]
    return validate


def pod_of(deployment: dict[str, Any]) -> Pod:
    template = deployment["spec"]["template"]
    labels = dict(template["metadata"]["labels"])
    name = deployment["metadata"]["name"]
    return Pod(role=labels[COMPONENT_LABEL], name=f"{name}-6f9c7d8b5-x2k4q",
               uid=str(uuid.uuid4()), namespace=deployment["metadata"]["namespace"],
               labels=labels, container=template["spec"]["containers"][0])


def with_downward_api(pod: Pod) -> dict[str, Any]:
    """The container with each `fieldRef` resolved as the kubelet resolves it for `pod`."""
    fields = {"metadata.name": pod.name, "metadata.uid": pod.uid,
              "metadata.namespace": pod.namespace, "status.podIP": "127.0.0.1"}
    env = []
    for item in pod.container.get("env", []):
        ref = item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        env.append({"name": item["name"], "value": fields[ref]} if ref else item)
    return {**pod.container, "env": env}


def endpoint_slice(service: dict[str, Any], pods: list[Pod], *, ready: bool) -> dict[str, Any]:
    """What the EndpointSlice controller writes for `service`: its labels (and the controller's
    own), an endpoint per pod its selector selects, ready as the pod's readiness says."""
    meta = service["metadata"]
    selector = service["spec"]["selector"]
    chosen = [p for p in pods if all(p.labels.get(k) == v for k, v in selector.items())]
    ports = []
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        number = next(p["containerPort"] for pod in chosen for p in pod.container["ports"]
                      if p["name"] == target) if isinstance(target, str) else target
        ports.append({"name": port["name"], "port": number, "protocol": port["protocol"]})
    labels = {**meta.get("labels", {}), "kubernetes.io/service-name": meta["name"],
              "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    if service["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    return {
        "metadata": {"name": f"{meta['name']}-7xq2b", "namespace": meta["namespace"],
                     "labels": labels},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"],
                       "conditions": {"ready": ready, "serving": ready, "terminating": False},
                       "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace,
                                     "uid": p.uid}} for p in chosen],
        "ports": ports,
    }


def status_of(url: str) -> int:
    try:
        return http_get(url, timeout=2)[0]
    except OSError:
        return 0


def wait_for(what: str, condition: Callable[[], bool], group: ProcessGroup) -> float:
    """Seconds until `condition` holds; raises after TIMEOUT or when a process exits."""
    start = time.monotonic()
    while not condition():
        for proc in group.processes:
            if not proc.running():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} while "
                                   f"waiting for {what}")
        if time.monotonic() - start > TIMEOUT:
            raise RuntimeError(f"{what}: not within {TIMEOUT} s")
        time.sleep(0.1)
    return time.monotonic() - start


def samples(url: str, count: int, interval: float = 0.2) -> list[int]:
    found = []
    for _ in range(count):
        found.append(status_of(url))
        time.sleep(interval)
    return found


@contextlib.contextmanager
def stand_in(workdir: Path, documents: list[dict[str, Any]],
             namespace: str) -> Iterator[KubeApiStandIn]:
    ca = certificate_authority(workdir / "ca")
    server = tls_secret(ca, workdir / "apiserver", "kube-apiserver", usages=["serverAuth"],
                        dns_names=["kubernetes.default.svc"], ip_addresses=["127.0.0.1"])
    token = secrets.token_urlsafe(24)
    service_account_files(token, ca / "ca.crt", namespace)
    metadata = Resource("nvidia.com", "v1alpha1", "dynamoworkermetadatas",
                        "DynamoWorkerMetadata", validate=crd_validator(documents))
    with KubeApiStandIn(tokens={token: Identity.service_account(namespace, "discovery")},
                        cert_file=str(server / "tls.crt"),
                        key_file=str(server / "tls.key"),
                        resources=[ENDPOINT_SLICES, metadata, PODS]) as api:
        yield api


def run(manifests: Path, workdir: Path, report: dict[str, Any]) -> None:
    documents = read_manifests(manifests)
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    pods = {pod.role: pod for pod in map(pod_of, deployments)}
    frontend, worker = pods["frontend"], pods["decode"]
    # The headless one; found by that rather than by its labels, which the runtime judges.
    [service] = [d for d in documents if d["kind"] == "Service"
                 and d["spec"].get("clusterIP") == "None"]
    report["pods"] = {role: {"name": p.name, "uid": p.uid, "namespace": p.namespace}
                      for role, p in pods.items()}
    with stand_in(workdir, documents, worker.namespace) as api, \
            ProcessGroup(workdir / "logs") as group:
        metadata = next(r for r in api.resources.values() if r.plural == "dynamoworkermetadatas")
        report["api"] = api
        ctx = LocalContext(python=str(dynamo_python()), model_dir=write_tiny_model(
            workdir / "model"), workdir=workdir)
        commands: dict[str, LocalCommand] = {}
        for pod in (frontend, worker):
            command = translate_container(pod.role, with_downward_api(pod), ctx)
            declared = {e["name"]: e.get("value") for e in with_downward_api(pod)["env"]}
            # The translation moves the event plane to NATS, because zmq binds 0.0.0.0; in
            # this network namespace that is loopback, and the manifests' plane (zmq) runs.
            if "DYN_EVENT_PLANE" in declared:
                command.env["DYN_EVENT_PLANE"] = str(declared["DYN_EVENT_PLANE"])
            command.env.update(KUBERNETES_SERVICE_HOST=api.host,
                               KUBERNETES_SERVICE_PORT=str(api.port))
            commands[pod.role] = command
            report.setdefault("env", {})[pod.role] = command.env
            group.start(pod.role, command.argv, command.env)
        # The controller publishes the worker's endpoint, not ready, as soon as the pod runs.
        api.put(ENDPOINT_SLICES, endpoint_slice(service, list(pods.values()), ready=False))
        report["slice"] = api.objects(ENDPOINT_SLICES)[0]

        ready_url = commands["frontend"].readiness_url
        worker_ready_url = commands["decode"].readiness_url
        assert ready_url and worker_ready_url and commands["frontend"].liveness_url
        timings = report.setdefault("seconds", {})
        timings["metadata_applied"] = wait_for(
            "the worker's DynamoWorkerMetadata", lambda: bool(api.objects(metadata)), group)
        timings["worker_ready"] = wait_for(
            "the worker's readiness probe", lambda: status_of(worker_ready_url) == 200, group)
        wait_for("the frontend's liveness probe",
                 lambda: status_of(str(commands["frontend"].liveness_url)) == 200, group)
        # Registered and healthy, but the slice does not say ready yet.
        report["ready_before_slice"] = samples(ready_url, 10)

        # The kubelet saw the readiness probe pass; the controller marks the endpoint ready.
        api.put(ENDPOINT_SLICES, endpoint_slice(service, list(pods.values()), ready=True))
        timings["ready_after_slice"] = wait_for(
            "the frontend's readiness probe", lambda: status_of(ready_url) == 200, group)

        chat = OpenAIClient(commands["frontend"].url("http"), timeout=30.0).chat(
            commands["decode"].argv[commands["decode"].argv.index("--model-name") + 1], PROMPT,
            max_tokens=8)
        report["chat"] = {"content": chat.content, "finish_reason": chat.finish_reason,
                          "usage": chat.usage}

        api.put(ENDPOINT_SLICES, endpoint_slice(service, list(pods.values()), ready=False))
        timings["unready_after_slice"] = wait_for(
            "the frontend dropping the worker", lambda: status_of(ready_url) != 200, group)
        report["ready_after_unready_slice"] = samples(ready_url, 5)
        report["exit_codes"] = group.stop(["decode"]) | group.stop(["frontend"])
        report["metadata"] = api.objects(metadata)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    started = time.monotonic()
    report: dict[str, Any] = {}
    try:
        loopback_up()
        run(args.manifests, args.workdir, report)
    except Exception:
        report["error"] = traceback.format_exc()
    finally:
        api = report.pop("api", None)
        if api is not None:
            report["calls"] = [call.__dict__ for call in api.calls]
        report.setdefault("seconds", {})["total"] = time.monotonic() - started
        logs = args.workdir / "logs"
        report["logs"] = {p.stem: p.read_text(errors="replace")[-3000:]
                          for p in sorted(logs.glob("*.log"))} if logs.exists() else {}
        args.report.write_text(json.dumps(report, indent=1, default=str))
    raise SystemExit(1 if "error" in report else 0)


if __name__ == "__main__":
    main()
