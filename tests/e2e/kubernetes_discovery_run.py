"""A synthesized environment with `runtime.discovery: kubernetes`, run against a stand-in
Kubernetes API server, with no etcd and no NATS, the EndpointSlice flipped by hand.

Run by tests/e2e/test_kubernetes_discovery.py as

    unshare --mount --net -- python -m tests.e2e.kubernetes_discovery_run \\
        --manifests DIR --workdir DIR --report FILE

inside private namespaces, because the runtime finds the API server the in-cluster way: the
`KUBERNETES_SERVICE_HOST`/`PORT` variables and the token, CA and namespace files at their fixed
path under /var/run/secrets (kube-rs 2.0.1 has no override for the files), which run_local's
mountns provides in the private mount namespace without touching the machine. In the private
network namespace only loopback exists, so the zmq event plane the manifests ask for, which
binds 0.0.0.0, listens on loopback alone.

The pieces are run-local's (the stand-in API server, the pods' names and UIDs, the translation
with K1 and K2, the EndpointSlice as its controller builds it, the CRD's schema), but not its
control plane: the stand-in here authorizes every call, so that the test sees each one the
runtime makes and holds them against the Role afterwards, and the EndpointSlice's `ready` is
set by this script, not by the worker's probe, so that the test sees the frontend follow it
both ways. The run writes what it saw to the report; the test judges it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from constructs_lib.tools.run_local import (
    OpenAIClient,
    dynamo_python,
    mountns,
    netns,
    write_tiny_model,
)
from constructs_lib.tools.run_local.control_plane import Endpoint, endpoint_slice, resource_of_crd
from constructs_lib.tools.run_local.kube_api import (
    ENDPOINT_SLICES,
    PODS,
    Identity,
    KubeApiStandIn,
    Resource,
)
from constructs_lib.tools.run_local.pods import LocalPod, pod_of
from constructs_lib.tools.run_local.processes import LOOPBACK, ProcessGroup, http_get
from constructs_lib.tools.run_local.synthesized import read_manifests
from constructs_lib.tools.run_local.tls import certificate_authority, tls_secret
from constructs_lib.tools.run_local.translate import LocalCommand, LocalContext, translate_container

COMPONENT_LABEL = "app.kubernetes.io/dynamo-component"
TIMEOUT = 30.0
PROMPT = [{"role": "user", "content": "Say hello to the mock engine"}]


def worker_metadata(documents: list[dict[str, Any]]) -> Resource:
    """DynamoWorkerMetadata, under the CRD the manifests install (any object when they install
    none)."""
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    if crds:
        return resource_of_crd(crds[0])[0]
    return Resource("nvidia.com", "v1alpha1", "dynamoworkermetadatas", "DynamoWorkerMetadata")


def slice_of(service: dict[str, Any], pods: list[LocalPod], *, ready: bool) -> dict[str, Any]:
    return endpoint_slice(service, [Endpoint(pod, ready) for pod in pods],
                          name=f"{service['metadata']['name']}-7xq2b")


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
             pods: list[LocalPod]) -> Iterator[KubeApiStandIn]:
    """The stand-in, serving what the runtime could ask for, with the pods in it; every pod's
    ServiceAccount files in place (one token: the pods share their ServiceAccount)."""
    ca = certificate_authority(workdir / "ca", key="ec")
    server = tls_secret(ca, workdir / "apiserver", "kube-apiserver", usages=["serverAuth"],
                        dns_names=["kubernetes.default.svc"], ip_addresses=[LOOPBACK], key="ec")
    token = secrets.token_urlsafe(24)
    [namespace] = {pod.namespace for pod in pods}
    [account] = {pod.service_account for pod in pods}
    mountns.provide(mountns.TokenVolume(token, (ca / "ca.crt").read_text(), namespace))
    with KubeApiStandIn(tokens={token: Identity.service_account(namespace, account)},
                        cert_file=str(server / "tls.crt"), key_file=str(server / "tls.key"),
                        resources=[ENDPOINT_SLICES, worker_metadata(documents), PODS]) as api:
        for pod in pods:
            api.put(PODS, pod.manifest())
        yield api


def run(manifests: Path, workdir: Path, report: dict[str, Any]) -> None:
    documents = read_manifests(manifests)
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    pods = {d["metadata"]["labels"][COMPONENT_LABEL]: pod_of(d, 0) for d in deployments}
    # The headless one; found by that rather than by its labels, which the runtime judges.
    [service] = [d for d in documents if d["kind"] == "Service"
                 and d["spec"].get("clusterIP") == "None"]
    report["pods"] = {role: {"name": p.name, "uid": p.uid, "namespace": p.namespace}
                      for role, p in pods.items()}
    with stand_in(workdir, documents, list(pods.values())) as api, \
            ProcessGroup(workdir / "logs") as group:
        metadata = next(r for r in api.resources.values() if r.plural == "dynamoworkermetadatas")
        report["api"] = api
        ctx = LocalContext(python=str(dynamo_python()), model_dir=write_tiny_model(
            workdir / "model"), workdir=workdir, kubernetes_api=(api.host, api.port))
        commands: dict[str, LocalCommand] = {}
        for role in ("frontend", "decode"):
            pod = pods[role]
            command = translate_container(role, pod.spec["containers"][0], ctx,
                                          pod=pod.identity)
            commands[role] = command
            report.setdefault("env", {})[role] = command.env
            group.start(role, command.argv, command.env)
        # The controller publishes the worker's endpoint, not ready, as soon as the pod runs.
        api.put(ENDPOINT_SLICES, slice_of(service, list(pods.values()), ready=False))
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
        api.put(ENDPOINT_SLICES, slice_of(service, list(pods.values()), ready=True))
        timings["ready_after_slice"] = wait_for(
            "the frontend's readiness probe", lambda: status_of(ready_url) == 200, group)

        chat = OpenAIClient(commands["frontend"].url("http"), timeout=30.0).chat(
            commands["decode"].argv[commands["decode"].argv.index("--model-name") + 1], PROMPT,
            max_tokens=8)
        report["chat"] = {"content": chat.content, "finish_reason": chat.finish_reason,
                          "usage": chat.usage}

        api.put(ENDPOINT_SLICES, slice_of(service, list(pods.values()), ready=False))
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
        netns.bring_loopback_up()
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
