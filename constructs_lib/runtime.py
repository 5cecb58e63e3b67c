"""What the Dynamo 1.x components of one deployment share: the runtime they talk over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model.dynamo_v1 import V1_IMAGE, RuntimeSettings
from .model.environment import Image
from .workload import DynamoWorkloadProps

if TYPE_CHECKING:
    from .kubernetes_discovery import KubernetesDiscovery


@dataclass(frozen=True, kw_only=True)
class RuntimeWorkloadProps(DynamoWorkloadProps):
    """The props of every Dynamo 1.x workload: its image and the runtime planes."""

    image: Image = V1_IMAGE
    """Default: nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1."""
    runtime: RuntimeSettings = RuntimeSettings()
    """The Dynamo namespace, discovery and the request and event planes; every component of
    one deployment must agree on them. Default: etcd discovery, tcp requests, zmq events."""
    kubernetes_discovery: KubernetesDiscovery | None = None
    """Needed with `runtime.discovery` kubernetes: the pods run as its ServiceAccount,
    whose Role lets the runtime watch EndpointSlices and write DynamoWorkerMetadata, and a
    worker pool's pods carry the label its headless Service selects, so that the frontend sees
    them once ready. No etcd is needed then (`dependencies` may still bring NATS). Default:
    none (etcd discovery)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kubernetes_discovery is not None and self.runtime.discovery != "kubernetes":
            raise ValueError(f"kubernetes_discovery given, but runtime.discovery is "
                             f"{self.runtime.discovery}: the pods would not use it; set "
                             "runtime=RuntimeSettings(discovery='kubernetes'), or remove it")

    @property
    def discovers_through_etcd(self) -> bool:
        return self.runtime.needs_etcd

    @property
    def dynamo_namespace(self) -> str:
        """DYN_NAMESPACE: the runtime's, or the full name."""
        return self.runtime.dynamo_namespace or self.full_name


class RuntimeComponent:
    """What the Dynamo 1.x workloads know of their runtime planes (mixed into FrontendDeployment
    and WorkerPool)."""

    runtime: RuntimeSettings
    """The runtime planes."""
    kubernetes_discovery: KubernetesDiscovery | None
    """The ServiceAccount, RBAC and Service of kubernetes discovery; None with etcd discovery."""

    @property
    def needs_nats(self) -> bool:
        """The pods use NATS: a runtime plane is nats."""
        return self.runtime.needs_nats

    @property
    def needs_etcd(self) -> bool:
        """The pods find each other through etcd (not with kubernetes discovery)."""
        return self.runtime.needs_etcd

    @property
    def nats_use(self) -> str:
        """The planes that use NATS, to say why it is needed."""
        planes = [f"the {plane} plane" for plane, value in (
            ("request", self.runtime.request_plane), ("event", self.runtime.event_plane))
            if value == "nats"]
        return " and ".join(planes) + " (nats)"
