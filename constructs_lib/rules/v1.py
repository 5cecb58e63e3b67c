"""The rules of a Dynamo 1.x deployment: the frontend and the worker pools of one Dynamo
namespace, found in their chart whatever order they were created in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import show
from . import Finding, Locator, Stage, tagged
from .capacity import autoscaling_maximum_fits_nodes
from .dependencies import nats_is_reachable
from .gpus import gpu_count
from .kubernetes_discovery import kubernetes_discovery_is_provided
from .subjects import subjects_of

if TYPE_CHECKING:
    from ..frontend import FrontendDeployment
    from ..worker_pool import WorkerPool


@dataclass(frozen=True)
class Deployment:
    """The 1.x components of one Dynamo namespace in one chart."""

    frontends: list[FrontendDeployment]
    pools: list[WorkerPool]

    @property
    def decode(self) -> list[WorkerPool]:
        return [p for p in self.pools if p.role == "decode"]

    @property
    def prefill(self) -> list[WorkerPool]:
        return [p for p in self.pools if p.role == "prefill"]


def deployment_of(member: FrontendDeployment | WorkerPool) -> Deployment:
    from ..frontend import FrontendDeployment
    from ..worker_pool import WorkerPool

    def same(other: FrontendDeployment | WorkerPool) -> bool:
        return (other.dynamo_namespace == member.dynamo_namespace
                and other.namespace == member.namespace)

    return Deployment(
        frontends=[f for f in subjects_of(member.chart, FrontendDeployment) if same(f)],
        pools=[p for p in subjects_of(member.chart, WorkerPool) if same(p)],
    )


def _cite(subject: Any, other: Any, prop: str) -> str:
    """`prop` of `other`, named in a finding about `subject`."""
    locator: Locator = other.locator
    return locator.field(prop) if other is subject else locator.cite(prop)


# -- settings ----------------------------------------------------------------------------------

def worker_ports_are_distinct(pool: WorkerPool) -> Iterator[Finding]:
    """The system port and the KV events port share the pod's network."""
    events = pool.kv_events
    if events is not None and events.port == pool.runtime.system_port:
        yield Finding(pool.locator.field("kv_events.port"),
                      f"{events.port}: {pool.locator.field('runtime.system_port')} of the "
                      f"worker pod is {pool.runtime.system_port} too; containers of one pod "
                      "share its network, so their ports must differ", subject=pool)


def autoscaling_signal_is_exported(pool: WorkerPool) -> Iterator[Finding]:
    """The autoscaler's signal is a metric the frontends of the pool's deployment export: the
    KV router's view of the KV cache (`kv_cache_usage`) exists only with router mode kv, and an
    empty query would leave the pool at its replicas without a word."""
    scaling = pool.autoscaling
    if not scaling.enabled or scaling.signal != "kv_cache_usage":
        return
    for frontend in deployment_of(pool).frontends:
        if frontend.router.mode != "kv":
            yield Finding(pool.locator.field("autoscaling.signal"),
                          f"kv_cache_usage, but {_cite(pool, frontend, 'router.mode')} is "
                          f"{frontend.router.mode}: the KV cache usage is the KV router's view, "
                          "which only router mode kv exports, so the autoscaler would never "
                          "get a value; use itl_p95, or set the router's mode to kv",
                          subject=pool)
            return


# -- pods --------------------------------------------------------------------------------------

_PARALLELISM = ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size")


def parallelism_matches_worker_gpus(pool: WorkerPool) -> Iterator[Finding]:
    """Each worker's tensor x pipeline x data parallelism equals the GPUs it is given."""
    sizes = {key: int(pool.engine.get(key) or 1) for key in _PARALLELISM}
    needed = sizes["tensor-parallel-size"] * sizes["pipeline-parallel-size"] * \
        sizes["data-parallel-size"]
    if needed == pool.gpus:
        return
    written = [f"{key} {sizes[key]}" for key in _PARALLELISM if pool.engine.get(key)]
    received = " x ".join(written) if written else "tensor-parallel-size not set (vLLM's 1)"
    where = pool.locator.field("engine.tensor-parallel-size")
    yield Finding(where,
                  f"{received} needs {gpu_count(needed)} per worker, but "
                  f"{pool.locator.field('gpus')} gives each {pool.role} worker {pool.gpus}; "
                  "tensor-parallel-size x pipeline-parallel-size x data-parallel-size must "
                  "equal the GPUs per worker", subject=pool)


def worker_gpus_fill_whole_nodes(pool: WorkerPool) -> Iterator[Finding]:
    """A worker larger than a node spans whole nodes, one pod of a node's GPUs on each, spread
    by tensor and pipeline parallelism with vLLM's mp executor (which the library sets up)."""
    per_node = pool.gpus_per_node
    if per_node is None or pool.gpus <= per_node:
        return
    nodes = f"{pool.locator.field('gpus_per_node')} {per_node}"
    if pool.gpus % per_node:
        lower, upper = pool.gpus // per_node * per_node, pool.nodes_per_worker * per_node
        multiples = f"{lower} or {upper}" if lower > per_node else str(upper)
        yield Finding(pool.locator.field("gpus"),
                      f"{pool.gpus}, more than a node has ({nodes}): such a {pool.role} worker "
                      f"spans whole nodes, a pod of {gpu_count(per_node)} on each, so its GPUs "
                      f"must be a multiple of {per_node} (e.g. {multiples})", subject=pool)
        return
    spans = f"{pool.locator.field('gpus')} {pool.gpus} spans {pool.nodes_per_worker} nodes of " \
            f"{per_node}"
    data_parallel = pool.engine.get("data-parallel-size")
    if data_parallel is not None and int(data_parallel) > 1:
        yield Finding(pool.locator.field("engine.data-parallel-size"),
                      f"{data_parallel}, but {spans}: a worker spans nodes by tensor and "
                      "pipeline parallelism (vLLM's --nnodes); run each data-parallel rank as a "
                      "worker of its own (replicas) instead", subject=pool)
    backend = pool.engine.get("distributed-executor-backend")
    if backend is not None:
        yield Finding(pool.locator.field("engine.distributed-executor-backend"),
                      f"{show(backend)}, but {spans}: the library runs such a worker with "
                      "vLLM's mp executor across a LeaderWorkerSet group and sets "
                      "--distributed-executor-backend itself; remove it", subject=pool)


_SAME_ON_BOTH_SIDES = {
    "block-size": "KV cache moves block by block, so both sides must cut it into blocks of "
                  "the same size",
    "max-model-len": "both sides must accept the same prompt lengths, or long prompts fail in "
                     "prefill after decode accepted them",
}


def decode_and_prefill_serve_the_same_model(pool: WorkerPool) -> Iterator[Finding]:
    """A prefill pool computes KV cache a decode pool can use: same model, served name, block
    size, context length and KV connector."""
    if pool.role != "prefill":
        return
    for decode in deployment_of(pool).decode:
        pairs: list[tuple[str, Any, Any, str]] = [
            ("model.path", pool.model.path, decode.model.path,
             "KV cache computed by one model is meaningless to another"),
            ("model.served_name", pool.model.name, decode.model.name,
             "the frontend pairs a request's prefill and decode workers by the model name"),
            *((f"engine.{key}", pool.engine.get(key), decode.engine.get(key), reason)
              for key, reason in _SAME_ON_BOTH_SIDES.items()),
        ]
        ours = pool.kv_transfer.connector if pool.kv_transfer else None
        theirs = decode.kv_transfer.connector if decode.kv_transfer else None
        pairs.append(("kv_transfer.connector", ours, theirs,
                      "both ends of the KV transfer must use the same connector"))
        for prop, mine, other, reason in pairs:
            if mine != other:
                yield Finding(pool.locator.field(prop),
                              f"{_setting(mine)}, but the decode pool's "
                              f"({_cite(pool, decode, prop)}) is {_setting(other)}; {reason}",
                              subject=pool)


def _setting(value: Any) -> str:
    return "not set" if value is None else show(value)


def disaggregation_has_both_sides(pool: WorkerPool) -> Iterator[Finding]:
    """A disaggregated decode pool needs prefill workers for its model, and a prefill pool a
    decode pool that hands it prompts."""
    deployment = deployment_of(pool)
    if pool.role == "decode" and pool.disaggregation_mode == "decode" and not deployment.prefill:
        yield Finding(pool.locator.field("disaggregated"),
                      "true, but no PrefillWorkerPool of this chart shares its Dynamo namespace "
                      f"({pool.dynamo_namespace}): prompts would wait for a prefill worker "
                      "forever; add one, or set disaggregated false to prefill here",
                      subject=pool)
    if pool.role == "prefill" and not any(d.disaggregation_mode == "decode"
                                          for d in deployment.decode):
        yield Finding(pool.locator.field("model"),
                      f"{pool.model.name}, but no disaggregated DecodeWorkerPool of this chart "
                      f"shares its Dynamo namespace ({pool.dynamo_namespace}): nothing would "
                      "send this pool prompts; add one with disaggregated true", subject=pool)


def kv_router_gets_kv_events(pool: WorkerPool) -> Iterator[Finding]:
    """A frontend that routes on KV events needs the workers it picks by their cache (prefill
    workers, or aggregated ones) to publish them; decode workers of disaggregated serving are
    picked by load and publish none (measured with Dynamo 1.6.1)."""
    if pool.kv_events is not None or pool.disaggregation_mode == "decode":
        return
    for frontend in deployment_of(pool).frontends:
        router = frontend.router
        if router.mode == "kv" and router.kv_events:
            yield Finding(pool.locator.field("kv_events"),
                          f"none, but {_cite(pool, frontend, 'router.mode')} is kv with "
                          f"{_cite(pool, frontend, 'router.kv_events')} true: without this "
                          "pool's KV events the router routes blind; publish them (kv_events) "
                          "or set the router's kv_events false", subject=pool)
            return


def frontend_serves_the_workers_model(frontend: FrontendDeployment) -> Iterator[Finding]:
    """The frontend is ready once a worker serves its model: the pools must serve it."""
    pools = deployment_of(frontend).pools
    served = sorted({p.model.name for p in pools})
    if pools and frontend.served_model_name not in served:
        yield Finding(frontend.locator.field("served_model_name"),
                      f"{frontend.served_model_name}, but the worker pools of its Dynamo "
                      f"namespace ({frontend.dynamo_namespace}) serve {', '.join(served)}: the "
                      "frontend would never become ready", subject=frontend)


def frontend_findings(frontend: FrontendDeployment) -> list[Finding]:
    return [*tagged(nats_is_reachable, Stage.SETTING, nats_is_reachable(frontend)),
            *tagged(kubernetes_discovery_is_provided, Stage.SETTING,
                    kubernetes_discovery_is_provided(frontend)),
            *tagged(frontend_serves_the_workers_model, Stage.POD,
                    frontend_serves_the_workers_model(frontend))]


def worker_findings(pool: WorkerPool) -> list[Finding]:
    found = [*tagged(nats_is_reachable, Stage.SETTING, nats_is_reachable(pool)),
             *tagged(kubernetes_discovery_is_provided, Stage.SETTING,
                     kubernetes_discovery_is_provided(pool)),
             *tagged(worker_ports_are_distinct, Stage.SETTING, worker_ports_are_distinct(pool)),
             *tagged(autoscaling_signal_is_exported, Stage.SETTING,
                     autoscaling_signal_is_exported(pool))]
    for rule in (parallelism_matches_worker_gpus, worker_gpus_fill_whole_nodes,
                 decode_and_prefill_serve_the_same_model, disaggregation_has_both_sides,
                 kv_router_gets_kv_events):
        found += tagged(rule, Stage.POD, rule(pool))
    if not found:  # placing pods whose settings are wrong would only restate them
        found += tagged(autoscaling_maximum_fits_nodes, Stage.PLACEMENT,
                        autoscaling_maximum_fits_nodes(pool))
    return found


def advice(pool: WorkerPool) -> list[Finding]:
    """Settings of a pool that are legal but probably not what was meant."""
    found = []
    if pool.role == "prefill" and not pool.uses_rdma:
        found.append(Finding(
            pool.locator.field("rdma"),
            "false, while the prefill workers hand every prompt's KV cache to the decode "
            "workers through NIXL: without RDMA it travels over TCP, two to three orders of "
            "magnitude slower; enable RDMA, or serve aggregated (no prefill pool)",
            rule="kv_transfer_without_rdma", subject=pool))
    return found
