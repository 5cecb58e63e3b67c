"""Production settings of an environment: probes, sizing, placement, disruption and security.

Every field has the default a careful operator would choose for GPU inference pods on a shared
cluster; each one is a switch because each default has a case where it is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PositiveInt, model_validator

from .base import MAX_REPLICAS, Labels, Quantity, StrictModel, quantity_value

_PERCENT = re.compile(r"^([1-9][0-9]?|100)%$")
_RETENTION = re.compile(r"^[0-9]+(h|m|s)?$")
_WEEK = 7 * 24 * 3600


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a network in CIDR notation such as 10.0.0.0/16 (the address "
            "part must have no bits set beyond the prefix)"
        ) from None
    return value


def _percent_or_count(value: int | str) -> int | str:
    if isinstance(value, str) and not _PERCENT.match(value):
        raise ValueError(f"{value!r} is neither a whole number nor a percentage such as 25%")
    return value


def _retention(value: str) -> str:
    if not _RETENTION.match(value):
        raise ValueError(f"{value!r} is not a duration such as 1h, 30m or 0 (off)")
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
CountOrPercent = Annotated[Annotated[PositiveInt, Field(le=MAX_REPLICAS)] | str,
                           AfterValidator(_percent_or_count)]
RetentionPeriod = Annotated[str, AfterValidator(_retention)]


class ProbeSettings(StrictModel):
    """When the kubelet treats a Dynamo pod as started, ready and alive."""

    enabled: bool = True
    """Default: true."""
    startup_timeout_seconds: int = Field(3600, ge=60, le=_WEEK)
    """How long a pod may take from start to serving before it is restarted: loading a 70B model
    from a network volume takes 10 to 30 minutes. At most a week. Default: 3600 (one hour)."""
    startup_check: Literal["completion", "models"] = "completion"
    """What the Dynamo v0.1 frontend's startup probe asks for (1.x pods answer /live).
    `completion`: a one-token chat completion succeeds, i.e. the whole graph has loaded and
    answers (v0.1 has no health endpoint); `models`: `/v1/models` lists the served model.
    Default: completion."""
    liveness_timeout_seconds: int = Field(300, ge=30, le=_WEEK)
    """How long a started pod may fail its liveness check before it is restarted; long, so that a
    pod busy with long prompts is never killed. At most a week. Default: 300."""


class SharedMemorySettings(StrictModel):
    """The memory-backed `/dev/shm` that NCCL and vLLM's worker processes exchange tensors in."""

    size_per_gpu: Quantity = "2Gi"
    """Size limit per GPU of the pod (a pod without GPUs counts as one). Default: 2Gi, 16Gi for
    eight GPUs (TKE's later charts use 15Gi)."""
    size: Quantity | None = None
    """A fixed size limit instead. Default: none (derived from the GPU count)."""


class ResourceDefaults(StrictModel):
    """CPU and memory of a Dynamo container whose `resources` leave them out, per GPU of the pod
    (a pod without GPUs counts as one). The memory limit also covers `/dev/shm`, which counts
    against it."""

    cpu_request_per_gpu: Quantity = 4
    """Default: 4 (Dynamo v0.1's own service defaults ask for 10 CPUs per worker process)."""
    memory_request_per_gpu: Quantity = "16Gi"
    """Default: 16Gi."""
    cpu_limit_per_gpu: Quantity = 16
    """High, so that tokenisation bursts are not throttled. Default: 16."""
    memory_limit_per_gpu: Quantity = "32Gi"
    """Default: 32Gi."""

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ResourceDefaults:
        for kind in ("cpu", "memory"):
            request = getattr(self, f"{kind}_request_per_gpu")
            limit = getattr(self, f"{kind}_limit_per_gpu")
            if quantity_value(limit) < quantity_value(request):
                raise ValueError(f"{kind}_limit_per_gpu ({limit}) is below "
                                 f"{kind}_request_per_gpu ({request})")
        return self


class UpdateStrategy(StrictModel):
    """How a Deployment replaces its pods."""

    type: Literal["Recreate", "RollingUpdate"] = "Recreate"
    """Recreate: stop old pods, then start new ones; a rolling update needs free GPUs that a full
    cluster lacks. RollingUpdate: one group at a time with `maxSurge: 0`, so no extra GPUs are
    needed but capacity drops while a group restarts. Default: Recreate."""
    max_unavailable: CountOrPercent | None = None
    """Pods replaced at once (RollingUpdate only). Default: 1."""

    @model_validator(mode="after")
    def _only_for_rolling_update(self) -> UpdateStrategy:
        if self.type == "Recreate" and self.max_unavailable is not None:
            raise ValueError("max_unavailable applies to type RollingUpdate only")
        return self


class DisruptionBudgetSettings(StrictModel):
    """A PodDisruptionBudget for Deployments of two or more replicas. A single replica gets none:
    a budget could then only block a node drain, never keep anything serving."""

    enabled: bool = True
    """Default: true."""
    max_unavailable: PositiveInt = Field(1, le=MAX_REPLICAS)
    """Pods a voluntary disruption (drain, eviction) may take at once. Default: 1."""


class Toleration(StrictModel):
    key: str | None = None
    """Default: none (with operator Exists: every taint)."""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Default: every effect."""
    toleration_seconds: int | None = Field(None, ge=0, le=2**63 - 1)
    """NoExecute only. Default: tolerate forever."""

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("operator Exists takes no value")
        if self.operator == "Equal" and self.key is None:
            raise ValueError("operator Equal needs a key")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds applies to effect NoExecute only")
        return self

    def render(self) -> dict[str, object]:
        rendered: dict[str, object] = {"operator": self.operator}
        for name, key in (("key", "key"), ("value", "value"), ("effect", "effect"),
                          ("toleration_seconds", "tolerationSeconds")):
            if getattr(self, name) is not None:
                rendered[key] = getattr(self, name)
        return rendered


class PlacementSettings(StrictModel):
    """Where the Dynamo pods may run."""

    node_selector: Labels = {}
    """E.g. the GPU node pool's label. Default: none."""
    tolerations: list[Toleration] = []
    """E.g. for a `nvidia.com/gpu` taint on GPU nodes. Default: none."""
    host_network_anti_affinity: bool = True
    """With the host network, never put two of this release's Dynamo pods on one node: they would
    listen on the same ports. Default: true."""
    spread_across_nodes: bool = True
    """Otherwise prefer spreading each Deployment's pods across nodes, so that one node failing
    takes one pod. Default: true."""


class DependencyWaitSettings(StrictModel):
    """An init container that waits for etcd and NATS before `dynamo serve` starts (Dynamo v0.1
    gives up when they do not answer at start)."""

    enabled: bool = True
    """Default: true."""
    timeout_seconds: int = Field(600, ge=10, le=_WEEK)
    """How long to wait before the init container fails (the kubelet then retries it with
    back-off). At most a week. Default: 600."""


class SecuritySettings(StrictModel):
    """Least privilege for the Dynamo pods. GPU images run as root, so what is left to take away
    is capabilities, privilege escalation, system calls and the API token."""

    drop_all_capabilities: bool = True
    """Drop every Linux capability (RDMA adds IPC_LOCK back). Turn off if the model volume's
    files are readable only by their owner and that owner is not root: root then needs
    DAC_OVERRIDE. Default: true."""
    seccomp_profile: Literal["RuntimeDefault", "Unconfined"] = "RuntimeDefault"
    """Default: RuntimeDefault."""
    automount_service_account_token: bool = False
    """Neither Dynamo v0.1 nor Dynamo 1.x with etcd discovery calls the Kubernetes API. With
    `runtime.discovery: kubernetes` the 1.x pods call it, and mount their ServiceAccount's
    token whatever this says (false is then refused). Default: false."""


class NetworkPolicySettings(StrictModel):
    """NetworkPolicies for etcd, NATS and the Dynamo pods.

    NetworkPolicy cannot select host-network pods by label: their traffic comes from the node's
    address. When the Dynamo pods use the host network, etcd's and NATS' client ports therefore
    admit `allowed_cidrs` (give the nodes' CIDRs) or, when that is empty, every source.
    """

    enabled: bool = True
    """Default: true."""
    allowed_cidrs: list[Cidr] = []
    """More sources admitted to etcd's and NATS' client ports, e.g. the GPU nodes' CIDR when the
    Dynamo pods use the host network. Default: none."""


class DependencyHardening(StrictModel):
    """Settings etcd and NATS share."""

    probes: bool = True
    """Startup, readiness and liveness probes. Default: true."""
    run_as_user: int = Field(65532, ge=1, le=2**31 - 1)
    """A non-root UID (also the group and the volume's fsGroup); Kubernetes takes at most
    2147483647. Default: 65532."""
    read_only_root_filesystem: bool = True
    """The official images write only to their data volume. Default: true."""
    anti_affinity: Literal["required", "preferred"] = "required"
    """With more than one replica, keep replicas on different nodes (required: or stay pending).
    Default: required."""
    disruption_budget: bool = True
    """With more than one replica, allow one voluntary disruption at a time. Default: true."""


def odd_member_count(replicas: int, what: str) -> None:
    if replicas not in (1, 3, 5):
        raise ValueError(
            f"must be 1, 3 or 5: {what} needs a majority of its members, "
            "so an even count tolerates no more failures than the odd count below it, and more "
            "than 5 slows every write"
        )
