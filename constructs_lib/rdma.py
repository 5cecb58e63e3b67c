"""RdmaPolicy: Tencent TKE's RDMA networking for any pod template."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from constructs import Construct

from ._render.escape_hatches import (
    TKE_SHARED_RDMA_RESOURCE,
    add_capabilities,
    add_extended_resource,
)
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
    nccl_ib_gid_index: int | None = 3
    """NCCL_IB_GID_INDEX: the GID index of RoCE v2 on TKE's RDMA NICs; None leaves it unset.
    Default: 3."""
    nccl_ib_hca: str | None = "mlx5"
    """NCCL_IB_HCA: the RDMA devices NCCL may use. Default: mlx5."""
    nccl_socket_ifname: str | None = "eth0"
    """NCCL_SOCKET_IFNAME: NCCL's bootstrap interface. Default: eth0."""
    gloo_socket_ifname: str | None = "eth0"
    """GLOO_SOCKET_IFNAME: torch.distributed's gloo interface. Default: eth0."""
    vllm_worker_multiproc_method: Literal["spawn", "fork"] | None = "spawn"
    """VLLM_WORKER_MULTIPROC_METHOD: forking a process that has initialised CUDA breaks it.
    Default: spawn."""
    ucx_net_devices: str | None = None
    """UCX_NET_DEVICES, for pods that move KV cache with NIXL (Dynamo 1.x workers): the RDMA
    devices UCX may use, e.g. mlx5_0:1. Default: unset (every device UCX finds)."""
    ucx_ib_gid_index: int | None = 3
    """UCX_IB_GID_INDEX, for NIXL's pods: the RoCE v2 GID; None leaves it unset. Default: 3."""

    def __post_init__(self) -> None:
        if self.network_mode not in ("tke-route-eni", "tke-bridge"):
            raise ValueError(
                f"network_mode must be 'tke-route-eni' or 'tke-bridge', got {self.network_mode!r}"
            )
        if self.nccl_ib_gid_index is not None and self.nccl_ib_gid_index < 0:
            raise ValueError(f"nccl_ib_gid_index must be at least 0, got {self.nccl_ib_gid_index}")
        if self.vllm_worker_multiproc_method not in (None, "spawn", "fork"):
            raise ValueError("vllm_worker_multiproc_method must be 'spawn' or 'fork', got "
                             f"{self.vllm_worker_multiproc_method!r}")

    @property
    def env(self) -> list[dict[str, str]]:
        """The settings TKE's later Dynamo charts found NCCL and vLLM need on RDMA nodes."""
        values = {
            "NCCL_IB_GID_INDEX": self.nccl_ib_gid_index,
            "NCCL_IB_HCA": self.nccl_ib_hca,
            "NCCL_SOCKET_IFNAME": self.nccl_socket_ifname,
            "GLOO_SOCKET_IFNAME": self.gloo_socket_ifname,
            "VLLM_WORKER_MULTIPROC_METHOD": self.vllm_worker_multiproc_method,
        }
        return [{"name": k, "value": str(v)} for k, v in values.items() if v is not None]

    @property
    def ucx_env(self) -> list[dict[str, str]]:
        """UCX's settings, which NIXL reads (it reads no NCCL_* variable)."""
        values = {"UCX_NET_DEVICES": self.ucx_net_devices,
                  "UCX_IB_GID_INDEX": self.ucx_ib_gid_index}
        return [{"name": k, "value": str(v)} for k, v in values.items() if v is not None]


class RdmaPolicy(Construct):
    """Applies TKE RDMA to pod templates: the networks annotation, one shared RDMA device per
    container, IPC_LOCK (RDMA pins memory), NCCL's RDMA settings, and optionally the host
    network."""

    def __init__(self, scope: Construct, id: str, props: RdmaPolicyProps | None = None) -> None:
        super().__init__(scope, id)
        self._props = props or RdmaPolicyProps()
        self.network_mode: NetworkMode = self._props.network_mode
        """The pod's primary TKE network, to which the RDMA network is added."""
        self.host_network: bool = self._props.host_network
        """Whether the pods run in the node's network namespace."""

    @property
    def networks_annotation(self) -> str:
        """The value of the `tke.cloud.tencent.com/networks` pod annotation."""
        return f"{self.network_mode},{RDMA_NETWORK}"

    def apply(self, pod_template: dict[str, Any], containers: Iterable[str] | None = None, *,
              kv_transfer: bool = False) -> None:
        """Change `pod_template` (a PodTemplateSpec as a dict) in place.

        `containers` names the containers that use RDMA. Default: the first container.
        `kv_transfer`: the containers move KV cache with NIXL, which reads UCX's settings.
        """
        metadata = pod_template.setdefault("metadata", {})
        metadata.setdefault("annotations", {})[NETWORKS_ANNOTATION] = self.networks_annotation
        spec = pod_template["spec"]
        wanted = set(containers) if containers is not None else {spec["containers"][0]["name"]}
        for container in spec["containers"]:
            if container["name"] in wanted:
                add_extended_resource(container, TKE_SHARED_RDMA_RESOURCE, 1)
                add_capabilities(container, "IPC_LOCK")
                env = container.setdefault("env", [])
                present = {e["name"] for e in env}
                settings = self._props.env + (self._props.ucx_env if kv_transfer else [])
                env.extend(e for e in settings if e["name"] not in present)
        if self.host_network:
            spec["hostNetwork"] = True
            spec["dnsPolicy"] = "ClusterFirstWithHostNet"
