"""Kubernetes `resources` maps of the seed's values -> the model's GPUs, requests and limits."""

from __future__ import annotations

from typing import Any

from .merge import Path
from .reader import MISSING, Reader

GPU = "nvidia.com/gpu"
RDMA_DEVICE = "tke.cloud.tencent.com/tke-shared-rdma"
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


def convert_resources(r: Reader, field: str, path: Path, gpus: bool) -> None:
    resources = r.mapping(path)
    gpu_counts: dict[str, Any] = {}
    for kind in ("requests", "limits"):
        listed = r.mapping((*path, kind))
        kept = {}
        for name, quantity in listed.items():
            at: Path = (*path, kind, name)
            if name in RESOURCE_NAMES:
                kept[name] = quantity
            elif name == GPU and gpus:
                count = r.integer(at)
                if count is not MISSING:
                    gpu_counts[kind] = count
            elif name == RDMA_DEVICE:
                r.problem(at, "is added by rdma.enable (one device per pod); remove it "
                              "from resources")
            else:
                allowed = ", ".join((*RESOURCE_NAMES, GPU) if gpus else RESOURCE_NAMES)
                r.problem(at, f"is not a resource this project sets; allowed: {allowed}")
        if kept or kind in resources:
            r.put(f"{field}.{kind}", (*path, kind), kept)
    if gpus:
        # Where a pod's GPU count is set, also when the values leave it out: the model's rules
        # check it against the workers' GPUs.
        r.key_of(f"{field}.gpus", (*path, "limits", GPU))
    if gpu_counts:
        if len(set(gpu_counts.values())) > 1:
            r.problem((*path, "limits", GPU), (
                f"is {gpu_counts['limits']} but the request is {gpu_counts['requests']}; "
                "Kubernetes requires a GPU request to equal its limit"))
            return
        key = "limits" if "limits" in gpu_counts else "requests"
        r.put(f"{field}.gpus", (*path, key, GPU), gpu_counts[key])
