"""Pod settings that cdk8s-plus-27 cannot express or gets wrong, written once.

- Extended resources (`nvidia.com/gpu`, TKE's shared RDMA device) go into requests and limits
  alike: the scheduler refuses an extended resource whose request differs from its limit.
- Capabilities are written bare (`IPC_LOCK`); plus-27's enum writes `CAP_IPC_LOCK`, which the
  container runtime does not recognise.
- GPU images (NGC, Dynamo) run as root; the security context says so explicitly instead of
  inheriting plus-27's runAsNonRoot default that stops them at start.
- Security contexts: what can be taken from a root GPU container without breaking it (every
  capability, privilege escalation, system calls outside the runtime's default profile, the
  API token), and the full non-root treatment for etcd and NATS.
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


def restrict_container(container: Container, *, drop_all_capabilities: bool = True,
                       read_only_root_filesystem: bool = False,
                       run_as_user: int | None = None) -> None:
    """Least privilege for one container: no privilege escalation, no capabilities (those added
    with `add_capabilities`, before or after, stay), optionally a read-only root filesystem and
    a non-root user. `privileged` is never set."""
    security = container.setdefault("securityContext", {})
    security["allowPrivilegeEscalation"] = False
    if drop_all_capabilities:
        security.setdefault("capabilities", {})["drop"] = ["ALL"]
    if read_only_root_filesystem:
        security["readOnlyRootFilesystem"] = True
    if run_as_user is not None:
        security.update(runAsNonRoot=True, runAsUser=run_as_user, runAsGroup=run_as_user)


def restrict_pod(pod_spec: dict[str, Any], *, seccomp_profile: str = "RuntimeDefault",
                 automount_service_account_token: bool = False,
                 run_as_user: int | None = None) -> None:
    """Pod-wide least privilege: a seccomp profile, no API token unless asked for, and for
    images that can run without root, a non-root user that also owns the pod's volumes."""
    pod_spec["automountServiceAccountToken"] = automount_service_account_token
    security = pod_spec.setdefault("securityContext", {})
    security["seccompProfile"] = {"type": seccomp_profile}
    if run_as_user is not None:
        security.update(runAsNonRoot=True, runAsUser=run_as_user, runAsGroup=run_as_user,
                        fsGroup=run_as_user,
                        # Large volumes: re-own files only when the volume's root is not ours yet.
                        fsGroupChangePolicy="OnRootMismatch")
