"""Typed cdk8s constructs for NVIDIA Dynamo disaggregated (prefill/decode) inference on Kubernetes.

The public constructs are importable from here; the typed environment model lives in
`constructs_lib.model`.
"""

from .chart import DynamoChart
from .dependencies import DependencyStack, DependencyStackProps
from .frontend import FrontendDeployment, FrontendDeploymentProps
from .prefill_pool import PrefillWorkerPool, PrefillWorkerPoolProps
from .rdma import RdmaPolicy, RdmaPolicyProps
from .service_monitor import ServiceMonitor, ServiceMonitorProps
from .workload import DynamoWorkloadProps

__all__ = [
    "DependencyStack", "DependencyStackProps", "DynamoChart", "DynamoWorkloadProps",
    "FrontendDeployment", "FrontendDeploymentProps", "PrefillWorkerPool",
    "PrefillWorkerPoolProps", "RdmaPolicy", "RdmaPolicyProps", "ServiceMonitor",
    "ServiceMonitorProps",
]
