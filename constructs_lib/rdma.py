"""RdmaPolicy: Tencent TKE's RDMA networking for any pod template."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from ._escape_hatches import TKE_SHARED_RDMA_RESOURCE, add_capabilities, add_extended_resource
from .model.environment import NetworkMode

NETWORKS_ANNOTATION = "tke.cloud.tencent.com/networks"
RDMA_NETWORK = "tke-rdma-ipvlan"


@dataclass(frozen=True, kw_only=True)
class RdmaPolicyProps:
    network_mode: NetworkMode = "tke-route-eni"
    """The pod's primary TKE network, to which the RDMA ipvlan network is added.
    Default: tke-route-eni."""
    host_network: bool = True
    """Run in the node's network namespace, with DNS that still resolves cluster Services.
    Default: true."""

    def __post_init__(self) -> None:
        if self.network_mode not in ("tke-route-eni", "tke-bridge"):
            raise ValueError(
                f"network_mode must be 'tke-route-eni' or 'tke-bridge', got {self.network_mode!r}"
            )


class RdmaPolicy(Construct):
    """Applies TKE RDMA to pod templates: the networks annotation, one shared RDMA device per
    container, IPC_LOCK (RDMA pins memory), and optionally the host network."""

    def __init__(self, scope: Construct, id: str, props: RdmaPolicyProps | None = None) -> None:
        super().__init__(scope, id)
        self.props = props or RdmaPolicyProps()

    @property
    def networks_annotation(self) -> str:
        """The value of the `tke.cloud.tencent.com/networks` pod annotation."""
        return f"{self.props.network_mode},{RDMA_NETWORK}"

    def apply(self, pod_template: dict[str, Any], containers: Iterable[str] | None = None) -> None:
        """Change `pod_template` (a PodTemplateSpec as a dict) in place.

        `containers` names the containers that use RDMA. Default: the first container.
        """
        metadata = pod_template.setdefault("metadata", {})
        metadata.setdefault("annotations", {})[NETWORKS_ANNOTATION] = self.networks_annotation
        spec = pod_template["spec"]
        wanted = set(containers) if containers is not None else {spec["containers"][0]["name"]}
        for container in spec["containers"]:
            if container["name"] in wanted:
                add_extended_resource(container, TKE_SHARED_RDMA_RESOURCE, 1)
                add_capabilities(container, "IPC_LOCK")
        if self.props.host_network:
            spec["hostNetwork"] = True
            spec["dnsPolicy"] = "ClusterFirstWithHostNet"
