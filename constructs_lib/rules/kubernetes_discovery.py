"""The rule of Dynamo 1.x's kubernetes discovery: the pods that use it run as a
KubernetesDiscovery's ServiceAccount, in its namespace, and the workers are selected by its
Service (the frontend only counts workers whose pods an EndpointSlice of it marks ready)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from . import Finding

if TYPE_CHECKING:
    from ..frontend import FrontendDeployment
    from ..worker_pool import WorkerPool


def _labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))


def kubernetes_discovery_is_provided(
        workload: FrontendDeployment | WorkerPool) -> Iterator[Finding]:
    """With `runtime.discovery` kubernetes, a workload is given the KubernetesDiscovery whose
    ServiceAccount may make the runtime's API calls, from the pods' own namespace, and whose
    Service selects a worker pool's pods."""
    from ..worker_pool import WorkerPool

    if workload.runtime.discovery != "kubernetes":
        return
    where = workload.locator.field("kubernetes_discovery")
    discovery = workload.kubernetes_discovery
    if discovery is None:
        yield Finding(where, "not given, but runtime.discovery is kubernetes: the pods need a "
                             "ServiceAccount allowed to watch EndpointSlices and write "
                             "DynamoWorkerMetadata, and the workers a Service whose "
                             "EndpointSlices mark them ready; give kubernetes_discovery=<a "
                             "KubernetesDiscovery>", subject=workload)
        return
    namespace = workload.namespace or workload.chart.namespace or "default"
    if discovery.namespace != namespace:
        yield Finding(where, f"{discovery.node.path}, whose ServiceAccount is in namespace "
                             f"{discovery.namespace}, but the pods run in {namespace}: a pod "
                             "runs only as a ServiceAccount of its own namespace; give the "
                             "KubernetesDiscovery the pods' namespace", subject=workload)
    elif isinstance(workload, WorkerPool):
        selector = discovery.worker_selector
        labels = workload.pod_labels
        if any(labels.get(key) != value for key, value in selector.items()):
            yield Finding(where, f"{discovery.node.path}, whose Service selects "
                                 f"{_labels(selector)}, but the pods of this pool are labelled "
                                 f"{_labels(labels)}: no EndpointSlice would list them and the "
                                 "frontend would never route to them; give the "
                                 "KubernetesDiscovery this pool's release and app_name",
                          subject=workload)
