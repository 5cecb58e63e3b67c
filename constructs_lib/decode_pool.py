"""DecodeWorkerPool: Dynamo 1.x decode workers (or aggregated ones), one vLLM engine per pod."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from .model.autoscaling import DecodeAutoscaling
from .worker_pool import WorkerPool, WorkerPoolProps, check_autoscaling


@dataclass(frozen=True, kw_only=True)
class DecodeWorkerPoolProps(WorkerPoolProps):
    disaggregated: bool = True
    """A PrefillWorkerPool computes the prompts' KV cache (`--disaggregation-mode decode`);
    false runs both phases here (`agg`). Default: true."""
    autoscaling: DecodeAutoscaling = DecodeAutoscaling()
    """Scale the pool with a KEDA ScaledObject or an HPA on the frontend's inter-token latency
    (`itl_p95`) or the KV router's KV cache usage (`kv_cache_usage`); the Deployment (or the
    LeaderWorkerSet, whose groups it scales) then has no `replicas` (leave `replicas` at its
    default) and the placement plan counts `max_replicas` workers. Default: off (fixed
    `replicas`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_autoscaling(self, self.autoscaling)


class DecodeWorkerPool(WorkerPool):
    """A Deployment of `python3 -m dynamo.vllm` decode workers, which generate the tokens
    (Dynamo 1.x)."""

    role = "decode"

    def __init__(self, scope: Construct, id: str, props: DecodeWorkerPoolProps) -> None:
        if not isinstance(props, DecodeWorkerPoolProps):
            raise TypeError(f"{type(props).__module__}.{type(props).__name__} given; "
                            "DecodeWorkerPool takes constructs_lib.DecodeWorkerPoolProps")
        super().__init__(scope, id, props,
                         disaggregation_mode="decode" if props.disaggregated else "agg",
                         autoscaling=props.autoscaling)
