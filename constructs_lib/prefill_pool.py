"""PrefillWorkerPool: pods that only run prefill workers, fed through the NATS prefill queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cdk8s import ApiObject
from constructs import Construct

from ._render import probes as _probes
from ._render import v01 as _v01
from ._render import v1 as _v1
from ._render.k8s import emit, metadata
from ._render.yaml import dump
from .model.environment import Generation, Resources, V1Settings
from .model.naming import PREFILL_COMPONENT, DynamoNames, V1Names
from .model.serve_config import DEFAULT_HTTP_PORT, Component, ServeConfig
from .workload import DynamoWorkloadProps, check_workload, emit_deployment

COMPONENT = PREFILL_COMPONENT


@dataclass(frozen=True, kw_only=True)
class PrefillWorkerPoolProps(DynamoWorkloadProps):
    config: ServeConfig
    """The configs.yaml of the prefill pods (its PrefillWorker section)."""
    graphs_config_map_name: str | None = None
    """The graphs ConfigMap to mount, e.g. `FrontendDeployment.graphs_config_map_name`.
    Required for Dynamo v0.1. Default: none."""
    http_port: int = DEFAULT_HTTP_PORT
    """The port declared on the container, as the seed does. Default: 8000."""
    replicas: int = 1
    """Prefill pods. Default: 1."""
    resources: Resources = Resources()
    """Per pod. Default: no GPUs; CPU and memory from `resource_defaults`."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of these pods only. Default: none."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of these pods only. Default: none."""
    generation: Generation = Generation.V0_1
    """v0.1: pods of `dynamo serve` PrefillWorkers; 1.x: one `dynamo.vllm` prefill worker per
    pod (`replicas` workers, `resources` each). Default: v0.1."""
    served_model_name: str | None = None
    """1.x: the model name clients ask for. Default: the model path."""
    v1: V1Settings = V1Settings()
    """Dynamo 1.x settings (system port, KV connector). Default: see V1Settings."""

    def __post_init__(self) -> None:
        if self.generation is Generation.V0_1 and not self.graphs_config_map_name:
            raise ValueError("Dynamo v0.1 prefill pods need graphs_config_map_name")
        if self.config.prefill_worker is None:
            raise ValueError("the prefill pool's config needs a PrefillWorker section")
        check_workload(self, replicas=self.replicas, generation=self.generation)


class PrefillWorkerPool(Construct):
    """The seed's `multinode-prefill` Deployment and its own configs ConfigMap."""

    def __init__(self, scope: Construct, id: str, props: PrefillWorkerPoolProps) -> None:
        super().__init__(scope, id)
        self.props = props
        if props.generation is Generation.V1:
            self._render_v1()
            return
        self.component = COMPONENT
        names = DynamoNames(props.full_name, single=False)
        self.deployment_name = names.prefill_deployment
        self.configs_config_map_name = names.prefill_configs_config_map
        self.selector_labels = props.selector_labels(COMPONENT)
        object_labels = props.object_labels(COMPONENT)
        assert props.graphs_config_map_name is not None

        emit(self, "Configs", {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(self.configs_config_map_name, props.namespace, object_labels),
            "data": {"configs.yaml": dump(props.config.render())},
        })
        container = _v01.serve_container(
            props,
            # The seed names this container "frontend"; kept so `kubectl logs -c` keeps working.
            name="frontend",
            target=f"{Component.PREFILL_WORKER.module}:{Component.PREFILL_WORKER.value}",
            port=props.http_port,
            resources=props.resources,
            # Prefill workers open no port: probes check that their processes run.
            probes=_probes.worker_probes(props.probes),
        )
        template = _v01.pod_template(
            props,
            labels={**object_labels, **props.pod_labels, **props.labels},
            annotations={**props.pod_annotations, **props.annotations},
            containers=[container],
            configs_config_map=self.configs_config_map_name,
            graphs_config_map=props.graphs_config_map_name,
            gpus=props.resources.gpus,
            selector=self.selector_labels,
        )
        self.deployment: ApiObject
        self.disruption_budget: ApiObject | None
        self.deployment, self.disruption_budget = emit_deployment(
            self, props, name=self.deployment_name, labels=object_labels,
            selector=self.selector_labels, replicas=props.replicas, pod_template=template)

    def _render_v1(self) -> None:
        """Dynamo 1.x: one `dynamo.vllm --disaggregation-mode prefill` worker per pod."""
        props = self.props
        self.component = "prefill"
        self.deployment_name = V1Names(props.full_name).deployment(self.component)
        self.selector_labels = props.selector_labels(self.component)
        labels = props.object_labels(self.component)
        template = _v1.worker_pod_template(
            props, props.v1, engine=props.config.effective(Component.PREFILL_WORKER),
            mode="prefill", served_model_name=props.served_model_name, resources=props.resources,
            labels={**labels, **props.pod_labels, **props.labels}, selector=self.selector_labels,
            annotations={**props.pod_annotations, **props.annotations})
        self.deployment, self.disruption_budget = emit_deployment(
            self, props, name=self.deployment_name, labels=labels,
            selector=self.selector_labels, replicas=props.replicas, pod_template=template)
