"""DecodeWorkerPool: Dynamo 1.x decode workers, one vLLM engine per pod."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from ._render import v1 as _v1
from .model.environment import Resources, V1Settings
from .model.naming import V1Names
from .model.serve_config import Component, ServeConfig
from .workload import DynamoWorkload, DynamoWorkloadProps, check_replicas

COMPONENT = "decode"


@dataclass(frozen=True, kw_only=True)
class DecodeWorkerPoolProps(DynamoWorkloadProps):
    config: ServeConfig
    """The configuration whose VllmWorker section (with Common inheritance) sets the engine."""
    replicas: int = 1
    """Decode pods, one worker each. Default: 1."""
    resources: Resources = Resources()
    """Per pod. Default: no GPUs; CPU and memory from `resource_defaults`."""
    served_model_name: str | None = None
    """The model name clients ask for. Default: the model path."""
    disaggregated: bool = True
    """Hand prefill to a PrefillWorkerPool (`--disaggregation-mode decode`); false runs both
    phases here (`agg`). Default: true."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of these pods only. Default: none."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of these pods only. Default: none."""
    v1: V1Settings = V1Settings()
    """Dynamo 1.x settings (system port, KV connector). Default: see V1Settings."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.config.vllm_worker is None:
            raise ValueError("the decode pool's config needs a VllmWorker section")
        check_replicas(self.replicas)


class DecodeWorkerPool(DynamoWorkload):
    """A Deployment of `python3 -m dynamo.vllm` decode workers."""

    def __init__(self, scope: Construct, id: str, props: DecodeWorkerPoolProps) -> None:
        super().__init__(scope, id, props)
        self.component = COMPONENT
        self.selector_labels = props.selector_labels(COMPONENT)
        labels = props.object_labels(COMPONENT)
        template = _v1.worker_pod_template(
            props, props.v1, engine=props.config.effective(Component.VLLM_WORKER),
            mode=_v1.disaggregation_mode(COMPONENT, props.disaggregated),
            served_model_name=props.served_model_name, resources=props.resources,
            labels={**labels, **props.pod_labels, **props.labels}, selector=self.selector_labels,
            annotations={**props.pod_annotations, **props.annotations})
        self._emit_deployment(props, name=V1Names(props.full_name).deployment(COMPONENT),
                              labels=labels, replicas=props.replicas, pod_template=template)

    def gpu_work(self) -> dict[str, int]:
        return {"decode": self.gpus_per_pod}
