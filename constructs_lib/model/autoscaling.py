"""How a worker pool (prefill or decode) scales: off, an HPA, or a KEDA ScaledObject.

The defaults are sized for a pod that takes up to an hour to load its model (the worker's
startup probe allows 3600 s): a replica added for a burst that is over before the pod is ready
costs GPUs for nothing, and a replica given back too early costs another hour to get back. So
the autoscaler adds pods only for pressure that lasted minutes, one or two at a time, and gives
a pod back only when the lower recommendation held for an hour. While a new pod loads it does
not count: for a `Value` target the HPA multiplies the metric's ratio to the target by the
*ready* pods, and for an `AverageValue` target it divides the total by the target, so a pod
that is still loading does not make it add another one.

A pool never goes below one replica: with no worker of a role the frontend drops the model
from `/v1/models`, and the first request would wait for a whole model load.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .base import MAX_REPLICAS, Duration, StrictModel, at_most

AutoscalerMode = Literal["off", "hpa", "keda"]
PrefillSignal = Literal["ttft_p95", "dispatch_queue"]
DecodeSignal = Literal["itl_p95", "kv_cache_usage"]
Signal = Literal["ttft_p95", "dispatch_queue", "itl_p95", "kv_cache_usage"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "ttft_p95": 2.0,
    "dispatch_queue": 2.0,
    "itl_p95": 0.05,
    "kv_cache_usage": 0.7,
}
"""The default target of each signal (see `threshold`)."""

_UNITS: dict[str, str] = {"ttft_p95": " s", "itl_p95": " s", "kv_cache_usage": "",
                          "dispatch_queue": " requests"}
_AUTOSCALERS: dict[str, str] = {"keda": "KEDA ScaledObject",
                                "hpa": "HPA on a prometheus-adapter External metric"}

# Signals whose value is a total over the pool: the autoscaler divides it by the replicas
# (`AverageValue`). The others are already per-request or per-worker averages (`Value`).
PER_POD_SIGNALS = frozenset({"dispatch_queue"})

# Kubernetes' own limits on an HPA's behavior (autoscaling/v2 validation).
MAX_STABILIZATION_SECONDS = 3600
MAX_POLICY_PERIOD_SECONDS = 1800


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number (write it without quotes)")
    return value


Threshold = Annotated[float, BeforeValidator(_number), Field(gt=0)]
Seconds = Annotated[int, Strict()]
ReplicaBound = Annotated[int, Strict(), Field(json_schema_extra={"maximum": MAX_REPLICAS}),
                         at_most(MAX_REPLICAS, "replicas")]


class KedaAuthentication(StrictModel):
    """The KEDA TriggerAuthentication that holds Prometheus' credentials (create it yourself)."""

    name: str
    """Name of the TriggerAuthentication or ClusterTriggerAuthentication."""
    kind: Literal["TriggerAuthentication", "ClusterTriggerAuthentication"] = (
        "TriggerAuthentication")
    """Default: TriggerAuthentication (in the pool's namespace)."""
    modes: str = "bearer"
    """KEDA's `authModes` for the Prometheus scaler: bearer, basic, tls, custom, or several
    separated by commas. Default: bearer."""


class _PoolAutoscaling(StrictModel):
    mode: AutoscalerMode = "off"
    """`off`: the Deployment keeps its fixed `replicas`. `hpa`: an autoscaling/v2
    HorizontalPodAutoscaler on an External metric that prometheus-adapter serves from the rules
    this project writes out (install prometheus-adapter and load them). `keda`: a KEDA
    ScaledObject with a Prometheus trigger (install KEDA). Not both in one cluster: each
    registers the `v1beta1.external.metrics.k8s.io` API. An autoscaled Deployment (or
    LeaderWorkerSet, for workers that span nodes: it scales whole groups) has no `replicas`
    field, so that applying the manifests again does not undo the autoscaler; with `output:
    dynamo-graph` the autoscaler scales the component's DynamoGraphDeploymentScalingAdapter.
    Default: off."""
    min_replicas: ReplicaBound = 1
    """The fewest workers (pods, or groups of a worker that spans nodes) the autoscaler keeps.
    At least 1: with no worker of this role the frontend drops the model from `/v1/models` and
    a request waits for a whole model load. Default: 1."""
    max_replicas: ReplicaBound | None = Field(None, validate_default=True)
    """The most workers (pods, or groups) the autoscaler may run; required when `mode` is not
    off. The placement plan places this many and checks that they fit the node pool next to
    everything else. Default: none."""
    threshold: Threshold | None = None
    """The target of `signal`: the autoscaler adds pods while the signal is above it and removes
    them while it is below. Default: per signal, `ttft_p95` 2.0 (seconds), `dispatch_queue` 2.0
    (requests waiting per prefill pod, the seed's `max-prefill-queue-size`), `itl_p95` 0.05
    (seconds, 20 tokens a second per stream), `kv_cache_usage` 0.7 (70 % of the decode workers'
    KV cache: room for the sequences in flight to grow before vLLM preempts). Latency targets
    are service-level objectives: set yours."""
    rate_window: Duration = "5m"
    """The window of the rates and quantiles the signal is computed over. Default: 5m (a few
    scrapes at the usual 15-30 s, and short next to the stabilization windows)."""
    polling_interval_seconds: Seconds = Field(30, ge=1)
    """How often KEDA queries Prometheus (`pollingInterval`; the HPA reads KEDA's cached value in
    between). An HPA on prometheus-adapter is evaluated at the cluster's HPA sync period
    (15 s by default) instead. Default: 30."""
    scale_up_stabilization_seconds: Seconds = Field(300, ge=0, le=MAX_STABILIZATION_SECONDS)
    """How long the signal must ask for more pods before any is added: the HPA scales up only to
    the lowest recommendation of this window. Five minutes, so that a burst that passes within
    the hour a new pod takes to load does not start one. Default: 300."""
    scale_up_pods: Seconds = Field(1, ge=1)
    """The most pods added per `scale_up_period_seconds`. Default: 1 for decode (pods of many
    GPUs), 2 for prefill (usually pods of few GPUs)."""
    scale_up_period_seconds: Seconds = Field(600, ge=1, le=MAX_POLICY_PERIOD_SECONDS)
    """The period of `scale_up_pods`. Default: 600."""
    cooldown_seconds: Seconds = Field(3600, ge=0, le=MAX_STABILIZATION_SECONDS)
    """How long the signal must allow fewer pods before one is removed: the HPA's scale-down
    stabilization window (it scales down only to the highest recommendation of this window).
    One hour, the time a pod takes to load: a pod given back sooner may be needed again before
    a replacement could be ready. Kubernetes allows at most 3600. KEDA's own `cooldownPeriod`
    is set to the same value, though KEDA applies it only to scaling to zero, which is not
    offered. Default: 3600."""
    scale_down_pods: Seconds = Field(1, ge=1)
    """The most pods removed per `scale_down_period_seconds`. Default: 1."""
    scale_down_period_seconds: Seconds = Field(600, ge=1, le=MAX_POLICY_PERIOD_SECONDS)
    """The period of `scale_down_pods`: a pool shrinks by at most one pod every ten minutes, so
    the load moves to the remaining pods before the next one goes. Default: 600."""
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """The Prometheus that KEDA queries (`serverAddress`); an HPA reads prometheus-adapter,
    which has its own. Default: http://prometheus-operated.monitoring.svc:9090 (the Service
    prometheus-operator creates for a Prometheus in the `monitoring` namespace)."""
    keda_authentication: KedaAuthentication | None = None
    """Credentials for a Prometheus that asks for them (KEDA only). Default: none."""

    @field_validator("min_replicas")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(
                f"min_replicas is {value}; it must be at least 1: with no worker of a role "
                "the frontend drops the model from /v1/models, and the first request would wait "
                "for a pod to load the model (up to an hour). Scaling to zero is not offered")
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError(f"{value!r} is not an http:// or https:// URL of Prometheus")
        return value

    @field_validator("max_replicas")
    @classmethod
    def _replica_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        # mode and min_replicas are declared before: validated already, unless they failed.
        mode, minimum = info.data.get("mode"), info.data.get("min_replicas")
        if value is None and mode not in (None, "off"):
            raise ValueError(
                f"required with mode {mode}: the most pods of this pool the autoscaler may run "
                "(the placement plan places that many and checks that they fit the nodes)")
        if value is not None and minimum is not None and value < minimum:
            raise ValueError(f"max_replicas {value} is below min_replicas {minimum}; the "
                             "autoscaler keeps between min_replicas and max_replicas pods")
        return value

    @model_validator(mode="after")
    def _threshold_fits_signal(self) -> _PoolAutoscaling:
        if self.signal == "kv_cache_usage" and self.threshold is not None and self.threshold > 1:
            raise ValueError(f"threshold {self.threshold:g} of kv_cache_usage is above 1: it is "
                             "the fraction of the KV cache in use (0.7 means 70 %); received "
                             f"threshold {self.threshold:g} with signal kv_cache_usage")
        return self

    signal: Signal
    """Set by each role's class."""

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def target(self) -> float:
        """`threshold`, or the signal's default."""
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.signal]

    @property
    def per_pod(self) -> bool:
        """The signal is a total over the pool, targeted per pod (`AverageValue`)."""
        return self.signal in PER_POD_SIGNALS

    def summary(self) -> str:
        """The autoscaler, its signal and target in a few words (for the placement plan)."""
        if not self.enabled:
            return "off"
        per_pod = " per pod" if self.per_pod else ""
        return (f"{_AUTOSCALERS[self.mode]} on {self.signal}, target "
                f"{self.target:g}{_UNITS[self.signal]}{per_pod}")

    def planned_replicas(self, replicas: int) -> int:
        """The pod count the placement plan must fit: `max_replicas` when autoscaled, else the
        pool's fixed `replicas`."""
        return self.max_replicas if self.enabled and self.max_replicas else replicas


class PrefillAutoscaling(_PoolAutoscaling):
    """Autoscaling of the prefill pool."""

    signal: PrefillSignal = "dispatch_queue"
    """`dispatch_queue`: requests the frontend has sent to prefill workers that have not
    answered yet, per prefill pod; it rises as soon as prefill falls behind. `ttft_p95`: the
    95th percentile time to first token (seconds) measured by the frontend; what users feel,
    but it also moves with prompt lengths. Default: dispatch_queue."""
    scale_up_pods: Seconds = Field(2, ge=1)
    """The most pods added per `scale_up_period_seconds`. Default: 2 (prefill pods usually
    hold few GPUs)."""


class DecodeAutoscaling(_PoolAutoscaling):
    """Autoscaling of the decode pool (the aggregated workers in an aggregated deployment)."""

    signal: DecodeSignal = "itl_p95"
    """`itl_p95`: the 95th percentile inter-token latency (seconds) measured by the frontend;
    works with every router mode. `kv_cache_usage`: the average fraction of the decode workers'
    KV cache in use, as the KV router sees it; it rises before latency does, but exists only
    with the KV router (`--router-mode kv`). Default: itl_p95."""


PoolAutoscaling = PrefillAutoscaling | DecodeAutoscaling
