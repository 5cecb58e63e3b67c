"""Hand-written container dicts that follow the synthesized Dynamo 1.x contract, for the unit
tests of the translation (the end-to-end tests read the real YAML).

As the 1.x Deployments run them: tcp request plane, zmq event plane, no NATS (``NATS`` stays
for the NATS rules and the fallback), ``DYN_HEALTH_CHECK_ENABLED``, RDMA host variables from
``status.podIP``, KV events from the prefill worker, the frontend's readiness on
``/v1/models/<served name>/ready``. Release ``rel`` in namespace ``e2e``.
"""

from __future__ import annotations

import copy
from typing import Any

from constructs_lib._render import multinode
from constructs_lib.model.dynamo_v1 import RuntimeProbes
from constructs_lib.model.hardening import UpdateStrategy

RELEASE = "rel"
NAMESPACE = "e2e"
DYN_NAMESPACE = "e2e-rel"
MODEL_PATH = "/data/some/model"
SERVED_MODEL_NAME = "some/model"

ETCD_SERVICE = f"{RELEASE}-etcd"
NATS_SERVICE = f"{RELEASE}-nats"

# Service name -> the container port it targets (same number as the Service port).
ETCD_SERVICES = {ETCD_SERVICE: 2379}
NATS_SERVICES = {NATS_SERVICE: 4222}

Container = dict[str, Any]


def _env(**values: str) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def _http_probe(path: str, port: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": 10}


DEPENDENCY_ENV = _env(
    DYN_NAMESPACE=DYN_NAMESPACE,
    DYN_DISCOVERY_BACKEND="etcd",
    ETCD_ENDPOINTS=f"http://{ETCD_SERVICE}:2379",
    DYN_REQUEST_PLANE="tcp",
    DYN_EVENT_PLANE="zmq",
)


def _pod_ip(name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}

_headless = f"{ETCD_SERVICE}-headless.{NAMESPACE}.svc.cluster.local"

ETCD: Container = {
    "name": "etcd",
    "image": "quay.io/coreos/etcd:v3.5.21",
    "command": ["etcd"],
    "args": [
        "--name=$(POD_NAME)",
        "--data-dir=/var/lib/etcd/data",
        "--listen-client-urls=http://0.0.0.0:2379",
        f"--advertise-client-urls=http://$(POD_NAME).{_headless}:2379",
        "--listen-peer-urls=http://0.0.0.0:2380",
        f"--initial-advertise-peer-urls=http://$(POD_NAME).{_headless}:2380",
        f"--initial-cluster={RELEASE}-etcd-0=http://{RELEASE}-etcd-0.{_headless}:2380",
        "--initial-cluster-state=new",
        "--auto-compaction-retention=1",
    ],
    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "ports": [
        {"name": "client", "containerPort": 2379},
        {"name": "peer", "containerPort": 2380},
    ],
    "readinessProbe": _http_probe("/health", "client"),
}

NATS_CONFIG = """\
port: 4222
http_port: 8222
server_name: $SERVER_NAME
pid_file: "/var/run/nats/nats.pid"
lame_duck_duration: 30s
jetstream {
  store_dir: /data
  max_memory_store: 256MB
  max_file_store: 1GB
}
"""

NATS: Container = {
    "name": "nats",
    "image": "nats:2.10-alpine",
    "command": ["nats-server", "--config", "/etc/nats-config/nats.conf"],
    "env": [{"name": "SERVER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "ports": [
        {"name": "client", "containerPort": 4222},
        {"name": "monitor", "containerPort": 8222},
    ],
    "livenessProbe": _http_probe("/healthz?js-enabled-only=true", "monitor"),
    "readinessProbe": _http_probe("/healthz?js-server-only=true", "monitor"),
}

FRONTEND: Container = {
    "name": "frontend",
    "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1",
    "command": ["python3", "-m", "dynamo.frontend"],
    "args": ["--http-port", "8000", "--router-mode", "kv", "--migration-limit", "3"],
    "env": [*DEPENDENCY_ENV, *_env(DYN_HTTP_PORT="8000")],
    "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
    "startupProbe": _http_probe("/live", "http"),
    "livenessProbe": _http_probe("/live", "http"),
    "readinessProbe": _http_probe(f"/v1/models/{SERVED_MODEL_NAME}/ready", "http"),
}

_KV_TRANSFER = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
KV_EVENTS = ('{"publisher":"zmq","topic":"kv-events","endpoint":"tcp://127.0.0.1:20080",'
             '"enable_kv_cache_events":true}')


def _worker_args(mode: str) -> list[str]:
    args = [
        "--model", MODEL_PATH,
        "--served-model-name", SERVED_MODEL_NAME,
        "--disaggregation-mode", mode,
        "--tensor-parallel-size", "4",
        "--block-size", "64",
        "--max-model-len", "16384",
        "--kv-transfer-config", _KV_TRANSFER,
        "--gpu-memory-utilization", "0.9",
        "--enforce-eager",
        "--max-num-seqs", "64",
    ]  # fmt: skip
    if mode != "decode":
        args += ["--kv-events-config", KV_EVENTS]
    return args


def worker(mode: str) -> Container:
    """A ``dynamo.vllm`` worker container; ``mode`` is ``decode``, ``prefill`` or ``agg``
    (prefill and agg publish KV events)."""
    return {
        "name": "main",
        "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1",
        "command": ["python3", "-m", "dynamo.vllm"],
        "args": _worker_args(mode),
        "env": [
            *DEPENDENCY_ENV,
            *_env(DYN_SYSTEM_PORT="9090", DYN_HEALTH_CHECK_ENABLED="true"),
            _pod_ip("DYN_TCP_RPC_HOST"),
            _pod_ip("DYN_EVENT_PLANE_HOST"),
        ],
        "ports": [{"name": "system", "containerPort": 9090, "protocol": "TCP"}],
        "startupProbe": _http_probe("/live", "system"),
        "livenessProbe": _http_probe("/live", "system"),
        "readinessProbe": _http_probe("/health", "system"),
        "resources": {"limits": {"nvidia.com/gpu": "4"}},
    }


DECODE = worker("decode")
PREFILL = worker("prefill")


def group(mode: str = "prefill", size: int = 2, replicas: int = 1) -> dict[str, Any]:
    """A LeaderWorkerSet of ``replicas`` groups of ``size`` pods running one ``mode`` worker
    each, wired as the library wires them (constructs_lib._render.multinode): the leader with
    the Dynamo runtime, system and master ports and probes; headless followers that wait for
    the leader's master port and whose liveness asks the leader's system port."""
    lead = worker(mode)
    lead["args"] = [*_worker_args(mode), *multinode.arguments(size, leader=True)]
    lead["ports"] = [*lead["ports"], {"name": multinode.MASTER_PORT_NAME,
                                      "containerPort": multinode.MASTER_PORT}]
    follower = multinode.follower_container(
        lead, args=[*_worker_args(mode), *multinode.arguments(size, leader=False)],
        system_port=9090, probes=RuntimeProbes())
    labels = {"app.kubernetes.io/dynamo-component": mode}
    wait = multinode.wait_for_leader(image=lead["image"], pull_policy="IfNotPresent",
                                     timeout_seconds=7200)
    return copy.deepcopy(multinode.leader_worker_set(
        f"{RELEASE}-{mode}", NAMESPACE, labels, replicas=replicas, size=size,
        leader={"metadata": {"labels": labels}, "spec": {"containers": [lead]}},
        worker={"metadata": {"labels": labels},
                "spec": {"initContainers": [wait], "containers": [follower]}},
        update_strategy=UpdateStrategy()))


def group_containers(lws: dict[str, Any]) -> tuple[Container, Container]:
    """The leader's and the followers' worker containers of :func:`group` (to edit in place)."""
    spec = lws["spec"]["leaderWorkerTemplate"]
    return (spec["leaderTemplate"]["spec"]["containers"][0],
            spec["workerTemplate"]["spec"]["containers"][0])
