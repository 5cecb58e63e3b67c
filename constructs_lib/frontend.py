"""FrontendDeployment (Dynamo 1.x): the OpenAI HTTP frontend and router, with its Service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constructs import Construct

from ._render import kplus as _kplus
from ._render import v1 as _v1
from ._render.k8s import KubeObject, emit, metadata
from .model.environment import MetricsSettings, ServiceSettings, V1Settings
from .model.naming import V1Names
from .model.roles import router_mode
from .model.serve_config import ServeConfig
from .service_monitor import ServiceMonitor, ServiceMonitorProps
from .workload import DynamoWorkload, DynamoWorkloadProps, check_replicas

if TYPE_CHECKING:
    import cdk8s_plus_27 as kplus

COMPONENT = "frontend"


@dataclass(frozen=True, kw_only=True)
class FrontendDeploymentProps(DynamoWorkloadProps):
    config: ServeConfig
    """The serve configuration whose Frontend section sets the HTTP port and whose Processor's
    `router` sets the router mode."""
    replicas: int = 1
    """Frontend pods. Default: 1."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of this pod only. Default: none."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of this pod only. Default: none."""
    service: ServiceSettings = ServiceSettings()
    """Default: a ClusterIP Service on port 80."""
    metrics: MetricsSettings = MetricsSettings()
    """`metrics.enabled` with `service_monitor.enabled` adds a ServiceMonitor on the HTTP port.
    Default: none."""
    v1: V1Settings = V1Settings()
    """Settings used by Dynamo 1.x. Default: see V1Settings."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_replicas(self.replicas)


class FrontendDeployment(DynamoWorkload):
    """`python3 -m dynamo.frontend`: the OpenAI HTTP server and router, in pods without GPUs,
    and the Service in front of them (Dynamo 1.x)."""

    def __init__(self, scope: Construct, id: str, props: FrontendDeploymentProps) -> None:
        if not isinstance(props, FrontendDeploymentProps):
            raise TypeError(f"{type(props).__module__}.{type(props).__name__} given; the Dynamo "
                            "1.x FrontendDeployment takes constructs_lib.FrontendDeploymentProps "
                            "(for Dynamo v0.1, use constructs_lib.v0_1.FrontendDeployment)")
        super().__init__(scope, id, props)
        self.http_port = props.config.http_port
        """The HTTP port of the frontend in the pod."""
        names = V1Names(props.full_name)
        self.component = COMPONENT
        self.service_name = names.frontend_service
        """The Service's name."""
        self.selector_labels = props.selector_labels(COMPONENT)
        labels = props.object_labels(COMPONENT)
        container = _v1.frontend_container(props, props.v1, full_name=props.full_name,
                                           http_port=self.http_port,
                                           router_mode=router_mode(props.config))
        template = _v1.pod_template(props, labels={**labels, **props.pod_labels, **props.labels},
                                    annotations={**props.pod_annotations, **props.annotations},
                                    container=container, worker=False,
                                    selector=self.selector_labels)
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
        monitor = props.metrics.service_monitor
        self.service_monitor: ServiceMonitor | None = None
        """The ServiceMonitor on the HTTP port (which serves /metrics), when asked for."""
        if props.metrics.enabled and monitor.enabled:
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
        if self.service_monitor is not None:
            objects.append(self.service_monitor.api_object)
        if self.disruption_budget is not None:
            objects.append(self.disruption_budget)
        return objects
