"""FrontendDeployment (Dynamo v0.1): the `dynamo serve` pod that serves the OpenAI API, with its
Service and configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from .._render import graph as _graph
from .._render import kplus as _kplus
from .._render import pod_hardening as _pod_hardening
from .._render import probes as _probes
from .._render import v01 as _v01
from .._render.k8s import KubeObject, emit, metadata
from .._render.sizing import container_resources
from .._render.yaml import dump
from ..model.environment import MetricsSettings, Mode, Resources, ServiceSettings
from ..model.naming import DynamoNames
from ..model.serve_config import DEFAULT_HTTP_PORT as DEFAULT_HTTP_PORT  # re-exported
from ..model.serve_config import Component, ServeConfig
from ..rules import Finding, Stage, tagged
from ..rules.dependencies import nats_is_reachable
from ..rules.serve_pods import PodView
from ..rules.serve_rules import etcd_tls_needs_dynamo_v1, pod_problems, ports_are_distinct
from ..service_monitor import ServiceMonitor, ServiceMonitorProps
from ..workload import DynamoWorkload, check_annotations, check_replicas
from . import _deployment
from ._props import ServeWorkloadProps

if TYPE_CHECKING:
    import cdk8s_plus_27 as kplus

FULL_GRAPH = (Component.FRONTEND, Component.PROCESSOR, Component.ROUTER,
              Component.VLLM_WORKER, Component.PREFILL_WORKER)
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True, kw_only=True)
class FrontendDeploymentProps(ServeWorkloadProps):
    config: ServeConfig
    """The configs.yaml that `dynamo serve` reads."""
    mode: Mode = Mode.SINGLE
    """single: the whole graph in this pod; multinode: prefill runs in a PrefillWorkerPool
    too. Default: single."""
    graph: Sequence[Component] = FULL_GRAPH
    """The components linked in this pod, in order. Default: Frontend, Processor, Router,
    VllmWorker, PrefillWorker."""
    replicas: int = 1
    """Frontend pods. Default: 1."""
    resources: Resources = Resources()
    """Default: no GPUs; CPU and memory from `resource_defaults`."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of this pod only. Default: none."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of this pod only. Default: none."""
    service: ServiceSettings = ServiceSettings()
    """Default: a ClusterIP Service on port 80."""
    metrics: MetricsSettings = MetricsSettings()
    """Default: no metrics sidecar."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.graph:
            raise ValueError("graph must link at least one component")
        if not isinstance(self.mode, Mode):
            raise TypeError(f"mode must be a Mode (Mode.SINGLE or Mode.MULTINODE), got "
                            f"{self.mode!r}")
        check_replicas(self.replicas)
        check_annotations(self, self.annotations)


class FrontendDeployment(DynamoWorkload):
    """The seed's `single` or `multinode-frontend` Deployment running `dynamo serve`, its
    Service, its configs and graph ConfigMaps, and optionally a metrics sidecar and a
    ServiceMonitor (Dynamo v0.1)."""

    def __init__(self, scope: Construct, id: str, props: FrontendDeploymentProps) -> None:
        if not isinstance(props, FrontendDeploymentProps):
            raise TypeError(f"{type(props).__module__}.{type(props).__name__} given; the Dynamo "
                            "v0.1 FrontendDeployment takes constructs_lib.v0_1."
                            "FrontendDeploymentProps")
        super().__init__(scope, id, props)
        self._props = props
        self.http_port = props.config.http_port
        """The port `dynamo serve`'s Frontend listens on in the pod."""
        self.mode = props.mode
        """single or multinode."""
        self.config = props.config
        """The configs.yaml this pod runs."""
        self.graph = tuple(props.graph)
        """The components this pod links, in order."""
        single = props.mode is Mode.SINGLE
        names = DynamoNames(props.full_name, single=single)
        self.component = names.frontend_component
        self.service_name = names.frontend_service
        """The Service's name."""
        self.configs_config_map_name = names.configs_config_map
        """The configs ConfigMap's name."""
        self.graphs_config_map_name = names.graphs_config_map
        """The graphs ConfigMap's name (a PrefillWorkerPool mounts it too)."""
        self.graph_file = "single.py" if single else "frontend.py"
        """The graph module in the graphs ConfigMap."""
        self.selector_labels = props.selector_labels(self.component)
        namespace = props.namespace
        object_labels = props.object_labels(self.component)

        self.configs: KubeObject = emit(self, "Configs", {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(self.configs_config_map_name, namespace, object_labels),
            "data": {"configs.yaml": dump(props.config.render())},
        })
        """The configs ConfigMap."""
        self.graphs: KubeObject = emit(self, "Graphs", {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(self.graphs_config_map_name, namespace, object_labels),
            "data": {self.graph_file: _graph.render(props.graph)},
        })
        """The graphs ConfigMap."""

        pod_labels = {**object_labels, **props.pod_labels, **props.labels}
        serves_http = props.graph[0] is Component.FRONTEND
        frontend_section = props.config.frontend
        probes = (_probes.frontend_probes(
            props.probes, port_name=_v01.SERVE_PORT_NAME, port=self.http_port,
            served_model_name=frontend_section.served_model_name if frontend_section else None)
            if serves_http else _probes.worker_probes(props.probes))
        containers = [_v01.serve_container(
            props,
            name="single" if single else "frontend",
            target=f"graphs.{self.graph_file.removesuffix('.py')}:{props.graph[0].value}",
            port=self.http_port,
            resources=props.resources,
            probes=probes,
        )]
        if props.metrics.enabled:
            containers.append(self._metrics_container())
        template = _v01.pod_template(
            props,
            labels=pod_labels,
            annotations={**props.pod_annotations, **props.annotations},
            containers=containers,
            configs_config_map=self.configs_config_map_name,
            graphs_config_map=self.graphs_config_map_name,
            gpus=props.resources.gpus,
            selector=self.selector_labels,
        )

        ports: list[dict[str, Any]] = [
            {"name": _v01.SERVE_PORT_NAME, "port": props.service.port,
             "targetPort": _v01.SERVE_PORT_NAME, "protocol": "TCP"},
        ]
        if props.metrics.enabled:
            ports.append({"name": METRICS_PORT_NAME, "port": props.metrics.port,
                          "targetPort": METRICS_PORT_NAME, "protocol": "TCP"})
        # Pods carry the extra labels too; selecting on them keeps the seed's Service selector.
        self.service_selector = {**self.selector_labels, **props.pod_labels, **props.labels}
        """The labels the Service selects pods by."""
        self.service: KubeObject = emit(self, "Service", {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(self.service_name, namespace, object_labels),
            "spec": {"type": props.service.type, "ports": ports, "selector": self.service_selector},
        })
        """The Service in front of the pods."""

        monitor = props.metrics.service_monitor
        self.service_monitor: ServiceMonitor | None = None
        """The ServiceMonitor of the metrics sidecar, when asked for."""
        if props.metrics.enabled and monitor.enabled:
            self.service_monitor = ServiceMonitor(self, "ServiceMonitor", ServiceMonitorProps(
                name=names.service_monitor,
                namespace=monitor.namespace,
                service_namespace=namespace or "default",
                selector=object_labels,
                labels={**object_labels, **monitor.additional_labels},
                port=METRICS_PORT_NAME,
                interval=monitor.interval,
                honor_labels=monitor.honor_labels,
                relabelings=monitor.relabelings,
            ))
        self._emit_deployment(props, name=names.frontend_deployment, labels=object_labels,
                              replicas=props.replicas, pod_template=template)

    def ingress_backend(self, port: int | None = None) -> kplus.IngressBackend:
        """A cdk8s-plus-27 IngressBackend routing to this Service's port `port` (default: its
        first, the HTTP API), for `kplus.Ingress(...).add_rule(path, backend)`."""
        return _kplus.ingress_backend(self.service.manifest, port)

    def _metrics_container(self) -> dict[str, Any]:
        """Dynamo's `metrics` component: reads the decode workers' load metrics over NATS and
        serves them to Prometheus."""
        props = self._props
        metrics = props.metrics
        image = metrics.image or props.image
        container = {
            "name": METRICS_PORT_NAME,
            "image": image.reference,
            "imagePullPolicy": image.pull_policy,
            "command": ["bash", "-lc"],
            "args": [
                f"metrics --component VllmWorker --endpoint load_metrics --port {metrics.port}"],
            "ports": [
                {"name": METRICS_PORT_NAME, "containerPort": metrics.port, "protocol": "TCP"}],
            "env": _v01.dependency_env(props) + _pod_hardening.debug_env(props),
            "resources": container_resources(metrics.resources, props.resource_defaults),
            **(_probes.metrics_probes(METRICS_PORT_NAME) if props.probes.enabled else {}),
        }
        _pod_hardening.restrict(container, props)
        return container

    def pod_view(self) -> PodView:
        """This Deployment's pod, as the rules read it."""
        return PodView(role="frontend", deployment=self.deployment_name, config=self.config,
                       components=self.graph, gpus=self._props.resources.gpus,
                       replicas=self._props.replicas,
                       ports=tuple(p["containerPort"] for c in self.pod_template["spec"]
                                   ["containers"] for p in c.get("ports", [])),
                       host_network=self.host_network, locator=self.locator, subject=self)

    def gpu_work(self) -> dict[str, int]:
        view = self.pod_view()
        return {"decode": view.decode_gpus, "prefill": view.prefill_gpus}

    def _objects(self) -> list[KubeObject]:
        objects = [self.deployment, self.service, self.configs, self.graphs]
        if self.service_monitor is not None:
            objects.append(self.service_monitor.api_object)
        if self.disruption_budget is not None:
            objects.append(self.disruption_budget)
        return objects

    def _setting_findings(self) -> list[Finding]:
        """Names, ports and dependencies: what is wrong before any pod is considered."""
        props = self._props
        where = self.locator.field
        found = tagged(nats_is_reachable, Stage.SETTING, nats_is_reachable(self))
        if props.metrics.enabled:
            written = (where("config.Frontend.port") if props.config.frontend
                       and props.config.frontend.port else "the default serve port")
            found += tagged(ports_are_distinct, Stage.SETTING, ports_are_distinct(
                metrics_port=props.metrics.port, serve_port=self.http_port,
                service_port=props.service.port, serve_port_written=written, where=where,
                subject=self))
        found += tagged(etcd_tls_needs_dynamo_v1, Stage.SETTING, etcd_tls_needs_dynamo_v1(
            props.etcd_client_tls_secret, self.locator.field, self))
        return found

    def findings(self) -> list[Finding]:
        own = [f for f in pod_problems(_deployment.of(self)) if f.subject is self]
        return [*self._setting_findings(), *own]
