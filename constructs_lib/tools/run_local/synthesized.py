"""Start a synthesized Dynamo 1.x environment on 127.0.0.1 and smoke-test it.

Reads the manifests exactly as `synth` wrote them: etcd and NATS from their StatefulSets (and
NATS's ConfigMap), the frontend and workers from their Deployments, and each Service from the
port it targets. Only what a laptop cannot do is substituted (see translate.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .client import OpenAIClient, WorkerIds
from .processes import http_get
from .stack import LocalStack

COMPONENT_LABEL = "app.kubernetes.io/dynamo-component"
PROMPT = [{"role": "user", "content": "Say hello to the mock engine"}]


def read_manifests(folder: Path) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for file in sorted(folder.glob("*.k8s.yaml")):
        documents.extend(d for d in yaml.safe_load_all(file.read_text()) if d)
    return documents


def _service_ports(documents: list[dict[str, Any]], pod_labels: dict[str, str],
                   container: dict[str, Any]) -> list[tuple[str, int]]:
    """Services that select these pods, with each container port they target."""
    by_name = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    services: list[tuple[str, int]] = []
    for service in (d for d in documents if d["kind"] == "Service"):
        selector = service["spec"].get("selector", {})
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            continue
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            target_port = by_name.get(target, target) if isinstance(target, str) else target
            if target_port == port["port"]:
                services.append((service["metadata"]["name"], int(target_port)))
    return services


def _first_container(workload: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return container


@dataclass
class StartedEnvironment:
    stack: LocalStack
    frontend: str
    workers: dict[str, list[str]] = field(default_factory=dict)
    """Component (decode, prefill) -> local process names."""
    served_model_name: str = ""


def start(stack: LocalStack, documents: list[dict[str, Any]],
          replicas: int | None = 1) -> StartedEnvironment:
    """Start dependencies, the frontend and up to `replicas` of each worker Deployment
    (all of them when None); waits until the frontend has discovered every worker role."""
    for statefulset in (d for d in documents if d["kind"] == "StatefulSet"):
        name = statefulset["metadata"]["name"]
        container = _first_container(statefulset)
        labels = statefulset["spec"]["template"]["metadata"]["labels"]
        kind = "nats" if container["command"][0] == "nats-server" else "etcd"
        config = None
        if kind == "nats":
            config_map = next(d for d in documents if d["kind"] == "ConfigMap"
                              and d["metadata"]["name"] == f"{name}-config")
            config = config_map["data"]["nats.conf"]
        stack.start_dependency(kind, container,
                               services=_service_ports(documents, labels, container),
                               nats_config_text=config, pod_name=f"{name}-0")

    deployments = {d["metadata"]["labels"][COMPONENT_LABEL]: d
                   for d in documents if d["kind"] == "Deployment"}
    if "frontend" not in deployments:
        raise ValueError("no Dynamo 1.x frontend Deployment: run-local needs a 1.x environment")
    frontend = deployments.pop("frontend")
    started = StartedEnvironment(stack, frontend="frontend")
    stack.start("frontend", _first_container(frontend))
    for component, deployment in sorted(deployments.items()):
        # An autoscaled Deployment carries no replicas: Kubernetes starts one.
        count = deployment["spec"].get("replicas", 1)
        count = count if replicas is None else min(count, replicas)
        names = [f"{component}-{i}" for i in range(count)]
        for name in names:
            stack.start(name, _first_container(deployment))
        started.workers[component] = names
        arguments = _first_container(deployment)["args"]
        if "--served-model-name" in arguments:
            started.served_model_name = arguments[arguments.index("--served-model-name") + 1]
    stack.wait_ready()
    # The frontend's /health is 200 before it has found the workers: wait for every role.
    wanted = {"backend" if c == "decode" else c for c, n in started.workers.items() if n}
    _wait_json(stack.commands["frontend"].url("http", "/health"), stack.timeout,
               lambda body: wanted <= {i["component"] for i in body.get("instances", [])})
    return started


def instances(started: StartedEnvironment) -> dict[str, set[int]]:
    """Worker ids the frontend knows, by component (`backend` is the decode worker)."""
    status, raw = http_get(started.stack.commands[started.frontend].url("http", "/health"))
    if status != 200:
        raise AssertionError(f"frontend /health answered {status}")
    ids: dict[str, set[int]] = {}
    for item in json.loads(raw)["instances"]:
        ids.setdefault(item["component"], set()).add(item["instance_id"])
    return ids


@dataclass
class SmokeResult:
    models: list[str]
    chat_workers: WorkerIds | None
    stream_workers: WorkerIds | None
    chat_text: str
    stream_chunks: int


def smoke_test(started: StartedEnvironment, timeout: float = 60.0) -> SmokeResult:
    """`/v1/models`, a chat completion and a streaming one, through the frontend."""
    client = OpenAIClient(started.stack.commands[started.frontend].url("http"), timeout=30.0)
    deadline = time.monotonic() + timeout
    while started.served_model_name not in (models := client.models()):
        if time.monotonic() > deadline:
            raise AssertionError(f"/v1/models never listed {started.served_model_name}: {models}")
        time.sleep(0.2)
    chat = client.chat(started.served_model_name, PROMPT, max_tokens=8)
    stream = client.chat_stream(started.served_model_name, PROMPT, max_tokens=6)
    return SmokeResult(models=models, chat_workers=chat.workers, stream_workers=stream.workers,
                       chat_text=chat.content, stream_chunks=len(stream.chunks))


def _wait_json(url: str, timeout: float, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status, raw = http_get(url)
            body = json.loads(raw) if status == 200 else {}
        except (OSError, ValueError):
            body = {}
        if body and done(body):
            return body
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not list every worker role within {timeout} s: {body}")
