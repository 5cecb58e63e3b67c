"""FrontendDeployment (Dynamo 1.x): the OpenAI HTTP frontend and router, with its Service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constructs import Construct

from ._render import kplus as _kplus
from ._render import v1 as _v1
from ._render.k8s import KubeObject, emit, metadata
from .model.dynamo_v1 import FrontendV1Settings, PodResources, RouterSettings, RuntimeProbes
from .model.environment import ServiceMonitorSettings, ServiceSettings
from .model.naming import V1Names
from .rules import Finding
from .rules.v1 import frontend_findings
from .runtime import RuntimeComponent, RuntimeWorkloadProps
from .service_monitor import ServiceMonitor, ServiceMonitorProps
from .workload import DynamoWorkload, check_annotations, check_replicas

if TYPE_CHECKING:
    import cdk8s_plus_27 as kplus

    from .kubernetes_discovery import KubernetesDiscovery

COMPONENT = "frontend"
_DEFAULTS = FrontendV1Settings()


@dataclass(frozen=True, kw_only=True)
class FrontendDeploymentProps(RuntimeWorkloadProps):
    served_model_name: str
    """The model clients ask for; the pods are ready only once a worker serves it."""
    http_port: int = _DEFAULTS.http_port
    """The OpenAI API's port in the pod. Default: 8000."""
    router: RouterSettings = _DEFAULTS.router
    """How requests are spread over the workers. Default: round-robin."""
    migration_limit: int = _DEFAULTS.migration_limit
    """Times a request resumes on another worker when its worker dies. Default: 3."""
    replicas: int = 1
    """Frontend pods. Default: 1."""
    resources: PodResources = _DEFAULTS.resources
    """CPU and memory (no GPU). Default: 2 CPUs and 4Gi."""
    probes: RuntimeProbes = _DEFAULTS.probes
    """Default: ten minutes to start, ready once `/v1/models` lists the model, the operator's
    liveness timing."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of this pod only. Default: none."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of this pod only. Default: none."""
    service: ServiceSettings = ServiceSettings()
    """Default: a ClusterIP Service on port 80."""
    service_monitor: ServiceMonitorSettings = ServiceMonitorSettings()
    """A ServiceMonitor on the HTTP port, which serves /metrics, when enabled. Default: none."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_replicas(self.replicas)
        check_annotations(self, self.annotations)
        if self.rdma is not None:
            raise ValueError("rdma given to the Dynamo 1.x frontend, which moves no KV cache: "
                             "give it to the worker pools")


class FrontendDeployment(RuntimeComponent, DynamoWorkload):
    """`python3 -m dynamo.frontend`: the OpenAI HTTP server and router, in pods without GPUs,
    and the Service in front of them (Dynamo 1.x; for v0.1, constructs_lib.v0_1)."""

    def __init__(self, scope: Construct, id: str, props: FrontendDeploymentProps) -> None:
        if not isinstance(props, FrontendDeploymentProps):
            raise TypeError(f"{type(props).__module__}.{type(props).__name__} given; the Dynamo "
                            "1.x FrontendDeployment takes constructs_lib.FrontendDeploymentProps "
                            "(for Dynamo v0.1, use constructs_lib.v0_1.FrontendDeployment)")
        super().__init__(scope, id, props)
        self._props = props
        self.http_port = props.http_port
        """The HTTP port of the frontend in the pod."""
        self.router = props.router
        """How the frontend routes."""
        self.served_model_name = props.served_model_name
        """The model the frontend serves."""
        self.runtime = props.runtime
        """The runtime planes."""
        self.dynamo_namespace = props.dynamo_namespace
        """DYN_NAMESPACE of the pods."""
        self.kubernetes_discovery: KubernetesDiscovery | None = props.kubernetes_discovery
        """The ServiceAccount and RBAC of kubernetes discovery; None with etcd discovery."""
        names = V1Names(props.full_name)
        self.component = COMPONENT
        self.service_name = names.frontend_service
        """The Service's name."""
        self.selector_labels = props.selector_labels(COMPONENT)
        labels = props.object_labels(COMPONENT)
        container = _v1.frontend_container(
            props, runtime=props.runtime, http_port=props.http_port, router=props.router,
            migration_limit=props.migration_limit, served_model_name=props.served_model_name,
            resources=props.resources, probe_settings=props.probes,
            resource_defaults=props.resource_defaults)
        template = _v1.pod_template(
            props, labels={**labels, **props.pod_labels, **props.labels},
            annotations={**props.pod_annotations, **props.annotations}, container=container,
            selector=self.selector_labels, runtime=props.runtime,
            termination_grace_period_seconds=props.probes.termination_grace_period_seconds,
            service_account=_service_account(props))
        self.service_selector = {**self.selector_labels, **props.pod_labels, **props.labels}
        """The labels the Service selects pods by."""
        self.service: KubeObject = emit(self, "Service", {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(self.service_name, props.namespace, labels),
            "spec": {"type": props.service.type, "selector": self.service_selector, "ports": [
                {"name": _v1.HTTP_PORT_NAME, "port": props.service.port,
                 "targetPort": _v1.HTTP_PORT_NAME, "protocol": "TCP"}]},
        })
        """The Service in front of the pods."""
        monitor = props.service_monitor
        self.service_monitor: ServiceMonitor | None = None
        """The ServiceMonitor on the HTTP port, when asked for."""
        if monitor.enabled:
            self.service_monitor = ServiceMonitor(self, "ServiceMonitor", ServiceMonitorProps(
                name=names.service_monitor,
                namespace=monitor.namespace,
                service_namespace=props.namespace or "default",
                selector=labels,
                labels={**labels, **monitor.additional_labels},
                port=_v1.HTTP_PORT_NAME,
                interval=monitor.interval,
                honor_labels=monitor.honor_labels,
                relabelings=monitor.relabelings,
            ))
        self._emit_deployment(props, name=names.deployment(COMPONENT), labels=labels,
                              replicas=props.replicas, pod_template=template)

    def ingress_backend(self, port: int | None = None) -> kplus.IngressBackend:
        """A cdk8s-plus-27 IngressBackend routing to this Service's port `port` (default: its
        first, the HTTP API), for `kplus.Ingress(...).add_rule(path, backend)`."""
        return _kplus.ingress_backend(self.service.manifest, port)

    def _objects(self) -> list[KubeObject]:
        objects = [self.deployment, self.service]
        if self.disruption_budget is not None:
            objects.append(self.disruption_budget)
        return objects

    def findings(self) -> list[Finding]:
        return frontend_findings(self)


def _service_account(props: RuntimeWorkloadProps) -> str | None:
    discovery = props.kubernetes_discovery
    return discovery.service_account_name if discovery is not None else None
