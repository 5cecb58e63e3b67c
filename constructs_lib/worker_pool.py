"""What the Dynamo 1.x worker pools share: one `python3 -m dynamo.vllm` engine per pod."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from ._render import discovery as _discovery
from ._render import v1 as _v1
from .model.dynamo_v1 import (
    KvEventsSettings,
    KvTransferSettings,
    ModelSettings,
    PodResources,
    RuntimeProbes,
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
    """`nvidia.com/gpu` per worker (pod); tensor x pipeline x data parallelism must use them
    all. Default: 1."""
    replicas: int = 1
    """Workers (pods). Default: 1."""
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


class WorkerPool(RuntimeComponent, DynamoWorkload):
    """A Deployment of `python3 -m dynamo.vllm` workers of one role (the base of
    DecodeWorkerPool and PrefillWorkerPool)."""

    role: str
    """decode or prefill."""

    def __init__(self, scope: Construct, id: str, props: WorkerPoolProps, *,
                 disaggregation_mode: str) -> None:
        super().__init__(scope, id, props)
        self._props = props
        self.disaggregation_mode = disaggregation_mode
        """`--disaggregation-mode`: decode, prefill, or agg (both phases here)."""
        self.model = props.model
        """The model the workers load and serve."""
        self.engine = props.engine
        """The vLLM engine arguments."""
        self.gpus = props.gpus
        """GPUs per worker."""
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
        arguments = _v1.worker_arguments(
            model_path=props.model.path, served_model_name=props.model.name,
            mode=disaggregation_mode, engine=props.engine.arguments(),
            kv_transfer=self.kv_transfer, kv_events=props.kv_events)
        container = _v1.worker_container(
            props, runtime=props.runtime, arguments=arguments, gpus=props.gpus,
            resources=props.resources, probe_settings=props.probes,
            shared_memory=props.shared_memory, resource_defaults=props.resource_defaults,
            model_volume=props.model.volume, extra_env=_address_env(props))
        discovery = props.kubernetes_discovery
        # The discovery Service selects the workers by this label; the frontend has none.
        found_by = _discovery.DISCOVERY_LABELS if discovery is not None else {}
        template = _v1.pod_template(
            props, labels={**labels, **props.pod_labels, **props.labels, **found_by},
            annotations={**props.pod_annotations, **props.annotations}, container=container,
            selector=self.selector_labels, runtime=props.runtime,
            termination_grace_period_seconds=props.probes.termination_grace_period_seconds,
            worker=(props.gpus, props.shared_memory, props.model.volume),
            service_account=discovery.service_account_name if discovery is not None else None)
        self._emit_deployment(props, name=V1Names(props.full_name).deployment(self.role),
                              labels=labels, replicas=props.replicas, pod_template=template)

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
