"""Pods that run Dynamo 1.x: `python3 -m dynamo.frontend` and `python3 -m dynamo.vllm`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..model.dynamo_v1 import (
    KvEventsSettings,
    KvTransferSettings,
    PodResources,
    RouterSettings,
    RuntimeProbes,
    RuntimeSettings,
)
from ..model.environment import ModelVolume, Resources
from ..model.hardening import ResourceDefaults, SharedMemorySettings
from ..workload import DynamoWorkloadProps
from . import discovery as _discovery
from .escape_hatches import GPU_RESOURCE, add_extended_resource
from .pod_hardening import debug_env, harden_pod, restrict
from .sizing import container_resources, shared_memory_size

HTTP_PORT_NAME = "http"
SYSTEM_PORT_NAME = "system"
KV_EVENTS_TOPIC = "kv-events"


def _with_scheme(endpoints: str) -> str:
    return ",".join(e if "://" in e else f"http://{e}" for e in endpoints.split(",") if e)


# Dynamo 1.x reads the PEM contents from these variables, not file paths.
ETCD_TLS_KEYS = {"ETCD_AUTH_CA": "ca.crt", "ETCD_AUTH_CLIENT_CERT": "tls.crt",
                 "ETCD_AUTH_CLIENT_KEY": "tls.key"}


def etcd_tls_env(secret: str | None) -> list[dict[str, Any]]:
    """The client certificate for an etcd with mutual TLS, from its kubernetes.io/tls Secret."""
    if secret is None:
        return []
    return [{"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for variable, key in ETCD_TLS_KEYS.items()]


def runtime_env(props: DynamoWorkloadProps, runtime: RuntimeSettings) -> list[dict[str, Any]]:
    """How a component finds the others: its Dynamo namespace, discovery (through etcd, or the
    Kubernetes API as the pod it is), and the request and event planes (NATS only when one of
    them uses it)."""
    if runtime.needs_etcd:
        found_by = [{"name": "ETCD_ENDPOINTS", "value": _with_scheme(props.etcd_endpoints or "")},
                    *etcd_tls_env(props.etcd_client_tls_secret)]
    else:
        found_by = _discovery.pod_env()
    env: list[dict[str, Any]] = [
        {"name": "DYN_NAMESPACE", "value": runtime.dynamo_namespace or props.full_name},
        {"name": "DYN_DISCOVERY_BACKEND", "value": runtime.discovery},
        *found_by,
        {"name": "DYN_REQUEST_PLANE", "value": runtime.request_plane},
        {"name": "DYN_EVENT_PLANE", "value": runtime.event_plane},
    ]
    if runtime.needs_nats:
        env.append({"name": "NATS_SERVER", "value": props.nats_url or ""})
    return env


def dependency_env(props: DynamoWorkloadProps, runtime: RuntimeSettings) -> list[dict[str, str]]:
    """What the wait for the dependencies reads: the same endpoints as the runtime, and never
    the client key (it only checks that an https etcd accepts a connection). Empty when the
    pods use neither etcd nor NATS: the API server of kubernetes discovery is always there."""
    env = []
    if runtime.needs_nats:
        env.append({"name": "NATS_SERVER", "value": props.nats_url or ""})
    if runtime.needs_etcd:
        env.append({"name": "ETCD_ENDPOINTS", "value": _with_scheme(props.etcd_endpoints or "")})
    return env


def _http_probe(path: str, port: str, *, period: int, timeout: int,
                failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def probes(settings: RuntimeProbes, port: str, *,
           readiness: dict[str, Any] | None = None) -> dict[str, Any]:
    """/live answers while the process serves its port and is not wedged; /health once it can
    do its work. The startup probe holds the others off for up to `startup_timeout_seconds`
    (a worker loads its weights meanwhile). `readiness` replaces the /health check."""
    if not settings.enabled:
        return {}
    ready = readiness or {"httpGet": {"path": "/health", "port": port}}
    return {
        "startupProbe": _http_probe("/live", port, period=10, timeout=5,
                                    failures=math.ceil(settings.startup_timeout_seconds / 10)),
        "livenessProbe": _http_probe("/live", port, period=settings.liveness_period_seconds,
                                     timeout=settings.liveness_timeout_seconds,
                                     failures=settings.liveness_failure_threshold),
        "readinessProbe": {**ready, "periodSeconds": settings.readiness_period_seconds,
                           "timeoutSeconds": 4, "failureThreshold": 3},
    }


def frontend_arguments(*, http_port: int, router: RouterSettings,
                       migration_limit: int) -> list[str]:
    args = ["--http-port", str(http_port), "--router-mode", router.mode]
    if router.mode == "kv" and not router.kv_events:
        args.append("--no-router-kv-events")
    return [*args, "--migration-limit", str(migration_limit)]


def frontend_container(props: DynamoWorkloadProps, *, runtime: RuntimeSettings, http_port: int,
                       router: RouterSettings, migration_limit: int, served_model_name: str,
                       resources: PodResources, probe_settings: RuntimeProbes,
                       resource_defaults: ResourceDefaults) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "frontend",
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": ["python3", "-m", "dynamo.frontend"],
        "args": frontend_arguments(http_port=http_port, router=router,
                                   migration_limit=migration_limit),
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": http_port, "protocol": "TCP"}],
        "env": runtime_env(props, runtime) + debug_env(props),
        # /health answers 200 before any worker registered; /v1/models/<name>/ready answers 200
        # only once workers of every role the model needs serve it (404 or 503 before).
        **probes(probe_settings, HTTP_PORT_NAME, readiness={"httpGet": {
            "path": f"/v1/models/{served_model_name}/ready", "port": HTTP_PORT_NAME}}),
        "resources": container_resources(
            Resources(requests=resources.requests, limits=resources.limits), resource_defaults),
    }
    restrict(container, props)
    return container


def kv_transfer_config(settings: KvTransferSettings) -> str:
    # Both sides of a NIXL transfer produce and consume KV blocks.
    return json.dumps({"kv_connector": settings.connector, "kv_role": "kv_both"},
                      separators=(",", ":"))


def kv_events_config(settings: KvEventsSettings) -> str:
    # The engine publishes to dynamo.vllm's relay in the same pod, which forwards the events on
    # the event plane: the port need not leave the pod, so it binds loopback only.
    return json.dumps({"publisher": "zmq", "topic": KV_EVENTS_TOPIC,
                       "endpoint": f"tcp://127.0.0.1:{settings.port}",
                       "enable_kv_cache_events": True}, separators=(",", ":"))


def worker_arguments(*, model_path: str, served_model_name: str, mode: str,
                     engine: Sequence[str], kv_transfer: KvTransferSettings | None,
                     kv_events: KvEventsSettings | None) -> list[str]:
    """`python3 -m dynamo.vllm` arguments: the model, the role, the KV transfer and events the
    library manages, then the pool's engine arguments."""
    args = ["--model", model_path, "--served-model-name", served_model_name,
            "--disaggregation-mode", mode]
    if kv_transfer is not None:
        args += ["--kv-transfer-config", kv_transfer_config(kv_transfer)]
    if kv_events is not None:
        args += ["--kv-events-config", kv_events_config(kv_events)]
    return [*args, *engine]


def worker_container(props: DynamoWorkloadProps, *, runtime: RuntimeSettings,
                     arguments: list[str], gpus: int, resources: PodResources,
                     probe_settings: RuntimeProbes, shared_memory: SharedMemorySettings,
                     resource_defaults: ResourceDefaults, model_volume: ModelVolume,
                     extra_env: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    port = runtime.system_port
    ports = [{"name": SYSTEM_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    container: dict[str, Any] = {
        "name": "worker",
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": ["python3", "-m", "dynamo.vllm"],
        "args": arguments,
        "ports": ports,
        "env": [
            *runtime_env(props, runtime),
            {"name": "DYN_SYSTEM_PORT", "value": str(port)},
            {"name": "DYN_HEALTH_CHECK_ENABLED", "value": str(runtime.health_checks).lower()},
            *(dict(e) for e in extra_env),
            *debug_env(props),
        ],
        **probes(probe_settings, SYSTEM_PORT_NAME),
        "resources": container_resources(
            Resources(gpus=gpus, requests=resources.requests, limits=resources.limits),
            resource_defaults, shared_memory_size(shared_memory, gpus)),
    }
    if gpus:
        add_extended_resource(container, GPU_RESOURCE, gpus)
    mounts: list[dict[str, Any]] = []
    if model_volume.enabled:
        mounts.append({"name": "model-pvc", "mountPath": model_volume.mount_path,
                       "readOnly": True})
    mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    container["volumeMounts"] = mounts
    restrict(container, props)
    return container


def pod_template(props: DynamoWorkloadProps, *, labels: Mapping[str, str],
                 annotations: Mapping[str, str], container: dict[str, Any],
                 selector: Mapping[str, str], runtime: RuntimeSettings,
                 termination_grace_period_seconds: int,
                 worker: tuple[int, SharedMemorySettings, ModelVolume] | None = None,
                 service_account: str | None = None) -> dict[str, Any]:
    """The pod template; `worker` (GPUs, /dev/shm settings, model volume) for a worker pod;
    `service_account` for pods that call the Kubernetes API (kubernetes discovery), which then
    mount its token."""
    spec: dict[str, Any] = {}
    if props.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in props.image_pull_secrets]
    spec["containers"] = [container]
    if worker is not None:
        gpus, shared_memory, model_volume = worker
        volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {
            "medium": "Memory", "sizeLimit": shared_memory_size(shared_memory, gpus)}}]
        if model_volume.enabled:
            volumes.append({"name": "model-pvc", "persistentVolumeClaim": {
                "claimName": model_volume.claim_name, "readOnly": True}})
        spec["volumes"] = volumes
    spec["terminationGracePeriodSeconds"] = termination_grace_period_seconds
    harden_pod(spec, props, dependency_env=dependency_env(props, runtime), selector=selector)
    if service_account is not None:
        spec["serviceAccountName"] = service_account
        # The runtime authenticates to the API server with the token.
        spec["automountServiceAccountToken"] = True
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": spec}
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    if worker is not None and props.rdma is not None:
        props.rdma.apply(template, kv_transfer=True)
    return template
