"""Props shared by the Dynamo workloads, and the labels that tie their objects together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdk8s import ApiObject
from constructs import Construct

from ._render.k8s import emit
from ._render.scheduling import disruption_budget, strategy
from .model.base import MAX_ANNOTATION_BYTES, MAX_REPLICAS, annotation_bytes
from .model.environment import Generation, Image, ModelVolume
from .model.hardening import (
    DependencyWaitSettings,
    DisruptionBudgetSettings,
    PlacementSettings,
    ProbeSettings,
    ResourceDefaults,
    SecuritySettings,
    SharedMemorySettings,
    UpdateStrategy,
)
from .model.naming import MANAGED_BY
from .rdma import NETWORKS_ANNOTATION, RdmaPolicy

DEFAULT_IMAGE = Image(repository="tkeai.tencentcloudcr.com/tke-ai-playbook/dynamo",
                      tag="v0.1.1-20250415")
COMPONENT_LABEL = "app.kubernetes.io/dynamo-component"


def check_workload(props: DynamoWorkloadProps, *, replicas: int, generation: Generation) -> None:
    """What the props of every Dynamo workload must satisfy, whatever its role."""
    if generation is Generation.V0_1 and props.etcd_client_tls_secret:
        raise ValueError("Dynamo v0.1 has no etcd TLS client: etcd_client_tls_secret needs "
                         "generation 1.x")
    if not 0 <= replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be at least 0 and at most {MAX_REPLICAS}, got {replicas}")
    annotations = {**props.pod_annotations, **getattr(props, "annotations", {})}
    if props.rdma is not None:
        annotations[NETWORKS_ANNOTATION] = props.rdma.networks_annotation
    if annotation_bytes(annotations) > MAX_ANNOTATION_BYTES:
        raise ValueError(f"the pod annotations take {annotation_bytes(annotations)} bytes; the "
                         f"API server accepts at most {MAX_ANNOTATION_BYTES}")


@dataclass(frozen=True, kw_only=True)
class DynamoWorkloadProps:
    """What every Dynamo pod of one release shares."""

    release: str
    """The release name: the `app.kubernetes.io/instance` label."""
    full_name: str
    """Prefix of the resource names (the seed chart's `dynamo.fullname`)."""
    etcd_endpoints: str
    """ETCD_ENDPOINTS of the pods, e.g. `DependencyStack.etcd_endpoints`."""
    nats_url: str
    """NATS_SERVER of the pods, e.g. `DependencyStack.nats_url`."""
    etcd_client_tls_secret: str | None = None
    """Secret (kubernetes.io/tls: ca.crt, tls.crt, tls.key) of the client certificate the pods
    present to an etcd with mutual TLS, e.g. `DependencyStack.etcd_client_tls_secret`; Dynamo
    1.x only. Default: none (etcd speaks plain HTTP)."""
    namespace: str | None = None
    """Default: the chart's namespace."""
    app_name: str = "dynamo"
    """The `app.kubernetes.io/name` label. Default: dynamo."""
    image: Image = DEFAULT_IMAGE
    """Default: the seed's Dynamo v0.1.1 image."""
    image_pull_secrets: Sequence[str] = ()
    """Default: none."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to every pod (and to Service selectors). Default: none."""
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    """Default: none."""
    model_volume: ModelVolume | None = ModelVolume()
    """The claim holding the weights. Default: claim `ai-model` mounted at /data."""
    rdma: RdmaPolicy | None = None
    """Default: no RDMA."""
    probes: ProbeSettings = ProbeSettings()
    """Default: a one-hour startup budget, readiness once the pod can serve, lenient liveness."""
    update_strategy: UpdateStrategy = UpdateStrategy()
    """Default: Recreate."""
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    """Default: a PodDisruptionBudget allowing one disruption, for two or more replicas."""
    shared_memory: SharedMemorySettings = SharedMemorySettings()
    """Default: 2Gi of /dev/shm per GPU."""
    resource_defaults: ResourceDefaults = ResourceDefaults()
    """CPU and memory where `resources` leave them out. Default: per GPU, 4 CPUs and 16Gi
    requested, 16 CPUs and 32Gi (plus /dev/shm) limit."""
    placement: PlacementSettings = PlacementSettings()
    """Default: any node; one release pod per node with the host network, spread otherwise."""
    security: SecuritySettings = SecuritySettings()
    """Default: every capability dropped, RuntimeDefault seccomp, no service account token."""
    dependency_wait: DependencyWaitSettings = DependencyWaitSettings()
    """Default: an init container waits up to 600 s for etcd and NATS."""
    debug: bool = False
    """DYN_LOG=debug and NCCL_DEBUG=INFO. Default: false."""

    def selector_labels(self, component: str) -> dict[str, str]:
        """The labels a Deployment selects its pods by; identical to the seed chart's."""
        return {
            "app.kubernetes.io/name": self.app_name,
            "app.kubernetes.io/instance": self.release,
            COMPONENT_LABEL: component,
        }

    def object_labels(self, component: str) -> dict[str, str]:
        return {**self.selector_labels(component), **MANAGED_BY}

    @property
    def release_labels(self) -> dict[str, str]:
        """The labels every Dynamo pod of this release carries, whatever its component."""
        return {"app.kubernetes.io/name": self.app_name, "app.kubernetes.io/instance": self.release}


def deployment(name: str, namespace: str | None, labels: Mapping[str, str],
               selector: Mapping[str, str], replicas: int,
               pod_template: dict[str, Any],
               update_strategy: UpdateStrategy = UpdateStrategy()) -> dict[str, Any]:
    """A GPU Deployment: `Recreate` by default, because a rolling update needs GPUs a full
    cluster lacks."""
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "strategy": strategy(update_strategy),
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": pod_template,
        },
    }


def emit_deployment(scope: Construct, props: DynamoWorkloadProps, *, name: str,
                    labels: Mapping[str, str], selector: Mapping[str, str], replicas: int,
                    pod_template: dict[str, Any]) -> tuple[ApiObject, ApiObject | None]:
    """A workload's Deployment and, when its settings call for one, its PodDisruptionBudget."""
    created = emit(scope, "Deployment", deployment(
        name, props.namespace, labels, selector, replicas, pod_template, props.update_strategy))
    budget = disruption_budget(name, props.namespace, labels, selector, replicas,
                               props.disruption_budget)
    return created, emit(scope, "DisruptionBudget", budget) if budget else None
