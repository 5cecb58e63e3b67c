"""Pods that run Dynamo v0.1 (`dynamo serve` of a graph, configured by a configs.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..model.environment import Resources
from .escape_hatches import GPU_RESOURCE, add_extended_resource
from .pod_hardening import debug_env, harden_pod, restrict
from .sizing import container_resources, shared_memory_size

if TYPE_CHECKING:
    from ..v0_1._props import ServeWorkloadProps

WORKDIR = "/workspace/examples/llm"
CONFIGS_DIR = f"{WORKDIR}/configs"
GRAPHS_DIR = f"{WORKDIR}/graphs"
SERVE_PORT_NAME = "serve"


def serve_command(target: str) -> tuple[list[str], list[str]]:
    """`dynamo serve` of a graph or component, run from the examples folder it imports from."""
    return ["bash", "-lc"], [f"cd {WORKDIR};\ndynamo serve {target} -f ./configs/configs.yaml\n"]


def dependency_env(props: ServeWorkloadProps) -> list[dict[str, str]]:
    return [
        {"name": "NATS_SERVER", "value": props.nats_url or ""},
        {"name": "ETCD_ENDPOINTS", "value": props.etcd_endpoints or ""},
    ]


def serve_container(props: ServeWorkloadProps, *, name: str, target: str, port: int,
                    resources: Resources, probes: Mapping[str, Any]) -> dict[str, Any]:
    command, args = serve_command(target)
    container: dict[str, Any] = {
        "name": name,
        "image": props.image.reference,
        "imagePullPolicy": props.image.pull_policy,
        "command": command,
        "args": args,
        "ports": [{"name": SERVE_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": dependency_env(props) + debug_env(props),
        **probes,
    }
    container["resources"] = container_resources(
        resources, props.resource_defaults,
        shared_memory_size(props.shared_memory, resources.gpus))
    if resources.gpus:
        add_extended_resource(container, GPU_RESOURCE, resources.gpus)
    mounts = [
        {"name": "configs", "mountPath": CONFIGS_DIR},
        {"name": "graphs", "mountPath": GRAPHS_DIR},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    if props.model_volume and props.model_volume.enabled:
        mounts.append({"name": "model-pvc", "mountPath": props.model_volume.mount_path})
    container["volumeMounts"] = mounts
    restrict(container, props)
    return container


def pod_template(props: ServeWorkloadProps, *, labels: Mapping[str, str],
                 annotations: Mapping[str, str], containers: list[dict[str, Any]],
                 configs_config_map: str, graphs_config_map: str,
                 gpus: int, selector: Mapping[str, str]) -> dict[str, Any]:
    """The pod template; `gpus` sizes /dev/shm, `selector` spreads this Deployment's pods."""
    volumes: list[dict[str, Any]] = [
        {"name": "configs", "configMap": {"name": configs_config_map}},
        {"name": "graphs", "configMap": {"name": graphs_config_map}},
        # NCCL and vLLM's worker processes exchange tensors through /dev/shm; the container
        # runtime's default of 64Mi is far too small, and an unbounded one can take the node's
        # memory.
        {"name": "dshm", "emptyDir": {
            "medium": "Memory", "sizeLimit": shared_memory_size(props.shared_memory, gpus)}},
    ]
    if props.model_volume and props.model_volume.enabled:
        volumes.append({"name": "model-pvc",
                        "persistentVolumeClaim": {"claimName": props.model_volume.claim_name}})
    spec: dict[str, Any] = {}
    if props.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in props.image_pull_secrets]
    spec["containers"] = containers
    spec["volumes"] = volumes
    harden_pod(spec, props, dependency_env=dependency_env(props), selector=selector)
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": spec}
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    if props.rdma is not None:
        props.rdma.apply(template, containers=[containers[0]["name"]])
    return template
