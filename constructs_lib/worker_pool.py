"""What the Dynamo 1.x worker pools share: one `python3 -m dynamo.vllm` engine per pod."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from ._render import autoscaling as _autoscaling
from ._render import discovery as _discovery
from ._render import multinode as _multinode
from ._render import v1 as _v1
from ._render.k8s import KubeObject, Manifest, emit
from ._render.metrics import MetricScope
from .model.autoscaling import DecodeAutoscaling, PoolAutoscaling, PrefillAutoscaling
from .model.dynamo_v1 import (
    KvEventsSettings,
    KvTransferSettings,
    ModelSettings,
    PodResources,
    RuntimeProbes,
    nodes_per_worker,
)
from .model.engine import VllmEngineArgs
from .model.hardening import SharedMemorySettings
from .model.naming import V1Names
from .rules import Finding
from .rules.v1 import worker_findings
from .runtime import RuntimeComponent, RuntimeWorkloadProps
from .workload import DynamoWorkload, check_annotations, check_replicas

if TYPE_CHECKING:
    from .kubernetes_discovery import KubernetesDiscovery


@dataclass(frozen=True, kw_only=True)
class WorkerPoolProps(RuntimeWorkloadProps):
    """The props of a decode or prefill pool."""

    model: ModelSettings
    """The model the workers load (`--model`), the name they serve it under and its volume."""
    gpus: int = 1
    """`nvidia.com/gpu` per worker; tensor x pipeline x data parallelism must use them all. A
    worker is one pod, or, when it needs more GPUs than `gpus_per_node`, a LeaderWorkerSet
    group of `gpus / gpus_per_node` pods of `gpus_per_node` GPUs each. Default: 1."""
    gpus_per_node: int | None = None
    """`nvidia.com/gpu` of each node the workers run on. A worker with more `gpus` spans
    whole nodes (a multiple of this many GPUs, a rule checks): vLLM's mp executor across a
    LeaderWorkerSet group, rank 0 the leader. A chart composed from an environment file sets
    it from `nodes.gpus_per_node`. Default: not known; every worker is one pod."""
    replicas: int = 1
    """Workers (pods, or LeaderWorkerSet groups of a worker that spans nodes). Default: 1."""
    engine: VllmEngineArgs = VllmEngineArgs()
    """vLLM engine arguments, in vLLM's flag names. Default: none (vLLM's defaults)."""
    kv_transfer: KvTransferSettings | None = None
    """The KV connector between prefill and decode. Default: NixlConnector when the pool takes
    part in disaggregated serving, none otherwise."""
    kv_events: KvEventsSettings | None = None
    """Publish KV events for a KV router (`--kv-events-config`, ZMQ on this port). Default:
    none published."""
    resources: PodResources = PodResources()
    """CPU and memory. Default: from `resource_defaults`, per GPU."""
    shared_memory: SharedMemorySettings = SharedMemorySettings()
    """The pods' /dev/shm, where vLLM's worker processes exchange tensors. Default: 2Gi per
    GPU."""
    probes: RuntimeProbes = RuntimeProbes()
    """Default: two hours to load the model, the operator's liveness timing."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of these pods only. Default: none."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of these pods only. Default: none."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_replicas(self.replicas)
        check_annotations(self, self.annotations)
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0:
            raise ValueError(f"gpus must be a whole number of at least 0, got {self.gpus!r}")
        per_node = self.gpus_per_node
        if per_node is not None and (isinstance(per_node, bool) or not isinstance(per_node, int)
                                     or per_node < 1):
            raise ValueError(f"gpus_per_node must be a whole number of at least 1, or None, got "
                             f"{per_node!r}")


def check_autoscaling(props: WorkerPoolProps, autoscaling: PoolAutoscaling) -> None:
    """An autoscaled pool takes its replica count from the autoscaler alone."""
    if autoscaling.enabled and props.replicas != 1:
        raise ValueError(
            f"replicas {props.replicas} given with autoscaling mode {autoscaling.mode}: the "
            "autoscaler sets the replicas (from autoscaling.min_replicas to max_replicas) and "
            "the manifests carry none; leave replicas out and set min_replicas")


class WorkerPool(RuntimeComponent, DynamoWorkload):
    """A Deployment of `python3 -m dynamo.vllm` workers of one role (the base of
    DecodeWorkerPool and PrefillWorkerPool); a LeaderWorkerSet when each worker needs more
    GPUs than a node has (`gpus_per_node`): a group of pods per worker, one per node."""

    role: str
    """decode or prefill."""
    leader_worker_set: KubeObject | None
    """The LeaderWorkerSet of a pool whose workers span nodes (its `workload_object`); None
    for a Deployment."""
    gpus_per_node: int | None
    """GPUs of each node the workers run on; None when not given."""
    nodes_per_worker: int
    """Pods, each on a node of its own, one worker spans: 1 for a worker that fits a node
    (a Deployment's pod), else the size of its LeaderWorkerSet group (`gpus / gpus_per_node`,
    rounded up)."""
    worker_arguments: list[str]
    """`python3 -m dynamo.vllm`'s arguments of each worker, without the multi-node flags the
    pods of a LeaderWorkerSet group add (executor, node count and rank, leader address)."""
    autoscaler: KubeObject | None
    """The KEDA ScaledObject or the HorizontalPodAutoscaler that owns the replicas (a
    LeaderWorkerSet's groups); None when autoscaling is off."""
    adapter_rules: KubeObject | None
    """With an HPA: the ConfigMap holding the prometheus-adapter rule that serves its External
    metric (`config.yaml`, the adapter's configuration file; `values.yaml`, the same rule for
    the adapter's Helm chart). None otherwise."""

    def __init__(self, scope: Construct, id: str, props: WorkerPoolProps, *,
                 disaggregation_mode: str, autoscaling: PoolAutoscaling | None = None) -> None:
        super().__init__(scope, id, props)
        self._props = props
        self.autoscaling: PoolAutoscaling = autoscaling or (
            DecodeAutoscaling() if self.role == "decode" else PrefillAutoscaling())
        """How the pool scales (`mode` off: fixed `replicas`)."""
        self.disaggregation_mode = disaggregation_mode
        """`--disaggregation-mode`: decode, prefill, or agg (both phases here)."""
        self.model = props.model
        """The model the workers load and serve."""
        self.engine = props.engine
        """The vLLM engine arguments."""
        self.gpus = props.gpus
        """GPUs per worker."""
        self.gpus_per_node = props.gpus_per_node
        self.nodes_per_worker = nodes_per_worker(props.gpus, props.gpus_per_node)
        self.runtime = props.runtime
        """The runtime planes."""
        self.dynamo_namespace = props.dynamo_namespace
        """DYN_NAMESPACE of the pods."""
        self.kubernetes_discovery: KubernetesDiscovery | None = props.kubernetes_discovery
        """The ServiceAccount, RBAC and Service of kubernetes discovery; None with etcd
        discovery."""
        self.kv_transfer = props.kv_transfer or (
            KvTransferSettings() if disaggregation_mode != "agg" else None)
        """The KV connector; None for an aggregated pool that was given none."""
        self.kv_events = props.kv_events
        """The KV events the workers publish; None when they publish none."""
        self.component = self.role
        self.selector_labels = props.selector_labels(self.role)
        labels = props.object_labels(self.role)
        self.worker_arguments = _v1.worker_arguments(
            model_path=props.model.path, served_model_name=props.model.name,
            mode=disaggregation_mode, engine=props.engine.arguments(),
            kv_transfer=self.kv_transfer, kv_events=props.kv_events)
        nodes = self.nodes_per_worker
        gpus = props.gpus if nodes == 1 else props.gpus_per_node or props.gpus
        extra_env = _address_env(props)
        arguments = self.worker_arguments
        if nodes > 1:
            extra_env.append(_multinode.side_channel_env())
            arguments = [*arguments, *_multinode.arguments(nodes, leader=True)]
        container = _v1.worker_container(
            props, runtime=props.runtime, arguments=arguments, gpus=gpus,
            resources=props.resources, probe_settings=props.probes,
            shared_memory=props.shared_memory, resource_defaults=props.resource_defaults,
            model_volume=props.model.volume, extra_env=extra_env)
        discovery = props.kubernetes_discovery
        pod: dict[str, Any] = dict(
            labels={**labels, **props.pod_labels, **props.labels},
            annotations={**props.pod_annotations, **props.annotations},
            selector=self.selector_labels, runtime=props.runtime,
            termination_grace_period_seconds=props.probes.termination_grace_period_seconds,
            worker=(gpus, props.shared_memory, props.model.volume),
            service_account=discovery.service_account_name if discovery is not None else None)
        # The discovery Service selects the pods that register (a Deployment's, a group's
        # leader) by this label; the frontend and a group's headless followers have none.
        registers = {**pod, "labels": {**pod["labels"], **(
            _discovery.DISCOVERY_LABELS if discovery is not None else {})}}
        name = V1Names(props.full_name).deployment(self.role)
        scaling = self.autoscaling
        autoscaled = ((scaling.min_replicas, scaling.max_replicas)
                      if scaling.enabled and scaling.max_replicas else None)
        self.leader_worker_set = None
        if nodes == 1:
            template = _v1.pod_template(props, container=container, **registers)
            self._emit_deployment(props, name=name, labels=labels, replicas=props.replicas,
                                  pod_template=template, autoscaled=autoscaled)
        else:
            self._emit_leader_worker_set(props, name=name, labels=labels, container=container,
                                         leader_pod=registers, follower_pod=pod,
                                         autoscaled=autoscaled)
        self.autoscaler = None
        self.adapter_rules = None
        if scaling.enabled:
            self._emit_autoscaler(labels)

    def _emit_leader_worker_set(self, props: WorkerPoolProps, *, name: str,
                                labels: Mapping[str, str], container: dict[str, Any],
                                leader_pod: dict[str, Any], follower_pod: dict[str, Any],
                                autoscaled: tuple[int, int] | None) -> None:
        nodes = self.nodes_per_worker
        # The rendezvous port on the leader, declared so that the plan sees it taken on the
        # node in the host network.
        container["ports"].append({"name": _multinode.MASTER_PORT_NAME,
                                   "containerPort": _multinode.MASTER_PORT, "protocol": "TCP"})
        leader = _v1.pod_template(props, container=container, **leader_pod)
        follower = _v1.pod_template(props, container=_multinode.follower_container(
            container, args=[*self.worker_arguments,
                             *_multinode.arguments(nodes, leader=False)],
            system_port=props.runtime.system_port, probes=props.probes),
            **{**follower_pod, "service_account": None})  # a headless rank never calls the API
        # A headless rank never talks to etcd or NATS: it waits for its leader instead.
        _multinode.with_init_containers(follower["spec"], [_multinode.wait_for_leader(
            image=props.image.reference, pull_policy=props.image.pull_policy,
            timeout_seconds=props.probes.startup_timeout_seconds)])
        manifest = _multinode.leader_worker_set(
            name, props.namespace, labels, replicas=props.replicas, size=nodes, leader=leader,
            worker=follower, update_strategy=props.update_strategy)
        self._emit_workload(props, "LeaderWorkerSet", manifest,
                            template_paths=_multinode.TEMPLATE_PATHS, labels=labels,
                            replicas=props.replicas, autoscaled=autoscaled)
        self.leader_worker_set = self.workload_object

    # -- autoscaling -----------------------------------------------------------------------------

    @property
    def metric_scope(self) -> MetricScope:
        """The series of this pool's deployment in Prometheus: its namespace, model and Dynamo
        namespace, as the autoscaler's queries select them."""
        return MetricScope(namespace=self._effective_namespace or "default",
                           dynamo_namespace=self.dynamo_namespace, model=self.model.name,
                           disaggregated=self.disaggregation_mode != "agg")

    @property
    def scale_target(self) -> _autoscaling.ScaleTarget:
        """The workload, as the autoscaler's `scaleTargetRef`: the Deployment, or the
        LeaderWorkerSet, whose scale subresource adds and removes whole groups."""
        manifest = self.workload_object.manifest
        labels = manifest["metadata"].get("labels", {})
        return _autoscaling.ScaleTarget(
            name=self.workload_name, namespace=self._effective_namespace or "default",
            role="decode" if self.role == "decode" else "prefill", labels=labels,
            api_version=manifest["apiVersion"], kind=manifest["kind"])

    @property
    def adapter_rule(self) -> dict[str, Any] | None:
        """With an HPA, the prometheus-adapter `externalRules` entry that serves its metric;
        None otherwise."""
        if self.autoscaling.mode != "hpa":
            return None
        return _autoscaling.prometheus_adapter_rule(self.scale_target, self.autoscaling,
                                                    self.metric_scope)

    def autoscaler_manifests(self, target: _autoscaling.ScaleTarget, scope: MetricScope, *,
                             namespace: str | None, labels: Mapping[str, str]
                             ) -> tuple[Manifest, Manifest | None]:
        """The pool's autoscaler (ScaledObject or HPA) aimed at `target`, its queries within
        `scope`, and with an HPA the ConfigMap of the prometheus-adapter rule serving its
        metric (else None); in `namespace` (None: left to the chart). The pool's own target is
        its workload (`scale_target`); a DynamoGraphDeployment's is the component's scaling
        adapter."""
        [manifest] = _autoscaling.autoscaler(target, self.autoscaling, scope)
        if not namespace:
            manifest["metadata"].pop("namespace", None)
        if self.autoscaling.mode != "hpa":
            return manifest, None
        rule = _autoscaling.prometheus_adapter_rule(target, self.autoscaling, scope)
        config_map = _autoscaling.prometheus_adapter_config_map(
            [rule], name=f"{target.name}-adapter-rules", namespace=namespace or "",
            labels=labels)
        config_map["data"]["values.yaml"] = _autoscaling.prometheus_adapter_values([rule])
        return manifest, config_map

    def _emit_autoscaler(self, labels: Mapping[str, str]) -> None:
        # As the workload: in the chart's namespace unless the props name one.
        autoscaler, rules = self.autoscaler_manifests(
            self.scale_target, self.metric_scope, namespace=self._props.namespace,
            labels=labels)
        self.autoscaler = emit(self, "Autoscaler", autoscaler)
        if rules is not None:
            self.adapter_rules = emit(self, "AdapterRules", rules)

    @property
    def autoscaler_summary(self) -> str | None:
        if not self.autoscaling.enabled:
            return super().autoscaler_summary
        if self.adapter_rules is not None:
            return (f"{self.autoscaling.summary()} (its prometheus-adapter rule: ConfigMap "
                    f"{self.adapter_rules.object_name})")
        return self.autoscaling.summary()

    def autoscaler_max_field(self) -> str | None:
        return self.locator.cite("autoscaling.max_replicas") if self.autoscaling.enabled else None

    def mark_has_autoscaler(self) -> None:
        """kplus IScalable: refused when the pool's own `autoscaling` is on (two autoscalers
        would fight over the replicas)."""
        if self.autoscaling.enabled:
            raise ValueError(f"{self.node.path}: autoscaling is {self.autoscaling.mode} already "
                             "(the pool's own autoscaler owns the replicas); a second "
                             "autoscaler would fight it: turn one of them off")
        super().mark_has_autoscaler()

    def _objects(self) -> list[KubeObject]:
        return [*super()._objects(),
                *(o for o in (self.autoscaler, self.adapter_rules) if o is not None)]

    def gpu_work(self) -> dict[str, int]:
        return {self.role: self.gpus_per_pod}

    def findings(self) -> list[Finding]:
        return worker_findings(self)


def _address_env(props: WorkerPoolProps) -> list[dict[str, Any]]:
    """With RDMA the pod has a second interface; the runtime would advertise (and bind its
    request plane on) the default route's address, so name the pod's own."""
    if props.rdma is None:
        return []
    pod_ip = {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    return [{"name": "DYN_TCP_RPC_HOST", **pod_ip}, {"name": "DYN_EVENT_PLANE_HOST", **pod_ip}]
