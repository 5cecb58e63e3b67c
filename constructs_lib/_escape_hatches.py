"""Pod settings that cdk8s-plus-27 cannot express or gets wrong, written once.

- Extended resources (`nvidia.com/gpu`, TKE's shared RDMA device) go into requests and limits
  alike: the scheduler refuses an extended resource whose request differs from its limit.
- Capabilities are written bare (`IPC_LOCK`); plus-27's enum writes `CAP_IPC_LOCK`, which the
  container runtime does not recognise.
- GPU images (NGC, Dynamo) run as root; the security context says so explicitly instead of
  inheriting plus-27's runAsNonRoot default that stops them at start.
"""

from __future__ import annotations

from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
TKE_SHARED_RDMA_RESOURCE = "tke.cloud.tencent.com/tke-shared-rdma"

Container = dict[str, Any]


def add_extended_resource(container: Container, resource: str, count: int) -> None:
    """Request and limit `count` of an extended resource (a whole number, as Kubernetes wants)."""
    if count < 0:
        raise ValueError(f"{resource} count must be at least 0, got {count}")
    resources = container.setdefault("resources", {})
    for kind in ("requests", "limits"):
        resources.setdefault(kind, {})[resource] = count


def extended_resource(container: Container, resource: str) -> int:
    """The count of an extended resource a container limits itself to (0 when absent)."""
    return int(container.get("resources", {}).get("limits", {}).get(resource, 0))


def add_capabilities(container: Container, *capabilities: str) -> None:
    """Add Linux capabilities by their bare names, keeping any already present."""
    for capability in capabilities:
        if capability.startswith("CAP_"):
            raise ValueError(f"write capabilities without the CAP_ prefix: {capability[4:]!r}")
    security = container.setdefault("securityContext", {})
    added = security.setdefault("capabilities", {}).setdefault("add", [])
    added.extend(c for c in capabilities if c not in added)
