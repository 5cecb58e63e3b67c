"""What a 1.x environment file says about its output: plain manifests, or one
DynamoGraphDeployment for NVIDIA's Dynamo operator (`output: dynamo-graph`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from .base import StrictModel

Output = Literal["manifests", "dynamo-graph"]
"""`manifests`: the Deployments, Services, etcd and the rest, for a cluster without the
operator. `dynamo-graph`: one `nvidia.com/v1beta1` DynamoGraphDeployment (and the
NetworkPolicy), for a cluster where NVIDIA's Dynamo operator runs the pods."""

GraphComponent = Literal["frontend", "decode", "prefill"]

# `runtimeVersionOverride` as the CRD allows it.
RUNTIME_VERSION = re.compile(r"^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$")


class DynamoGraphSettings(StrictModel):
    """The DynamoGraphDeployment written with `output: dynamo-graph` (or `synth --format
    dynamo-graph`)."""

    runtime_version: str | None = Field(None, pattern=RUNTIME_VERSION.pattern)
    """The Dynamo runtime version in the image (`runtimeVersionOverride`, MAJOR.MINOR.PATCH).
    The operator reads it from the image tag; an image whose tag is no semantic version
    (`my-build`, a digest only) needs it. Default: from the image tag."""
    scaling_adapters: list[GraphComponent] = []
    """Components whose replicas a DynamoGraphDeploymentScalingAdapter owns (`scalingAdapter:
    {}`), for the Planner or an HPA or KEDA that scales through the adapter's scale
    subresource. Default: none."""
