"""DynamoGraphDeployment: the Dynamo 1.x frontend and worker pools as one resource of NVIDIA's
Dynamo operator (`nvidia.com/v1beta1`), built from the pods those constructs emit."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from ._render import dynamo_graph as _graph
from ._render.autoscaling import ScaleTarget
from ._render.k8s import KubeObject, Manifest, emit, metadata
from .frontend import FrontendDeployment
from .model.base import is_dns_label
from .model.dynamo_graph import RUNTIME_VERSION
from .model.naming import MANAGED_BY
from .rules.subjects import chart_of
from .runtime import RuntimeComponent
from .worker_pool import WorkerPool
from .workload import DynamoWorkload

if TYPE_CHECKING:
    from .chart import DynamoChart


@dataclass(frozen=True, kw_only=True)
class DynamoGraphDeploymentProps:
    name: str
    """The graph's name: the operator names its objects `<name>-<component>` (the frontend's
    Service `<name>-frontend`) and the components' Dynamo namespace `<namespace>-<name>`."""
    frontend: FrontendDeployment
    """The frontend whose pods the `frontend` component runs."""
    workers: Sequence[WorkerPool]
    """The worker pools, each a component named after its role: of type `decode` or
    `prefill`, or `worker` for an aggregated pool."""
    namespace: str | None = None
    """Default: the chart's namespace."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the DynamoGraphDeployment object. Default: none."""
    runtime_version: str | None = None
    """`runtimeVersionOverride` (MAJOR.MINOR.PATCH) of every component: the Dynamo runtime in
    the image. Default: none, for images tagged with a semantic version (the operator reads
    it there); an image tagged otherwise needs it."""
    scaling_adapters: Collection[str] = ()
    """Names of the components whose replicas a DynamoGraphDeploymentScalingAdapter owns
    (`scalingAdapter: {}`); a workload a kplus autoscaler targets gets one too, and so does a
    pool that autoscales itself (`autoscaling`), whose autoscaler then scales the adapter.
    Default: none."""
    gpus_per_node: int | None = None
    """GPUs per node: a worker whose pod asks for more runs as `multinode.nodeCount` pods of a
    node's share each, when its pool says nothing of nodes (`nodes_per_worker`). Default: none
    (every worker fits a node)."""

    def __post_init__(self) -> None:
        if not is_dns_label(self.name):
            raise ValueError(f"name must be a DNS label (the operator prefixes its objects' "
                             f"names with it), got {self.name!r}")
        if not self.workers:
            raise ValueError("workers must name at least one worker pool")
        if self.runtime_version is not None and not RUNTIME_VERSION.match(self.runtime_version):
            raise ValueError(f"runtime_version must be MAJOR.MINOR.PATCH, such as 1.6.1, got "
                             f"{self.runtime_version!r}")
        names = [self.frontend.component, *(pool.component for pool in self.workers)]
        if len(set(names)) != len(names):
            raise ValueError(f"each component needs a name of its own, got {', '.join(names)}")
        unknown = sorted(set(self.scaling_adapters) - set(names))
        if unknown:
            raise ValueError(f"scaling_adapters names no component of the graph: "
                             f"{', '.join(unknown)} (its components: {', '.join(names)})")
        if self.gpus_per_node is not None and (
                isinstance(self.gpus_per_node, bool) or not isinstance(self.gpus_per_node, int)
                or self.gpus_per_node < 1):
            raise ValueError(f"gpus_per_node must be a whole number of at least 1, got "
                             f"{self.gpus_per_node!r}")


class DynamoGraphDeployment(Construct):
    """One `nvidia.com/v1beta1` DynamoGraphDeployment that runs a Dynamo 1.x frontend and
    worker pools through NVIDIA's Dynamo operator. Each component's pod template is the one its
    construct emitted, without what the operator provides: discovery (etcd, NATS and the
    variables that name them), the wait for etcd, `/dev/shm`.

    A pool that autoscales itself (its `autoscaling` prop) becomes a component with a scaling
    adapter and no replicas, and its KEDA ScaledObject (or HPA, with the ConfigMap of its
    prometheus-adapter rule) is emitted here, aimed at the DynamoGraphDeploymentScalingAdapter
    the operator creates for the component (`<name>-<component>`), which scales the component
    as the pool's own autoscaler scaled its Deployment or LeaderWorkerSet.

    It reads the workloads' pod templates when it is created, so create it after their
    changes (`add_env`, sidecars, a kplus autoscaler); the workloads belong in a chart that is
    not synthesized (`DynamoGraphChart` composes one for an environment)."""

    graph: KubeObject
    """The DynamoGraphDeployment."""
    name: str
    """The graph's name."""
    autoscalers: dict[str, KubeObject]
    """The ScaledObject or HorizontalPodAutoscaler of each component whose pool autoscales
    itself, by component name."""
    adapter_rules: dict[str, KubeObject]
    """The ConfigMap of the prometheus-adapter rule of each component scaled by an HPA, by
    component name."""

    def __init__(self, scope: Construct, id: str, props: DynamoGraphDeploymentProps) -> None:
        super().__init__(scope, id)
        self.name = props.name
        workloads: list[tuple[DynamoWorkload, str]] = [
            (props.frontend, "frontend"), *((pool, _worker_type(pool)) for pool in props.workers)]
        components = [_graph.component(
            name=workload.component,
            component_type=component_type,
            pod_template=workload.pod_template,
            replicas=workload.replicas,
            scaling_adapter=(workload.has_autoscaler
                             or workload.component in props.scaling_adapters),
            runtime_version=props.runtime_version,
            nodes_per_worker=_nodes_said(workload),
            gpus_per_node=props.gpus_per_node,
            where=workload.node.path,
            own_service_account=_discovery_account(workload),
        ) for workload, component_type in workloads]
        if props.runtime_version is None:
            for component in components:
                image = _graph.main_container(component)["image"]
                if not _graph.image_has_version(image):
                    raise ValueError(
                        f"{self.node.path}: the image {image} of component {component['name']} "
                        "is not tagged with a semantic version, where the operator reads the "
                        "Dynamo runtime version; give runtime_version (e.g. 1.6.1)")
        self.graph = emit(self, "Resource", {
            "apiVersion": _graph.API_VERSION,
            "kind": _graph.KIND,
            "metadata": metadata(props.name, props.namespace, props.labels),
            "spec": {"backendFramework": "vllm", "components": components},
        })
        self.node.default_child = self.graph
        self.autoscalers = {}
        self.adapter_rules = {}
        for pool in props.workers:
            if pool.autoscaling.enabled:
                self._autoscale(pool, props.namespace)

    def _autoscale(self, pool: WorkerPool, namespace: str | None) -> None:
        """The pool's autoscaler, aimed at its component's scaling adapter. The autoscaler's
        queries read the frontend's series by namespace and model, which the operator leaves
        as they were; its Dynamo namespace is the operator's, `<namespace>-<name>`."""
        adapter = _graph.scaling_adapter_name(self.name, pool.component)
        if not is_dns_label(adapter):
            raise ValueError(
                f"{self.node.path}: {pool.node.path} autoscales, and its autoscaler is named "
                f"after the scaling adapter {adapter!r}, which must be a DNS label of at most "
                "63 characters (KEDA puts it in a label); shorten the graph's name")
        kubernetes_namespace = namespace or chart_of(self).namespace or "default"
        labels = pool.workload_object.manifest["metadata"].get("labels", {})
        target = ScaleTarget(name=adapter, namespace=kubernetes_namespace,
                             role="decode" if pool.role == "decode" else "prefill",
                             labels=labels, api_version=_graph.SCALING_ADAPTER_API_VERSION,
                             kind=_graph.SCALING_ADAPTER_KIND)
        scope = dataclasses.replace(pool.metric_scope, namespace=kubernetes_namespace,
                                    dynamo_namespace=f"{kubernetes_namespace}-{self.name}")
        autoscaler, rules = pool.autoscaler_manifests(target, scope, namespace=namespace,
                                                      labels=labels)
        self.autoscalers[pool.component] = emit(self, f"{pool.component}-autoscaler",
                                                autoscaler)
        if rules is not None:
            self.adapter_rules[pool.component] = emit(self, f"{pool.component}-adapter-rules",
                                                      rules)

    @property
    def components(self) -> list[Manifest]:
        """The components as emitted, the frontend first."""
        found: list[Manifest] = self.graph.manifest["spec"]["components"]
        return found

    def component(self, name: str) -> Manifest:
        """The component called `name` (frontend, decode, prefill)."""
        for component in self.components:
            if component["name"] == name:
                return component
        raise KeyError(f"{self.node.path}: no component {name!r} (it has: "
                       f"{', '.join(c['name'] for c in self.components)})")

    @property
    def gpus(self) -> int:
        """The GPUs the graph requests: replicas x nodes x `nvidia.com/gpu` of each pod."""
        return _graph.gpus_of(self.graph.manifest)


def props_from_chart(chart: DynamoChart, **changes: Any) -> DynamoGraphDeploymentProps:
    """The props of the graph of a composed Dynamo 1.x DynamoChart: its frontend and worker
    pools, named after its full name, with its node pool's GPUs per node; `changes` replace
    any of them."""
    if not isinstance(chart.frontend, FrontendDeployment) or chart.decode is None:
        raise ValueError(f"{chart.node.path}: a DynamoGraphDeployment runs Dynamo 1.x; this "
                         "chart composes Dynamo v0.1")
    environment = chart.environment
    workers: list[WorkerPool] = [chart.decode]
    if isinstance(chart.prefill, WorkerPool):
        workers.append(chart.prefill)
    settings: dict[str, Any] = dict(
        name=environment.full_name,
        namespace=environment.namespace,
        labels={"app.kubernetes.io/name": environment.name,
                "app.kubernetes.io/instance": environment.release, **MANAGED_BY},
        frontend=chart.frontend,
        workers=workers,
        gpus_per_node=chart.node_pool.gpus_per_node if chart.node_pool is not None else None,
    )
    settings.update(changes)
    return DynamoGraphDeploymentProps(**settings)


def _worker_type(pool: WorkerPool) -> str:
    return {"decode": "decode", "prefill": "prefill"}.get(pool.disaggregation_mode, "worker")


def _nodes_said(workload: DynamoWorkload) -> int | None:
    """The nodes one worker spans when its pool spans them itself (a LeaderWorkerSet pool,
    whose pods each take a node's share), or None: the graph's `gpus_per_node` decides."""
    if isinstance(workload, WorkerPool) and workload.nodes_per_worker > 1:
        return workload.nodes_per_worker
    return None


def _discovery_account(workload: DynamoWorkload) -> str | None:
    """The ServiceAccount of the workload's own kubernetes discovery, if it has one."""
    if isinstance(workload, RuntimeComponent) and workload.kubernetes_discovery is not None:
        return workload.kubernetes_discovery.service_account_name
    return None
