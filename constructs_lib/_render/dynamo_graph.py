"""A DynamoGraphDeployment component from a pod template the 1.x constructs emitted.

What is taken out, and why (see also the README, "DynamoGraphDeployment"):

- etcd and NATS: the operator discovers components through Kubernetes (EndpointSlices and its
  DynamoWorkerMetadata resources) and sets `DYN_DISCOVERY_BACKEND`, `DYN_NAMESPACE` (from the
  Kubernetes namespace and the graph's name) and the pod's identity itself. It merges the
  template's variables over its own by name, so the ones that point at the library's etcd and
  NATS or would override its choice go, and so does the init container that waits for etcd.
- The service account token: the pods read the Kubernetes API for discovery, so the template
  no longer turns the token off (`automountServiceAccountToken`); the operator gives the pods a
  service account with the permissions discovery needs, so the one of our own kubernetes
  discovery (`KubernetesDiscovery`, which a graph does not write) is not named either.
- `/dev/shm`: the operator mounts its own shared memory volume (`sharedMemorySize`) and drops
  any other mount at `/dev/shm`; the pod's own size moves there (`"0"`, none, for a pod
  without one, as the frontend's).
- The Dynamo container is renamed `main`, the container the operator merges its defaults
  into. The template's fields win over the operator's (image, command, arguments, resources,
  ports, probes, variables of the same name): the ports keep the operator's names (`http`,
  `system`), and the probes and the canary health checks stay this library's.
- A worker that spans nodes (`multinode.nodeCount`) loses vLLM's multi-node launch flags: the
  operator writes its own for its leader and worker pods (the executor backend they named
  becomes the operator's annotation).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..model.base import quantity_value
from . import v1 as _v1
from . import wait_for_dependencies as _wait
from .escape_hatches import GPU_RESOURCE
from .k8s import Manifest

API_VERSION = "nvidia.com/v1beta1"
KIND = "DynamoGraphDeployment"
MAIN_CONTAINER = "main"
"""The container the operator merges its defaults into."""
SHARED_MEMORY_PATH = "/dev/shm"
EXECUTOR_BACKEND_ANNOTATION = "nvidia.com/vllm-distributed-executor-backend"
# The operator creates one DynamoGraphDeploymentScalingAdapter per component that sets
# `scalingAdapter`, named `<graph>-<lower-cased component name>` (generateAdapterName in
# deploy/operator/internal/controller/dgd_scaling_adapters_reconciler.go), as a v1alpha1 object:
# the adapter CRD's storage version, served by every operator release that has adapters (v1beta1
# only by the newest). Its scale subresource is what KEDA and an HPA scale.
SCALING_ADAPTER_API_VERSION = "nvidia.com/v1alpha1"
SCALING_ADAPTER_KIND = "DynamoGraphDeploymentScalingAdapter"

OPERATOR_ENV = frozenset({
    # Set by the operator; the template's would win over its values.
    "DYN_NAMESPACE", "DYN_DISCOVERY_BACKEND",
    # The library's etcd and NATS, which a graph does not deploy.
    "ETCD_ENDPOINTS", *_v1.ETCD_TLS_KEYS, "NATS_SERVER",
})
"""Variables a component's main container loses in the graph."""

# vLLM's multi-node launch flags, which the operator writes itself for multinode components.
_LAUNCH_FLAGS_WITH_VALUE = ("--nnodes", "--node-rank", "--master-addr", "--master-port",
                            "--distributed-executor-backend")
_LAUNCH_FLAGS = ("--headless",)

# The operator reads the runtime version from the main image's tag when it is a semantic
# version (its runtimeversion package); any other tag needs `runtimeVersionOverride`.
_IDENTIFIER = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER_TAG = re.compile(
    rf"^[vV]?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    rf"(?:-{_IDENTIFIER}(?:\.{_IDENTIFIER})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")


def component(*, name: str, component_type: str, pod_template: Mapping[str, Any],
              replicas: int | None, scaling_adapter: bool, runtime_version: str | None,
              nodes_per_worker: int | None, gpus_per_node: int | None,
              where: str, own_service_account: str | None = None) -> Manifest:
    """One component (`name`, `type`, `replicas`, `podTemplate`, ...) from a copy of the pod
    template a construct emitted. `nodes_per_worker`: as the pool says; else a pod with more
    GPUs than `gpus_per_node` is split over as many nodes as it needs. `where` names the
    construct in errors. `own_service_account`: the library's discovery ServiceAccount, which
    the pods lose for the operator's."""
    template = copy.deepcopy(dict(pod_template))
    spec = template["spec"]
    if own_service_account is not None and spec.get("serviceAccountName") == own_service_account:
        del spec["serviceAccountName"]
    init = [c for c in spec.pop("initContainers", []) if c["name"] != _wait.NAME]
    if init:
        spec["initContainers"] = init
    spec.pop("automountServiceAccountToken", None)
    main = spec["containers"][0]
    main["name"] = MAIN_CONTAINER
    env = [e for e in main.get("env", []) if e["name"] not in OPERATOR_ENV]
    if env:
        main["env"] = env
    else:
        main.pop("env", None)
    shared_memory = _take_shared_memory(spec, main)
    result: Manifest = {"name": name, "type": component_type}
    if replicas is not None:
        result["replicas"] = replicas
    if scaling_adapter:
        result["scalingAdapter"] = {}
    if runtime_version is not None:
        result["runtimeVersionOverride"] = runtime_version
    nodes = nodes_per_worker or _split_over_nodes(main, gpus_per_node, where)
    if nodes > 1:
        result["multinode"] = {"nodeCount": nodes}
        backend = _drop_launch_flags(main)
        if backend:
            template.setdefault("metadata", {}).setdefault("annotations", {})[
                EXECUTOR_BACKEND_ANNOTATION] = backend
    result["sharedMemorySize"] = shared_memory
    result["podTemplate"] = template
    return result


def scaling_adapter_name(graph: str, component: str) -> str:
    """The name of the scaling adapter the operator creates for `component` of `graph`."""
    return f"{graph}-{component.lower()}"


def main_container(component: Mapping[str, Any]) -> Manifest:
    main: Manifest = component["podTemplate"]["spec"]["containers"][0]
    return main


def gpus_of(graph: Mapping[str, Any], adapted: Mapping[str, int] | None = None) -> int:
    """The GPUs a DynamoGraphDeployment manifest requests: replicas x nodes x the
    `nvidia.com/gpu` limits of each pod's containers. A component whose scaling adapter owns
    the replicas counts with its replicas in `adapted` (by component name), else 1 (the
    adapter's first count)."""
    total = 0
    for part in graph["spec"]["components"]:
        containers = part.get("podTemplate", {}).get("spec", {}).get("containers", [])
        per_pod = sum(int(c.get("resources", {}).get("limits", {}).get(GPU_RESOURCE, 0))
                      for c in containers)
        nodes = part.get("multinode", {}).get("nodeCount", 1)
        total += part.get("replicas", (adapted or {}).get(part["name"], 1)) * nodes * per_pod
    return total


def image_has_version(image: str) -> bool:
    """Whether the operator can read the Dynamo runtime version from `image`'s tag."""
    reference = image.split("@", 1)[0]
    slash, colon = reference.rfind("/"), reference.rfind(":")
    return colon > slash and bool(_SEMVER_TAG.match(reference[colon + 1:]))


def _take_shared_memory(spec: Manifest, main: Manifest) -> str:
    """Remove the pod's own `/dev/shm` and return its size ("0" for a pod without one)."""
    mounts = main.get("volumeMounts", [])
    mount = next((m for m in mounts if m["mountPath"] == SHARED_MEMORY_PATH), None)
    if mount is None:
        return "0"
    main["volumeMounts"] = [m for m in mounts if m is not mount]
    if not main["volumeMounts"]:
        del main["volumeMounts"]
    volumes = spec.get("volumes", [])
    volume: Manifest = next((v for v in volumes if v["name"] == mount["name"]), {})
    size = str(volume.get("emptyDir", {}).get("sizeLimit", "0"))
    still_used = any(m["name"] == mount["name"] for c in spec["containers"]
                     for m in c.get("volumeMounts", []))
    if not still_used:
        spec["volumes"] = [v for v in volumes if v["name"] != mount["name"]]
        if not spec["volumes"]:
            del spec["volumes"]
    return size


def _split_over_nodes(main: Manifest, gpus_per_node: int | None, where: str) -> int:
    """The nodes a pod with more GPUs than a node needs (1 when it fits); its GPUs, CPU,
    memory and ephemeral storage are then split evenly, each pod taking a node's share."""
    gpus = int(main.get("resources", {}).get("limits", {}).get(GPU_RESOURCE, 0))
    if gpus_per_node is None or gpus <= gpus_per_node:
        return 1
    nodes = math.ceil(gpus / gpus_per_node)
    if gpus % nodes:
        raise ValueError(f"{where}: {gpus} GPUs per worker do not split evenly over the "
                         f"{nodes} nodes of {gpus_per_node} GPUs they need; use a multiple of "
                         "the nodes' GPUs")
    for kind in ("requests", "limits"):
        quantities = main.get("resources", {}).get(kind, {})
        for resource in (GPU_RESOURCE, "cpu", "memory", "ephemeral-storage"):
            if resource in quantities:
                quantities[resource] = _share(quantities[resource], nodes, resource)
    return nodes


def _share(quantity: int | float | str, parts: int, resource: str) -> int | str:
    """One part of a quantity, rounded up: CPU to millicores, bytes to whole units or bytes."""
    value = Fraction(quantity_value(quantity)).limit_denominator(10**9) / parts
    if value.denominator != 1:
        return f"{math.ceil(value * 1000)}m" if resource == "cpu" else math.ceil(value)
    whole = int(value)
    if isinstance(quantity, str):
        for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if quantity.endswith(unit) and whole % size == 0:
                return f"{whole // size}{unit}"
    return whole


def _drop_launch_flags(main: Manifest) -> str | None:
    """Remove vLLM's multi-node launch flags from the arguments; return the distributed
    executor backend they named, if any."""
    args = list(main.get("args", []))
    kept: list[str] = []
    backend: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        flag, has_value, value = arg.partition("=")
        if flag in _LAUNCH_FLAGS_WITH_VALUE:
            if not has_value:
                value = args[index + 1] if index + 1 < len(args) else ""
                index += 1
            if flag == "--distributed-executor-backend":
                backend = value
        elif arg not in _LAUNCH_FLAGS:
            kept.append(arg)
        index += 1
    if "args" in main:
        main["args"] = kept
    return backend
