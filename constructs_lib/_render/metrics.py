"""The Dynamo 1.x metrics that autoscalers and dashboards use, and the PromQL built on them.

One catalogue, so that a test can check every name against what the pinned runtime exports: the
end-to-end test (tests/e2e/test_synthesized_environment.py) scrapes the real 1.6.1 frontend's
and `dynamo.mocker` workers' `/metrics` and asserts that every selector of every query below
matches a scraped series, label names and values included.

What the runtime exports (measured with ai-dynamo 1.6.1, single-node-v1 run locally):

- The frontend (`python3 -m dynamo.frontend`, its HTTP port): `dynamo_frontend_*`, most labelled
  `model` (the served model name); `stage_requests` is labelled `stage` and `phase` only; the
  per-worker gauges `worker_active_decode_blocks` and `worker_active_prefill_tokens` are
  labelled `worker_id`, `dp_rank` and `worker_type` (prefill or decode) and exist only with the
  KV router (`--router-mode kv`): a round-robin frontend has none.
- Each worker (`python3 -m dynamo.vllm`, its system port `DYN_SYSTEM_PORT`): the runtime's
  request-plane metrics `dynamo_component_*` labelled `dynamo_namespace` (DYN_NAMESPACE with
  every character outside [A-Za-z0-9_] turned into `_`), `dynamo_component` (`prefill` for a
  prefill worker, `backend` for a decode or aggregated one), `dynamo_endpoint` and `worker_id`.

Left out on purpose, because a local run cannot prove them:
`dynamo_component_gpu_cache_usage_percent` and `dynamo_component_total_blocks` (dynamo.vllm
sets them from vLLM's stats; the mock engine does not), and vLLM's own `vllm:*` metrics (a real
engine passes them through; the mock engine exports look-alikes on decode workers only, which
proves nothing about vLLM). The KV cache usage here is the KV router's view: blocks of the
sequences it has routed to each decode worker, over the worker's KV blocks.

Prometheus adds the Kubernetes `namespace` label (and `pod`, `service`, `job`, ...) when it
scrapes through a ServiceMonitor or PodMonitor; every query filters on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["prefill", "decode"]
Source = Literal["frontend", "worker"]
MetricKind = Literal["counter", "gauge", "histogram"]

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Metric:
    """One metric family as the runtime exports it."""

    name: str
    kind: MetricKind
    source: Source
    """Which process exports it: the frontend (HTTP port) or a worker (system port)."""
    labels: frozenset[str]
    """The labels the runtime puts on it (measured), besides `le` on histogram buckets."""
    description: str


def _metric(name: str, kind: MetricKind, source: Source, labels: Sequence[str],
            description: str) -> Metric:
    return Metric(name, kind, source, frozenset(labels), description)


_WORKER_LABELS = ("dynamo_namespace", "dynamo_component", "dynamo_endpoint", "worker_id")
_PER_WORKER = ("worker_id", "dp_rank", "worker_type")

REQUESTS_TOTAL = _metric(
    "dynamo_frontend_requests_total", "counter", "frontend",
    ("model", "endpoint", "request_type", "status", "error_type"),
    "Requests the frontend finished, by status (success, error).")
OUTPUT_TOKENS_TOTAL = _metric(
    "dynamo_frontend_output_tokens_total", "counter", "frontend", ("model",),
    "Tokens generated, counted as they stream.")
TIME_TO_FIRST_TOKEN = _metric(
    "dynamo_frontend_time_to_first_token_seconds", "histogram", "frontend", ("model",),
    "Time to first token as the client sees it: queueing, prefill and KV transfer.")
INTER_TOKEN_LATENCY = _metric(
    "dynamo_frontend_inter_token_latency_seconds", "histogram", "frontend", ("model",),
    "Time between two streamed tokens: the decode workers' step time under their load.")
REQUEST_DURATION = _metric(
    "dynamo_frontend_request_duration_seconds", "histogram", "frontend", ("model",),
    "End-to-end request duration.")
INFLIGHT_REQUESTS = _metric(
    "dynamo_frontend_inflight_requests", "gauge", "frontend", ("model",),
    "Requests in flight to the engines.")
QUEUED_REQUESTS = _metric(
    "dynamo_frontend_queued_requests", "gauge", "frontend", ("model",),
    "Requests in the frontend's HTTP queue that have not received a first response yet.")
MODEL_READY = _metric(
    "dynamo_frontend_model_ready", "gauge", "frontend", ("model",),
    "1 while the frontend can route a request for the model.")
MODEL_TOTAL_KV_BLOCKS = _metric(
    "dynamo_frontend_model_total_kv_blocks", "gauge", "frontend", ("model",),
    "KV cache blocks of one decode worker (one data-parallel rank) serving the model.")
STAGE_REQUESTS = _metric(
    "dynamo_frontend_stage_requests", "gauge", "frontend", ("stage", "phase"),
    "Requests in each stage of the frontend's pipeline: preprocess, route, dispatch (sent to a "
    "worker, no answer yet); phase is prefill, decode or aggregated.")
WORKER_ACTIVE_DECODE_BLOCKS = _metric(
    "dynamo_frontend_worker_active_decode_blocks", "gauge", "frontend", _PER_WORKER,
    "KV blocks of the sequences the KV router has on each worker (KV router only).")
WORKER_ACTIVE_PREFILL_TOKENS = _metric(
    "dynamo_frontend_worker_active_prefill_tokens", "gauge", "frontend", _PER_WORKER,
    "Prompt tokens the KV router has queued on each worker for prefill (KV router only).")
COMPONENT_INFLIGHT_REQUESTS = _metric(
    "dynamo_component_inflight_requests", "gauge", "worker", _WORKER_LABELS,
    "Requests a worker's endpoint is handling.")
COMPONENT_REQUESTS_TOTAL = _metric(
    "dynamo_component_requests_total", "counter", "worker", _WORKER_LABELS,
    "Requests a worker's endpoint has handled.")
COMPONENT_REQUEST_DURATION = _metric(
    "dynamo_component_request_duration_seconds", "histogram", "worker", _WORKER_LABELS,
    "How long a worker's endpoint took per request.")

CATALOGUE: tuple[Metric, ...] = (
    REQUESTS_TOTAL, OUTPUT_TOKENS_TOTAL, TIME_TO_FIRST_TOKEN, INTER_TOKEN_LATENCY,
    REQUEST_DURATION, INFLIGHT_REQUESTS, QUEUED_REQUESTS, MODEL_READY, MODEL_TOTAL_KV_BLOCKS,
    STAGE_REQUESTS, WORKER_ACTIVE_DECODE_BLOCKS, WORKER_ACTIVE_PREFILL_TOKENS,
    COMPONENT_INFLIGHT_REQUESTS, COMPONENT_REQUESTS_TOTAL, COMPONENT_REQUEST_DURATION,
)  # fmt: skip
BY_NAME: dict[str, Metric] = {metric.name: metric for metric in CATALOGUE}

# The worker's `dynamo_component` label per role (dynamo.vllm's args: prefill, else backend).
WORKER_COMPONENT: dict[Role, str] = {"prefill": "prefill", "decode": "backend"}
# The endpoint that serves inference; a worker also has internal ones (KV queries).
GENERATE_ENDPOINT = "generate"


def dynamo_namespace_label(dynamo_namespace: str) -> str:
    """The value of the `dynamo_namespace` label for a DYN_NAMESPACE: the runtime turns every
    character outside [A-Za-z0-9_] into `_` (measured: `rel-dynamo` is labelled `rel_dynamo`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", dynamo_namespace)


@dataclass(frozen=True, kw_only=True)
class MetricScope:
    """Which series belong to one deployment: the label filters every query applies."""

    namespace: str
    """The Kubernetes namespace of the Deployments (Prometheus' `namespace` target label)."""
    dynamo_namespace: str
    """DYN_NAMESPACE of the deployment, as configured (the label value is derived)."""
    model: str
    """The served model name (the frontend's `model` label)."""
    disaggregated: bool = True
    """Separate prefill and decode workers. Aggregated workers are labelled `aggregated` in the
    frontend's `phase` and `worker_type`; the decode role then means them. Default: true."""
    namespace_label: str = "namespace"
    """The label that carries the Kubernetes namespace. Default: namespace (prometheus-operator
    and the usual Kubernetes scrape configurations)."""
    frontend_matchers: Mapping[str, str] = field(default_factory=dict)
    """Extra exact label filters on the frontend's series, for example the `service` or `job`
    label of its ServiceMonitor when several frontends share a namespace. Default: none."""
    worker_matchers: Mapping[str, str] = field(default_factory=dict)
    """Extra exact label filters on the workers' series. Default: none."""

    def phase(self, role: Role) -> str:
        """The frontend's `phase` and `worker_type` label value for a role."""
        return role if self.disaggregated else "aggregated"


@dataclass(frozen=True)
class Selector:
    """`metric<suffix>{label="value", ...}`: one series selector of a query."""

    metric: Metric
    suffix: str
    matchers: tuple[tuple[str, str], ...]
    """Exact-match filters, label name and value, in the order written."""

    @property
    def series(self) -> str:
        return self.metric.name + self.suffix

    def __str__(self) -> str:
        inner = ",".join(f'{label}="{_escape(value)}"' for label, value in self.matchers)
        return f"{self.series}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class Query:
    """A PromQL expression and the selectors it is built from."""

    expr: str
    selectors: tuple[Selector, ...]
    unit: str
    """Grafana unit id of the result: s, percentunit, reqps, short, ..."""
    legend: str = ""
    """Grafana legend format for the series it returns. Default: none."""

    @property
    def metrics(self) -> frozenset[Metric]:
        return frozenset(selector.metric for selector in self.selectors)


# Labels Prometheus sets on every series it scrapes through prometheus-operator (a runtime label
# of the same name is renamed exported_<name>, as the frontend's `endpoint` of requests_total).
TARGET_LABELS = frozenset({"namespace", "pod", "service", "job", "instance", "endpoint",
                           "container"})


def select(metric: Metric, scope: MetricScope, suffix: str = "",
           **matchers: str) -> Selector:
    """A selector for `metric` within `scope`: the namespace, the scope's own labels where the
    metric carries them, and `matchers` (which must be labels the metric carries)."""
    if suffix and (metric.kind != "histogram" or suffix not in HISTOGRAM_SUFFIXES):
        raise ValueError(f"{metric.name} is a {metric.kind}; no series {metric.name}{suffix}")
    if not suffix and metric.kind == "histogram":
        raise ValueError(f"{metric.name} is a histogram: select _bucket, _sum or _count")
    unknown = set(matchers) - metric.labels
    if unknown:
        raise ValueError(f"{metric.name} has no label {sorted(unknown)}; it has "
                         f"{sorted(metric.labels)}")
    clashing = set(matchers) & TARGET_LABELS
    if clashing:
        raise ValueError(f"{metric.name}: {sorted(clashing)} clashes with a label Prometheus sets "
                         "on every target, which renames the runtime's to exported_<name>")
    pairs: list[tuple[str, str]] = [(scope.namespace_label, scope.namespace)]
    extra = scope.frontend_matchers if metric.source == "frontend" else scope.worker_matchers
    pairs += sorted(extra.items())
    if "model" in metric.labels:
        pairs.append(("model", scope.model))
    if "dynamo_namespace" in metric.labels:
        pairs.append(("dynamo_namespace", dynamo_namespace_label(scope.dynamo_namespace)))
    pairs += matchers.items()
    return Selector(metric, suffix, tuple(pairs))


# --------------------------------------------------------------------------- queries


def quantile(metric: Metric, scope: MetricScope, q: float, window: str,
             legend: str = "") -> Query:
    """The `q` quantile of a frontend histogram over all its series, across frontend pods."""
    if not 0 < q < 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    bucket = select(metric, scope, "_bucket")
    expr = f"histogram_quantile({q:g}, sum by (le) (rate({bucket}[{window}])))"
    return Query(expr, (bucket,), "s", legend or f"p{q * 100:g}")


def ttft_quantile(scope: MetricScope, q: float, window: str) -> Query:
    return quantile(TIME_TO_FIRST_TOKEN, scope, q, window)


def itl_quantile(scope: MetricScope, q: float, window: str) -> Query:
    return quantile(INTER_TOKEN_LATENCY, scope, q, window)


def idle_as_zero(query: Query, scope: MetricScope) -> Query:
    """`query`, but 0 instead of no value (NaN) while the frontend serves the model and no
    request finished in the window; still no value when the frontend is not scraped at all.

    A latency quantile over an idle window is NaN: an autoscaler should read that as "no
    pressure" (and scale down in time), not as an error. When the frontend is gone, no value
    makes KEDA and the HPA keep the current replicas, rather than scale down on a blind spot.
    """
    ready = select(MODEL_READY, scope)
    expr = f"(({query.expr}) >= 0) or on() (0 * max({ready}))"
    return Query(expr, (*query.selectors, ready), query.unit, query.legend)


def request_rate(scope: MetricScope, window: str) -> Query:
    """Finished requests per second, by status."""
    total = select(REQUESTS_TOTAL, scope)
    return Query(f"sum by (status) (rate({total}[{window}]))", (total,), "reqps", "{{status}}")


def output_token_rate(scope: MetricScope, window: str) -> Query:
    total = select(OUTPUT_TOKENS_TOTAL, scope)
    return Query(f"sum(rate({total}[{window}]))", (total,), "short", "tokens/s")


def inflight_requests(scope: MetricScope) -> Query:
    gauge = select(INFLIGHT_REQUESTS, scope)
    return Query(f"sum({gauge})", (gauge,), "short", "in flight")


def queued_requests(scope: MetricScope) -> Query:
    gauge = select(QUEUED_REQUESTS, scope)
    return Query(f"sum({gauge})", (gauge,), "short", "waiting for a first token")


def stage_depths(scope: MetricScope) -> Query:
    """Requests in each stage of the frontend's pipeline, by stage and phase."""
    gauge = select(STAGE_REQUESTS, scope)
    return Query(f"sum by (stage, phase) ({gauge})", (gauge,), "short", "{{stage}} {{phase}}")


def dispatch_queue(scope: MetricScope, role: Role) -> Query:
    """Requests the frontend has dispatched to the role's workers that have not answered yet,
    summed over frontend pods: the role's queue."""
    gauge = select(STAGE_REQUESTS, scope, stage="dispatch", phase=scope.phase(role))
    return Query(f"sum({gauge})", (gauge,), "short", f"{role} dispatch queue")


def kv_cache_usage(scope: MetricScope) -> Query:
    """Average fraction of the decode workers' KV cache blocks in use, as the KV router sees it:
    active blocks per worker and data-parallel rank (summed over frontend pods, each routing its
    own share), over one rank's KV blocks. Needs the KV router."""
    active = select(WORKER_ACTIVE_DECODE_BLOCKS, scope, worker_type=scope.phase("decode"))
    total = select(MODEL_TOTAL_KV_BLOCKS, scope)
    expr = (f"avg(sum by (worker_id, dp_rank) ({active}))"
            f" / scalar(max({total}))")
    return Query(expr, (active, total), "percentunit", "KV cache in use")


def kv_cache_usage_per_worker(scope: MetricScope) -> Query:
    active = select(WORKER_ACTIVE_DECODE_BLOCKS, scope, worker_type=scope.phase("decode"))
    total = select(MODEL_TOTAL_KV_BLOCKS, scope)
    expr = f"sum by (worker_id, dp_rank) ({active}) / scalar(max({total}))"
    return Query(expr, (active, total), "percentunit", "worker {{worker_id}} rank {{dp_rank}}")


def active_prefill_tokens(scope: MetricScope) -> Query:
    gauge = select(WORKER_ACTIVE_PREFILL_TOKENS, scope, worker_type=scope.phase("prefill"))
    expr = f"sum by (worker_id, dp_rank) ({gauge})"
    return Query(expr, (gauge,), "short", "worker {{worker_id}} rank {{dp_rank}}")


def _generate(scope: MetricScope, metric: Metric, role: Role, suffix: str = "") -> Selector:
    return select(metric, scope, suffix, dynamo_component=WORKER_COMPONENT[role],
                  dynamo_endpoint=GENERATE_ENDPOINT)


def worker_count(scope: MetricScope, role: Role) -> Query:
    """Workers of the role that Prometheus scrapes (one series per worker process)."""
    gauge = _generate(scope, COMPONENT_INFLIGHT_REQUESTS, role)
    return Query(f"count({gauge})", (gauge,), "short", f"{role} workers")


def inflight_per_worker(scope: MetricScope, role: Role) -> Query:
    """Requests in flight per worker of the role: with the same figure for the other role, the
    prefill/decode balance (the pool that is busier per worker is the one short of pods)."""
    gauge = _generate(scope, COMPONENT_INFLIGHT_REQUESTS, role)
    return Query(f"sum({gauge}) / count({gauge})", (gauge,), "short", f"{role} per worker")


def worker_request_rate(scope: MetricScope, role: Role, window: str) -> Query:
    total = _generate(scope, COMPONENT_REQUESTS_TOTAL, role)
    return Query(f"sum(rate({total}[{window}]))", (total,), "reqps", f"{role}")


def worker_duration_quantile(scope: MetricScope, role: Role, q: float, window: str) -> Query:
    bucket = _generate(scope, COMPONENT_REQUEST_DURATION, role, "_bucket")
    expr = f"histogram_quantile({q:g}, sum by (le) (rate({bucket}[{window}])))"
    return Query(expr, (bucket,), "s", f"{role} p{q * 100:g}")


# --------------------------------------------------------------------------- checks


_SERIES_NAME = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{")


def series_in(expr: str) -> set[str]:
    """The series names an expression selects (every selector here is written with braces)."""
    return set(_SERIES_NAME.findall(expr))


def family(series: str) -> str:
    """The metric family of a series name: a histogram's `_bucket`, `_sum`, `_count` removed."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = series.removesuffix(suffix)
        if base != series and BY_NAME.get(base) and BY_NAME[base].kind == "histogram":
            return base
    return series


def uncatalogued(expr: str) -> set[str]:
    """Series of `expr` whose metric is not in the catalogue (should be empty)."""
    return {name for name in series_in(expr) if family(name) not in BY_NAME}
