"""Typed cdk8s constructs for NVIDIA Dynamo disaggregated (prefill/decode) inference on Kubernetes.

The public constructs are importable from here (Dynamo 1.x; the v0.1 `dynamo serve` constructs
are in `constructs_lib.v0_1`); the typed settings and the environment model live in
`constructs_lib.model`.

The constructs are loaded on first use (PEP 562): importing them starts the jsii runtime (a Node
process, about a second), which `constructs_lib.model`, the CLI's `--help` and the schema and
docs commands do not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chart import DynamoChart
    from .dashboard import GrafanaDashboard, GrafanaDashboardProps
    from .decode_pool import DecodeWorkerPool, DecodeWorkerPoolProps
    from .dependencies import DependencyCluster, DependencyStack, DependencyStackProps
    from .dynamo_graph import DynamoGraphDeployment, DynamoGraphDeploymentProps
    from .frontend import FrontendDeployment, FrontendDeploymentProps
    from .graph_chart import DynamoGraphChart
    from .kubernetes_discovery import KubernetesDiscovery, KubernetesDiscoveryProps
    from .network_policy import DynamoNetworkPolicy, DynamoNetworkPolicyProps
    from .node_pool import GpuNodePool, GpuNodePoolProps
    from .pod_monitor import PodMonitor, PodMonitorProps
    from .prefill_pool import PrefillWorkerPool, PrefillWorkerPoolProps
    from .rdma import RdmaPolicy, RdmaPolicyProps
    from .runtime import RuntimeWorkloadProps
    from .service_monitor import ServiceMonitor, ServiceMonitorProps
    from .worker_pool import WorkerPool, WorkerPoolProps
    from .workload import DynamoWorkload, DynamoWorkloadProps

# Public name -> the module defining it; the imports above must say the same for type checkers.
_EXPORTS = {
    "DecodeWorkerPool": "decode_pool",
    "DecodeWorkerPoolProps": "decode_pool",
    "DependencyCluster": "dependencies",
    "DependencyStack": "dependencies",
    "DependencyStackProps": "dependencies",
    "DynamoChart": "chart",
    "DynamoGraphChart": "graph_chart",
    "DynamoGraphDeployment": "dynamo_graph",
    "DynamoGraphDeploymentProps": "dynamo_graph",
    "DynamoNetworkPolicy": "network_policy",
    "DynamoNetworkPolicyProps": "network_policy",
    "DynamoWorkload": "workload",
    "DynamoWorkloadProps": "workload",
    "FrontendDeployment": "frontend",
    "FrontendDeploymentProps": "frontend",
    "GpuNodePool": "node_pool",
    "GrafanaDashboard": "dashboard",
    "GrafanaDashboardProps": "dashboard",
    "GpuNodePoolProps": "node_pool",
    "KubernetesDiscovery": "kubernetes_discovery",
    "KubernetesDiscoveryProps": "kubernetes_discovery",
    "PodMonitor": "pod_monitor",
    "PodMonitorProps": "pod_monitor",
    "PrefillWorkerPool": "prefill_pool",
    "PrefillWorkerPoolProps": "prefill_pool",
    "RdmaPolicy": "rdma",
    "RdmaPolicyProps": "rdma",
    "RuntimeWorkloadProps": "runtime",
    "ServiceMonitor": "service_monitor",
    "ServiceMonitorProps": "service_monitor",
    "WorkerPool": "worker_pool",
    "WorkerPoolProps": "worker_pool",
}

__all__ = [
    "DecodeWorkerPool", "DecodeWorkerPoolProps", "DependencyCluster", "DependencyStack",
    "DependencyStackProps", "DynamoChart", "DynamoGraphChart", "DynamoGraphDeployment",
    "DynamoGraphDeploymentProps", "DynamoNetworkPolicy", "DynamoNetworkPolicyProps",
    "DynamoWorkload", "DynamoWorkloadProps", "FrontendDeployment", "FrontendDeploymentProps",
    "GpuNodePool", "GpuNodePoolProps", "GrafanaDashboard", "GrafanaDashboardProps",
    "KubernetesDiscovery", "KubernetesDiscoveryProps",
    "PodMonitor", "PodMonitorProps", "PrefillWorkerPool", "PrefillWorkerPoolProps",
    "RdmaPolicy", "RdmaPolicyProps", "RuntimeWorkloadProps", "ServiceMonitor",
    "ServiceMonitorProps", "WorkerPool", "WorkerPoolProps",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
