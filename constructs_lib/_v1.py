"""Pods that run Dynamo 1.x: `python3 -m dynamo.frontend` and `python3 -m dynamo.vllm`."""

from __future__ import annotations

import json
from typing import Any, Mapping

from ._escape_hatches import GPU_RESOURCE, add_extended_resource
from .model.environment import Resources, V1Settings
from .workload import DynamoWorkloadProps

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


def runtime_env(props: DynamoWorkloadProps, settings: V1Settings, full_name: str) -> list[dict[str, str]]:
    return [
        {"name": "DYN_NAMESPACE", "value": settings.dynamo_namespace or full_name},
        # Plain manifests have no NVIDIA operator, so discovery goes through etcd.
        {"name": "DYN_DISCOVERY_BACKEND", "value": "etcd"},
        {"name": "ETCD_ENDPOINTS", "value": _with_scheme(props.etcd_endpoints)},
        {"name": "NATS_SERVER", "value": props.nats_url},
    ]


def _with_scheme(endpoints: str) -> str:
    return ",".join(e if "://" in e else f"http://{e}" for e in endpoints.split(","))


def _http_probe(path: str, port: str, *, period: int, failures: int, timeout: int = 5) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def frontend_container(props: DynamoWorkloadProps, settings: V1Settings, *, full_name: str,
                       http_port: int, router_mode: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "frontend",
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": ["python3", "-m", "dynamo.frontend"],
        "args": ["--http-port", str(http_port), "--router-mode", router_mode],
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": http_port, "protocol": "TCP"}],
        "env": runtime_env(props, settings, full_name),
        "livenessProbe": _http_probe("/live", HTTP_PORT_NAME, period=10, failures=6),
        # /health answers 200 once a worker for the model has registered: ready to route.
        "readinessProbe": _http_probe("/health", HTTP_PORT_NAME, period=5, failures=3),
    }
    if resources := _rendered(settings.frontend_resources):
        container["resources"] = resources
    return container


def worker_container(props: DynamoWorkloadProps, settings: V1Settings, *, name: str, full_name: str,
                     arguments: list[str], resources: Resources, gpus: int,
                     startup_seconds: int = 7200) -> dict[str, Any]:
    port = settings.system_port
    container: dict[str, Any] = {
        "name": name,
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": ["python3", "-m", "dynamo.vllm"],
        "args": arguments,
        "ports": [{"name": SYSTEM_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": runtime_env(props, settings, full_name) + [
            {"name": "DYN_SYSTEM_ENABLED", "value": "true"},
            {"name": "DYN_SYSTEM_PORT", "value": str(port)},
            # Without it /health stays 503 even when the worker serves (Dynamo 1.6).
            {"name": "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS", "value": '["generate"]'},
            {"name": "DYN_HEALTH_CHECK_ENABLED", "value": "false"},
        ],
        # Loading weights from a network volume takes many minutes: the startup probe holds the
        # other two off until /live answers, for up to `startup_seconds`.
        "startupProbe": _http_probe("/live", SYSTEM_PORT_NAME, period=10,
                                    failures=startup_seconds // 10),
        "livenessProbe": _http_probe("/live", SYSTEM_PORT_NAME, period=10, failures=6),
        "readinessProbe": _http_probe("/health", SYSTEM_PORT_NAME, period=10, failures=3),
    }
    rendered = _rendered(resources)
    if rendered:
        container["resources"] = rendered
    if gpus:
        add_extended_resource(container, GPU_RESOURCE, gpus)
    if props.model_volume and props.model_volume.enabled:
        container["volumeMounts"] = [
            {"name": "model-pvc", "mountPath": props.model_volume.mount_path, "readOnly": True},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ]
    else:
        container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    return container


def _rendered(resources: Resources) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if requests := resources.requests.render():
        rendered["requests"] = requests
    if limits := resources.limits.render():
        rendered["limits"] = limits
    return rendered


def pod_template(props: DynamoWorkloadProps, *, labels: Mapping[str, str],
                 annotations: Mapping[str, str], container: dict[str, Any],
                 worker: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if props.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in props.image_pull_secrets]
    spec["containers"] = [container]
    if worker:
        volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
        if props.model_volume and props.model_volume.enabled:
            volumes.append({"name": "model-pvc", "persistentVolumeClaim": {
                "claimName": props.model_volume.claim_name, "readOnly": True}})
        spec["volumes"] = volumes
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": spec}
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    if worker and props.rdma is not None:
        props.rdma.apply(template)
    return template
