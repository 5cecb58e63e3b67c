"""Pods that run Dynamo 1.x: `python3 -m dynamo.frontend` and `python3 -m dynamo.vllm`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ..model.environment import Resources, V1Settings
from ..model.hardening import ProbeSettings
from ..workload import DynamoWorkloadProps
from .escape_hatches import GPU_RESOURCE, add_extended_resource
from .pod_hardening import debug_env, harden_pod, restrict
from .sizing import container_resources, shared_memory_size

HTTP_PORT_NAME = "http"
SYSTEM_PORT_NAME = "system"

# Keys of the v0.1 configuration that are not passed through as vLLM flags. v0.1 scheduled
# remote prefill itself (remote-prefill, conditional-disagg, queue sizes) and ran its own
# Processor and Router; in 1.x the role is `--disaggregation-mode` and routing belongs to the
# frontend. vLLM logs no requests by default any more and deprecated --disable-log-requests.
# The model, its served name and the KV connector are written explicitly.
_NOT_PASSED_THROUGH = {
    "remote-prefill", "conditional-disagg", "max-local-prefill-length", "max-prefill-queue-size",
    "router", "min-workers", "ServiceArgs", "common-configs", "served-model-name",
    "disable-log-requests", "kv-transfer-config", "model",
}
# vLLM flags declared with argparse.BooleanOptionalAction take `--no-<flag>` for false.
_BOOLEAN_OPTIONAL = {"enable-prefix-caching", "enable-chunked-prefill"}


def disaggregation_mode(role: str, disaggregated: bool) -> str:
    return role if disaggregated else "agg"


def engine_arguments(engine: Mapping[str, Any], *, served_model_name: str | None, mode: str,
                     kv_connector: str) -> list[str]:
    """`python3 -m dynamo.vllm` arguments from a worker's effective v0.1 settings."""
    args = ["--model", str(engine.get("model", ""))]
    if served_model_name:
        args += ["--served-model-name", served_model_name]
    args += ["--disaggregation-mode", mode]
    for key, value in engine.items():
        if key in _NOT_PASSED_THROUGH:
            continue
        if isinstance(value, bool):
            if value:
                args.append(f"--{key}")
            elif key in _BOOLEAN_OPTIONAL:
                args.append(f"--no-{key}")
        elif isinstance(value, list):
            args += [f"--{key}", *(str(v) for v in value)]
        else:
            args += [f"--{key}", str(value)]
    if mode != "agg":
        # Both sides of a NIXL transfer produce and consume KV blocks.
        args += ["--kv-transfer-config",
                 json.dumps({"kv_connector": kv_connector, "kv_role": "kv_both"},
                            separators=(",", ":"))]
    return args


def runtime_env(props: DynamoWorkloadProps, settings: V1Settings,
                full_name: str) -> list[dict[str, Any]]:
    return [
        {"name": "DYN_NAMESPACE", "value": settings.dynamo_namespace or full_name},
        # Plain manifests have no NVIDIA operator, so discovery goes through etcd.
        {"name": "DYN_DISCOVERY_BACKEND", "value": "etcd"},
        {"name": "ETCD_ENDPOINTS", "value": _with_scheme(props.etcd_endpoints or "")},
        *etcd_tls_env(props.etcd_client_tls_secret),
        {"name": "NATS_SERVER", "value": props.nats_url or ""},
    ]


# Dynamo 1.x reads the PEM contents from these variables, not file paths.
ETCD_TLS_KEYS = {"ETCD_AUTH_CA": "ca.crt", "ETCD_AUTH_CLIENT_CERT": "tls.crt",
                 "ETCD_AUTH_CLIENT_KEY": "tls.key"}


def etcd_tls_env(secret: str | None) -> list[dict[str, Any]]:
    """The client certificate for an etcd with mutual TLS, from its kubernetes.io/tls Secret."""
    if secret is None:
        return []
    return [{"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for variable, key in ETCD_TLS_KEYS.items()]


def _with_scheme(endpoints: str) -> str:
    return ",".join(e if "://" in e else f"http://{e}" for e in endpoints.split(","))


def dependency_env(props: DynamoWorkloadProps) -> list[dict[str, str]]:
    """What the wait for etcd and NATS reads: the same endpoints as the runtime, and never the
    client key (it only checks that an https etcd accepts a connection)."""
    return [
        {"name": "NATS_SERVER", "value": props.nats_url or ""},
        {"name": "ETCD_ENDPOINTS", "value": _with_scheme(props.etcd_endpoints or "")},
    ]


def _http_probe(path: str, port: str, *, period: int, failures: int,
                timeout: int = 5) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def probes(settings: ProbeSettings, port: str, *, readiness_period: int) -> dict[str, Any]:
    """/live answers once the process serves its HTTP port and while it is not wedged; /health
    once it can do its work (a frontend: a worker for the model has registered; a worker: its
    `generate` endpoint is up). The startup probe holds the other two off while weights load,
    for up to `startup_timeout_seconds`; liveness allows `liveness_timeout_seconds` of failures,
    so a busy pod is not killed."""
    if not settings.enabled:
        return {}
    return {
        "startupProbe": _http_probe("/live", port, period=10,
                                    failures=math.ceil(settings.startup_timeout_seconds / 10)),
        "livenessProbe": _http_probe("/live", port, period=30,
                                     failures=math.ceil(settings.liveness_timeout_seconds / 30)),
        "readinessProbe": _http_probe("/health", port, period=readiness_period, failures=3),
    }


def frontend_container(props: DynamoWorkloadProps, settings: V1Settings, *, full_name: str,
                       http_port: int, router_mode: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "frontend",
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": ["python3", "-m", "dynamo.frontend"],
        "args": ["--http-port", str(http_port), "--router-mode", router_mode],
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": http_port, "protocol": "TCP"}],
        "env": runtime_env(props, settings, full_name) + debug_env(props),
        # /health answers 200 once a worker for the model has registered: ready to route.
        **probes(props.probes, HTTP_PORT_NAME, readiness_period=5),
        "resources": container_resources(settings.frontend_resources, props.resource_defaults),
    }
    restrict(container, props)
    return container


def worker_container(props: DynamoWorkloadProps, settings: V1Settings, *, name: str,
                     full_name: str, arguments: list[str], resources: Resources,
                     gpus: int) -> dict[str, Any]:
    port = settings.system_port
    container: dict[str, Any] = {
        "name": name,
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": ["python3", "-m", "dynamo.vllm"],
        "args": arguments,
        "ports": [{"name": SYSTEM_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": [
            *runtime_env(props, settings, full_name),
            {"name": "DYN_SYSTEM_ENABLED", "value": "true"},
            {"name": "DYN_SYSTEM_PORT", "value": str(port)},
            # Without it /health stays 503 even when the worker serves (Dynamo 1.6).
            {"name": "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS", "value": '["generate"]'},
            {"name": "DYN_HEALTH_CHECK_ENABLED", "value": "false"},
            *debug_env(props),
        ],
        **probes(props.probes, SYSTEM_PORT_NAME, readiness_period=10),
        "resources": container_resources(resources, props.resource_defaults,
                                         shared_memory_size(props.shared_memory, gpus)),
    }
    if gpus:
        add_extended_resource(container, GPU_RESOURCE, gpus)
    if props.model_volume and props.model_volume.enabled:
        container["volumeMounts"] = [
            {"name": "model-pvc", "mountPath": props.model_volume.mount_path, "readOnly": True},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ]
    else:
        container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    restrict(container, props)
    return container


def pod_template(props: DynamoWorkloadProps, *, labels: Mapping[str, str],
                 annotations: Mapping[str, str], container: dict[str, Any],
                 worker: bool, selector: Mapping[str, str], gpus: int = 0) -> dict[str, Any]:
    """The pod template; `gpus` sizes a worker's /dev/shm, `selector` spreads its Deployment."""
    spec: dict[str, Any] = {}
    if props.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in props.image_pull_secrets]
    spec["containers"] = [container]
    if worker:
        volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {
            "medium": "Memory", "sizeLimit": shared_memory_size(props.shared_memory, gpus)}}]
        if props.model_volume and props.model_volume.enabled:
            volumes.append({"name": "model-pvc", "persistentVolumeClaim": {
                "claimName": props.model_volume.claim_name, "readOnly": True}})
        spec["volumes"] = volumes
    harden_pod(spec, props, dependency_env=dependency_env(props), selector=selector)
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": spec}
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    if worker and props.rdma is not None:
        props.rdma.apply(template)
    return template


def worker_pod_template(props: DynamoWorkloadProps, settings: V1Settings, *,
                        engine: Mapping[str, Any], mode: str, served_model_name: str | None,
                        resources: Resources, labels: Mapping[str, str],
                        selector: Mapping[str, str],
                        annotations: Mapping[str, str]) -> dict[str, Any]:
    """The pod of a 1.x worker pool: one `dynamo.vllm` engine with its role and GPUs."""
    arguments = engine_arguments(engine, served_model_name=served_model_name, mode=mode,
                                 kv_connector=settings.kv_connector)
    container = worker_container(props, settings, name="worker", full_name=props.full_name,
                                 arguments=arguments, resources=resources, gpus=resources.gpus)
    return pod_template(props, labels=labels, annotations=annotations, container=container,
                        worker=True, selector=selector, gpus=resources.gpus)
