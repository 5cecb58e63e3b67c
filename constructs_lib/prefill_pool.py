"""PrefillWorkerPool (Dynamo 1.x): prefill workers, one vLLM engine per pod."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from .model.autoscaling import PrefillAutoscaling
from .worker_pool import WorkerPool, WorkerPoolProps, check_autoscaling


@dataclass(frozen=True, kw_only=True)
class PrefillWorkerPoolProps(WorkerPoolProps):
    """The props of a prefill pool: those of every worker pool, and its autoscaling."""

    autoscaling: PrefillAutoscaling = PrefillAutoscaling()
    """Scale the pool with a KEDA ScaledObject or an HPA on the frontend's prefill dispatch
    queue (`dispatch_queue`) or time to first token (`ttft_p95`); the Deployment (or the
    LeaderWorkerSet, whose groups it scales) then has no `replicas` (leave `replicas` at its
    default) and the placement plan counts `max_replicas` workers. Default: off (fixed
    `replicas`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_autoscaling(self, self.autoscaling)


class PrefillWorkerPool(WorkerPool):
    """A Deployment of `python3 -m dynamo.vllm --disaggregation-mode prefill` workers, which
    compute the prompts' KV cache and hand it to the decode workers (Dynamo 1.x; for v0.1,
    constructs_lib.v0_1.PrefillWorkerPool)."""

    role = "prefill"

    def __init__(self, scope: Construct, id: str, props: PrefillWorkerPoolProps) -> None:
        if not isinstance(props, PrefillWorkerPoolProps):
            raise TypeError(f"{type(props).__module__}.{type(props).__name__} given; the Dynamo "
                            "1.x PrefillWorkerPool takes constructs_lib.PrefillWorkerPoolProps "
                            "(for Dynamo v0.1, use constructs_lib.v0_1.PrefillWorkerPool)")
        super().__init__(scope, id, props, disaggregation_mode="prefill",
                         autoscaling=props.autoscaling)
