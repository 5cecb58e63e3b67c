"""The Dynamo v0.1 constructs: `dynamo serve` of a graph, configured by a configs.yaml, as the
seed Helm chart deploys it. Kept at parity with that chart for its users; new deployments use
the Dynamo 1.x constructs of `constructs_lib`."""

from .frontend import FrontendDeployment, FrontendDeploymentProps
from .prefill_pool import PrefillWorkerPool, PrefillWorkerPoolProps

__all__ = ["FrontendDeployment", "FrontendDeploymentProps", "PrefillWorkerPool",
           "PrefillWorkerPoolProps"]
