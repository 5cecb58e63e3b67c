"""FrontendDeployment: the pod that serves the OpenAI API, with its Service and configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdk8s import ApiObject
from constructs import Construct

from ._render import graph as _graph
from ._render import pod_hardening as _pod_hardening
from ._render import probes as _probes
from ._render import v01 as _v01
from ._render import v1 as _v1
from ._render.k8s import emit, metadata
from ._render.sizing import container_resources
from ._render.yaml import dump
from .model.environment import (
    Generation,
    MetricsSettings,
    Mode,
    Resources,
    ServiceSettings,
    V1Settings,
)
from .model.naming import DynamoNames, V1Names
from .model.roles import router_mode
from .model.serve_config import DEFAULT_HTTP_PORT as DEFAULT_HTTP_PORT  # re-exported
from .model.serve_config import Component, ServeConfig
from .service_monitor import ServiceMonitor, ServiceMonitorProps
from .workload import DynamoWorkloadProps, check_workload, emit_deployment

FULL_GRAPH = (Component.FRONTEND, Component.PROCESSOR, Component.ROUTER,
              Component.VLLM_WORKER, Component.PREFILL_WORKER)
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True, kw_only=True)
class FrontendDeploymentProps(DynamoWorkloadProps):
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
    generation: Generation = Generation.V0_1
    """v0.1: `dynamo serve` of the graph in this pod; 1.x: only the HTTP frontend and router,
    without GPUs (workers run in DecodeWorkerPool and PrefillWorkerPool). Default: v0.1."""
    v1: V1Settings = V1Settings()
    """Settings used by Dynamo 1.x. Default: see V1Settings."""

    def __post_init__(self) -> None:
        if not self.graph:
            raise ValueError("graph must link at least one component")
        check_workload(self, replicas=self.replicas, generation=self.generation)


class FrontendDeployment(Construct):
    """The seed's `single` or `multinode-frontend` Deployment, its Service, its configs and
    graph ConfigMaps, and optionally a metrics sidecar and a ServiceMonitor."""

    def __init__(self, scope: Construct, id: str, props: FrontendDeploymentProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.http_port = props.config.http_port
        if props.generation is Generation.V1:
            self._render_v1()
            return
        single = props.mode is Mode.SINGLE
        names = DynamoNames(props.full_name, single=single)
        self.component = names.frontend_component
        self.deployment_name = names.frontend_deployment
        self.service_name = names.frontend_service
        self.configs_config_map_name = names.configs_config_map
        self.graphs_config_map_name = names.graphs_config_map
        self.graph_file = "single.py" if single else "frontend.py"
        self.selector_labels = props.selector_labels(self.component)
        namespace = props.namespace

        emit(self, "Configs", {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(self.configs_config_map_name, namespace,
                                 props.object_labels(self.component)),
            "data": {"configs.yaml": dump(props.config.render())},
        })
        emit(self, "Graphs", {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(self.graphs_config_map_name, namespace,
                                 props.object_labels(self.component)),
            "data": {self.graph_file: _graph.render(props.graph)},
        })

        pod_labels = {**props.object_labels(self.component), **props.pod_labels, **props.labels}
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
        self.deployment: ApiObject
        self.disruption_budget: ApiObject | None
        self.deployment, self.disruption_budget = emit_deployment(
            self, props, name=self.deployment_name, labels=props.object_labels(self.component),
            selector=self.selector_labels, replicas=props.replicas, pod_template=template)

        ports: list[dict[str, Any]] = [
            {"name": _v01.SERVE_PORT_NAME, "port": props.service.port,
             "targetPort": _v01.SERVE_PORT_NAME, "protocol": "TCP"},
        ]
        if props.metrics.enabled:
            ports.append({"name": METRICS_PORT_NAME, "port": props.metrics.port,
                          "targetPort": METRICS_PORT_NAME, "protocol": "TCP"})
        # Pods carry the extra labels too; selecting on them keeps the seed's Service selector.
        self.service_selector = {**self.selector_labels, **props.pod_labels, **props.labels}
        self.service: ApiObject = emit(self, "Service", {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(self.service_name, namespace, props.object_labels(self.component)),
            "spec": {"type": props.service.type, "ports": ports, "selector": self.service_selector},
        })

        monitor = props.metrics.service_monitor
        if props.metrics.enabled and monitor.enabled:
            ServiceMonitor(self, "ServiceMonitor", ServiceMonitorProps(
                name=names.service_monitor,
                namespace=monitor.namespace,
                service_namespace=namespace or "default",
                selector=props.object_labels(self.component),
                labels={**props.object_labels(self.component), **monitor.additional_labels},
                port=METRICS_PORT_NAME,
                interval=monitor.interval,
                honor_labels=monitor.honor_labels,
                relabelings=monitor.relabelings,
            ))

    def _render_v1(self) -> None:
        """Dynamo 1.x: the OpenAI HTTP server and router alone, in a pod without GPUs."""
        props = self.props
        names = V1Names(props.full_name)
        self.component = "frontend"
        self.deployment_name = names.deployment(self.component)
        self.service_name = names.frontend_service
        self.selector_labels = props.selector_labels(self.component)
        labels = props.object_labels(self.component)
        container = _v1.frontend_container(props, props.v1, full_name=props.full_name,
                                           http_port=self.http_port,
                                           router_mode=router_mode(props.config))
        template = _v1.pod_template(props, labels={**labels, **props.pod_labels, **props.labels},
                                    annotations={**props.pod_annotations, **props.annotations},
                                    container=container, worker=False,
                                    selector=self.selector_labels)
        self.deployment, self.disruption_budget = emit_deployment(
            self, props, name=self.deployment_name, labels=labels,
            selector=self.selector_labels, replicas=props.replicas, pod_template=template)
        self.service_selector = {**self.selector_labels, **props.pod_labels, **props.labels}
        self.service = emit(self, "Service", {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(self.service_name, props.namespace, labels),
            "spec": {"type": props.service.type, "selector": self.service_selector, "ports": [
                {"name": _v1.HTTP_PORT_NAME, "port": props.service.port,
                 "targetPort": _v1.HTTP_PORT_NAME, "protocol": "TCP"}]},
        })
        monitor = props.metrics.service_monitor
        if props.metrics.enabled and monitor.enabled:
            # The 1.x frontend serves Prometheus metrics on its HTTP port.
            ServiceMonitor(self, "ServiceMonitor", ServiceMonitorProps(
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

    def _metrics_container(self) -> dict[str, Any]:
        """Dynamo's `metrics` component: reads the decode workers' load metrics over NATS and
        serves them to Prometheus."""
        metrics = self.props.metrics
        image = metrics.image or self.props.image
        container = {
            "name": METRICS_PORT_NAME,
            "image": image.reference,
            "imagePullPolicy": image.pull_policy,
            "command": ["bash", "-lc"],
            "args": [
                f"metrics --component VllmWorker --endpoint load_metrics --port {metrics.port}"],
            "ports": [
                {"name": METRICS_PORT_NAME, "containerPort": metrics.port, "protocol": "TCP"}],
            "env": _v01.dependency_env(self.props) + _pod_hardening.debug_env(self.props),
            "resources": container_resources(metrics.resources, self.props.resource_defaults),
            **(_probes.metrics_probes(METRICS_PORT_NAME) if self.props.probes.enabled else {}),
        }
        _pod_hardening.restrict(container, self.props)
        return container
