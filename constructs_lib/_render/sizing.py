"""CPU, memory and /dev/shm of Dynamo containers, derived from the pod's GPU count."""

from __future__ import annotations

from typing import Any

from ..model.environment import Resources
from ..model.hardening import ResourceDefaults, SharedMemorySettings
from .quantities import Quantity, add_bytes, at_least, scale


def shared_memory_size(settings: SharedMemorySettings, gpus: int) -> Quantity:
    """The /dev/shm size limit: NCCL and vLLM's tensor-parallel workers need it per GPU."""
    if settings.size is not None:
        return settings.size
    return scale(settings.size_per_gpu, max(gpus, 1))


def container_resources(resources: Resources, defaults: ResourceDefaults,
                        shared_memory: Quantity | None = None) -> dict[str, Any]:
    """Requests and limits: what `resources` sets, and for CPU and memory left out, the
    per-GPU defaults. A derived limit never falls below the request, and the memory limit
    includes /dev/shm, whose pages are charged to the container that writes them."""
    units = max(resources.gpus, 1)
    requests = resources.requests.render()
    limits = resources.limits.render()
    for kind in ("cpu", "memory"):
        if kind not in requests:
            requests[kind] = scale(getattr(defaults, f"{kind}_request_per_gpu"), units)
        if kind not in limits:
            derived = scale(getattr(defaults, f"{kind}_limit_per_gpu"), units)
            if kind == "memory" and shared_memory is not None:
                derived = add_bytes(derived, shared_memory)
            limits[kind] = at_least(derived, requests[kind])
    return {"requests": requests, "limits": limits}
