"""Start a synthesized Dynamo 1.x environment on 127.0.0.1 and smoke-test it.

Reads the manifests exactly as `synth` wrote them: etcd and NATS from their StatefulSets (and
NATS's ConfigMap), the frontend and workers from their Deployments, workers larger than a node
from their LeaderWorkerSets (one process per group, its leader's: see groups.py), and each
Service from the port it targets. Each process is a pod (pods.py); when the pods use Dynamo's
kubernetes discovery, run-local first starts the control plane they talk to (control_plane.py).
Only what a laptop cannot do is substituted (see translate.py).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import control_plane, groups, pods
from .client import OpenAIClient, WorkerIds
from .processes import http_get
from .stack import LocalStack
from .translate import GroupPod

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


@dataclass(frozen=True)
class WorkerPool:
    """A worker Deployment, or a LeaderWorkerSet whose groups each run as their leader."""

    component: str
    workload: dict[str, Any]
    """The Deployment or LeaderWorkerSet, as synthesized."""
    autoscaled_minimum: int | None = None
    """The minimum of the autoscaler (KEDA ScaledObject or HPA) that owns its replicas."""

    @property
    def name(self) -> str:
        return str(self.workload["metadata"]["name"])

    @property
    def is_group(self) -> bool:
        return bool(self.workload["kind"] == groups.KIND)

    @property
    def replicas(self) -> int:
        """Pods of a Deployment, groups of a LeaderWorkerSet. When an autoscaler owns the
        count, the manifest leaves it out and the cluster soon runs the autoscaler's minimum."""
        if "replicas" in self.workload["spec"]:
            return int(self.workload["spec"]["replicas"])
        return self.autoscaled_minimum or 1

    @property
    def container(self) -> dict[str, Any]:
        """The container each local process of the pool runs: a group's leader's."""
        if self.is_group:
            return groups.main_container(groups.templates(self.workload)[0])
        return _first_container(self.workload)

    @property
    def group(self) -> GroupPod | None:
        return GroupPod(groups.group_size(self.workload)) if self.is_group else None

    def pod_name(self, index: int) -> str | None:
        """What ``metadata.name`` is for the pod of local process `index` (None: the process
        name): a group's leader is ``<set>-<group>``."""
        return f"{self.name}-{index}" if self.is_group else None

    def pod(self, index: int) -> pods.LocalPod:
        """The pod of local process `index` (a group's leader's)."""
        return pods.pod_of(self.workload, index)


def worker_pools(documents: list[dict[str, Any]]) -> dict[str, WorkerPool]:
    """Component (decode, prefill) -> its worker Deployment or LeaderWorkerSet."""
    minimums = _autoscaler_minimums(documents)
    return {d["metadata"]["labels"][COMPONENT_LABEL]: WorkerPool(
                d["metadata"]["labels"][COMPONENT_LABEL], d,
                minimums.get((d["kind"], d["metadata"]["name"])))
            for d in documents if d["kind"] in ("Deployment", groups.KIND)
            and d["metadata"].get("labels", {}).get(COMPONENT_LABEL) not in (None, "frontend")}


def _autoscaler_minimums(documents: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(kind, name) of each scaled workload -> its autoscaler's minimum (KEDA's
    minReplicaCount, default 0; an HPA's minReplicas, default 1)."""
    found = {}
    for document in documents:
        spec = document.get("spec", {})
        if document["kind"] == "ScaledObject":
            minimum = spec.get("minReplicaCount", 0)
        elif document["kind"] == "HorizontalPodAutoscaler":
            minimum = spec.get("minReplicas", 1)
        else:
            continue
        target = spec["scaleTargetRef"]
        found[(target.get("kind", "Deployment"), target["name"])] = int(minimum)
    return found


@dataclass
class StartedEnvironment:
    stack: LocalStack
    frontend: str
    workers: dict[str, list[str]] = field(default_factory=dict)
    """Component (decode, prefill) -> local process names."""
    served_model_name: str = ""
    pools: dict[str, WorkerPool] = field(default_factory=dict)
    """Component -> its worker pool, as synthesized."""


def start_dependencies(stack: LocalStack, documents: list[dict[str, Any]]) -> None:
    """etcd (and NATS, when the environment deploys it) from their StatefulSets; waits for each."""
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
                               nats_config_text=config, pod=pods.pod_of(statefulset, 0))


def frontend_deployment(documents: list[dict[str, Any]]) -> dict[str, Any]:
    for document in documents:
        if document["kind"] == "Deployment" and \
                document["metadata"].get("labels", {}).get(COMPONENT_LABEL) == "frontend":
            return document
    raise ValueError("no Dynamo 1.x frontend Deployment: run-local needs a 1.x environment")


def start_frontend(stack: LocalStack, documents: list[dict[str, Any]]) -> StartedEnvironment:
    """Start the frontend (does not wait); the returned environment knows the worker pools,
    for :func:`start_workers`."""
    frontend = frontend_deployment(documents)
    pools = worker_pools(documents)
    started = StartedEnvironment(stack, frontend="frontend", pools=pools)
    for pool in pools.values():
        arguments = pool.container["args"]
        if "--served-model-name" in arguments:
            started.served_model_name = arguments[arguments.index("--served-model-name") + 1]
    stack.start("frontend", _first_container(frontend), pod=pods.pod_of(frontend, 0))
    return started


def start_workers(started: StartedEnvironment, replicas: int | None = 1,
                  components: list[str] | None = None) -> list[str]:
    """Start up to `replicas` processes (all when None) of each worker pool (or of
    `components`): a Deployment's pods, a LeaderWorkerSet's groups (each as its leader, W7 of
    translate.py); does not wait. Returns the names started."""
    names: list[str] = []
    for component, pool in sorted(started.pools.items()):
        if components is not None and component not in components:
            continue
        count = pool.replicas if replicas is None else min(pool.replicas, replicas)
        running = started.workers.setdefault(component, [])
        for i in range(len(running), len(running) + count):
            name = f"{component}-{i}"
            started.stack.start(name, pool.container, group=pool.group, pod=pool.pod(i))
            running.append(name)
            names.append(name)
    return names


def wait_discovered(started: StartedEnvironment) -> None:
    """Wait until the frontend's /health lists every started worker (the readiness probe
    passes once one worker of each role is there)."""
    wanted: dict[str, int] = {}
    for component, names in started.workers.items():
        wanted["backend" if component == "decode" else component] = len(names)

    def done(body: dict[str, Any]) -> bool:
        found: dict[str, int] = {}
        for item in body.get("instances", []):
            found[item["component"]] = found.get(item["component"], 0) + 1
        return all(found.get(c, 0) >= n for c, n in wanted.items())

    _wait_json(started.stack.commands[started.frontend].url("http", "/health"),
               started.stack.timeout, done)


def start_control_plane(stack: LocalStack, documents: list[dict[str, Any]]) -> None:
    """The control plane the pods talk to, when they use kubernetes discovery (and the stack
    has none yet); raises :class:`.control_plane.ControlPlaneUnavailable` when this machine
    cannot run it, and ValueError when the manifests could not run in a cluster either."""
    plan = control_plane.plan(documents)
    if plan is None or stack.control_plane is not None:
        return
    if plan.problems:
        raise ValueError("; ".join(plan.problems))
    stack.start_control_plane(plan)


def start(stack: LocalStack, documents: list[dict[str, Any]],
          replicas: int | None = 1) -> StartedEnvironment:
    """Start the control plane (kubernetes discovery), dependencies, the frontend and up to
    `replicas` of each worker pool (all of them when None); waits for every synthesized probe
    and until the frontend has discovered every worker."""
    start_control_plane(stack, documents)
    start_dependencies(stack, documents)
    started = start_frontend(stack, documents)
    start_workers(started, replicas)
    stack.wait_ready()
    wait_discovered(started)
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


def router_uses_kv_events(started: StartedEnvironment) -> bool:
    """The frontend routes with the KV router and reads the workers' KV events."""
    command = started.stack.commands[started.frontend]
    argv = command.argv
    mode = command.env.get("DYN_ROUTER_MODE")
    if "--router-mode" in argv:
        mode = argv[argv.index("--router-mode") + 1]
    return mode == "kv" and not ({"--no-router-kv-events", "--no-kv-events"} & set(argv))


def long_prompt(tokens: int) -> list[dict[str, str]]:
    """A user message of about `tokens` tokens of the tiny tokenizer (one per word)."""
    words = " ".join(f"w{100 + i % 3900}" for i in range(tokens))
    return [{"role": "user", "content": words}]


def block_size(started: StartedEnvironment) -> int:
    """The KV block size the workers run with (the mocker's default 64 if unset)."""
    for names in started.workers.values():
        for name in names:
            argv = started.stack.commands[name].argv
            if "--block-size" in argv:
                return int(argv[argv.index("--block-size") + 1])
    return 64


@dataclass
class KvEvents:
    """What the frontend's /metrics says about the workers' KV events (see
    docs/dynamo-1x-runtime.md, "KV events")."""

    stored: float
    """``dynamo_component_kv_cache_events_applied{event_type="stored",status="ok"}``."""
    workers_without: float
    """``dynamo_component_router_kv_event_source_mismatch_workers`` (summed)."""
    sources_active: float
    """``dynamo_component_router_kv_zmq_ingress_sources{state="active"}`` (summed)."""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (Prometheus text format)."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        found = dict(_LABEL.findall(match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def kv_events(started: StartedEnvironment) -> KvEvents:
    status, raw = http_get(started.stack.commands[started.frontend].url("http", "/metrics"))
    if status != 200:
        raise AssertionError(f"frontend /metrics answered {status}")
    text = raw.decode()
    return KvEvents(
        stored=metric_sum(text, "dynamo_component_kv_cache_events_applied",
                          event_type="stored", status="ok"),
        workers_without=metric_sum(
            text, "dynamo_component_router_kv_event_source_mismatch_workers"),
        sources_active=metric_sum(text, "dynamo_component_router_kv_zmq_ingress_sources",
                                  state="active"),
    )


def check_kv_events(started: StartedEnvironment, timeout: float = 60.0) -> KvEvents:
    """Send a request longer than three KV blocks; wait until the router has stored blocks
    from the workers' KV events. Raises AssertionError when it has not within `timeout`, or
    when a serving worker publishes none."""
    client = OpenAIClient(started.stack.commands[started.frontend].url("http"), timeout=30.0)
    client.chat(started.served_model_name, long_prompt(3 * block_size(started) + 10),
                max_tokens=2)
    deadline = time.monotonic() + timeout
    while (events := kv_events(started)).stored <= 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"the router received no KV events within {timeout} s: {events}")
        time.sleep(0.2)
    if events.workers_without:
        raise AssertionError(f"workers without KV events: {events}")
    return events


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
