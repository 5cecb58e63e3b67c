"""What the Dynamo 1.x components of one deployment share: the runtime they talk over."""

from __future__ import annotations

from dataclasses import dataclass

from .model.dynamo_v1 import V1_IMAGE, RuntimeSettings
from .model.environment import Image
from .workload import DynamoWorkloadProps


@dataclass(frozen=True, kw_only=True)
class RuntimeWorkloadProps(DynamoWorkloadProps):
    """The props of every Dynamo 1.x workload: its image and the runtime planes."""

    image: Image = V1_IMAGE
    """Default: nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1."""
    runtime: RuntimeSettings = RuntimeSettings()
    """The Dynamo namespace, discovery and the request and event planes; every component of
    one deployment must agree on them. Default: etcd discovery, tcp requests, zmq events."""

    @property
    def dynamo_namespace(self) -> str:
        """DYN_NAMESPACE: the runtime's, or the full name."""
        return self.runtime.dynamo_namespace or self.full_name
