"""PrefillWorkerPool (Dynamo v0.1): pods that only run prefill workers, fed through the NATS
prefill queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from .._render import probes as _probes
from .._render import v01 as _v01
from .._render.k8s import KubeObject, emit, metadata
from .._render.yaml import dump
from ..model.environment import Resources
from ..model.naming import PREFILL_COMPONENT, DynamoNames
from ..model.serve_config import DEFAULT_HTTP_PORT, Component, ServeConfig
from ..rules import Finding, Stage, tagged
from ..rules.dependencies import nats_is_reachable
from ..rules.serve_pods import PodView
from ..rules.serve_rules import etcd_tls_needs_dynamo_v1, pod_problems
from ..workload import DynamoWorkload, check_annotations, check_replicas
from . import _deployment
from ._props import ServeWorkloadProps

COMPONENT = PREFILL_COMPONENT


@dataclass(frozen=True, kw_only=True)
class PrefillWorkerPoolProps(ServeWorkloadProps):
    config: ServeConfig
    """The configs.yaml of the prefill pods (its PrefillWorker section)."""
    graphs_config_map_name: str
    """The graphs ConfigMap to mount: `FrontendDeployment.graphs_config_map_name`."""
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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.config.prefill_worker is None:
            raise ValueError("the prefill pool's config needs a PrefillWorker section")
        check_replicas(self.replicas)
        check_annotations(self, self.annotations)


class PrefillWorkerPool(DynamoWorkload):
    """The seed's `multinode-prefill` Deployment running `dynamo serve` of PrefillWorker, and
    its own configs ConfigMap (Dynamo v0.1)."""

    def __init__(self, scope: Construct, id: str, props: PrefillWorkerPoolProps) -> None:
        if not isinstance(props, PrefillWorkerPoolProps):
            raise TypeError(f"{type(props).__module__}.{type(props).__name__} given; the Dynamo "
                            "v0.1 PrefillWorkerPool takes constructs_lib.v0_1."
                            "PrefillWorkerPoolProps")
        super().__init__(scope, id, props)
        self._props = props
        self.config = props.config
        """The configs.yaml of the prefill pods."""
        self.component = COMPONENT
        names = DynamoNames(props.full_name, single=False)
        self.configs_config_map_name = names.prefill_configs_config_map
        """The configs ConfigMap's name."""
        self.selector_labels = props.selector_labels(COMPONENT)
        object_labels = props.object_labels(COMPONENT)

        self.configs: KubeObject = emit(self, "Configs", {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(self.configs_config_map_name, props.namespace, object_labels),
            "data": {"configs.yaml": dump(props.config.render())},
        })
        """The configs ConfigMap."""
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
        self._emit_deployment(props, name=names.prefill_deployment, labels=object_labels,
                              replicas=props.replicas, pod_template=template)

    def pod_view(self) -> PodView:
        """This Deployment's pod, as the rules read it."""
        return PodView(role="prefill", deployment=self.deployment_name, config=self.config,
                       components=(Component.PREFILL_WORKER,), gpus=self._props.resources.gpus,
                       replicas=self._props.replicas,
                       ports=tuple(p["containerPort"] for c in self.pod_template["spec"]
                                   ["containers"] for p in c.get("ports", [])),
                       host_network=self.host_network, locator=self.locator, subject=self)

    def gpu_work(self) -> dict[str, int]:
        return {"prefill": self.pod_view().prefill_gpus}

    def _objects(self) -> list[KubeObject]:
        objects = [self.deployment, self.configs]
        if self.disruption_budget is not None:
            objects.append(self.disruption_budget)
        return objects

    def _setting_findings(self) -> list[Finding]:
        found = tagged(nats_is_reachable, Stage.SETTING, nats_is_reachable(self))
        found += tagged(etcd_tls_needs_dynamo_v1, Stage.SETTING, etcd_tls_needs_dynamo_v1(
            self._props.etcd_client_tls_secret, self.locator.field, self))
        return found

    def findings(self) -> list[Finding]:
        own = [f for f in pod_problems(_deployment.of(self)) if f.subject is self]
        return [*self._setting_findings(), *own]
