"""What the props of every Dynamo v0.1 (`dynamo serve`) workload add to the shared ones."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.environment import ModelVolume
from ..model.hardening import ProbeSettings, SharedMemorySettings
from ..workload import DynamoWorkloadProps


@dataclass(frozen=True, kw_only=True)
class ServeWorkloadProps(DynamoWorkloadProps):
    """The props of the pods that run `dynamo serve`."""

    model_volume: ModelVolume | None = ModelVolume()
    """The claim holding the weights. Default: claim `ai-model` mounted at /data."""
    probes: ProbeSettings = ProbeSettings()
    """Default: a one-hour startup budget, readiness once the pod can serve, lenient liveness."""
    shared_memory: SharedMemorySettings = SharedMemorySettings()
    """The pods' /dev/shm. Default: 2Gi per GPU."""
