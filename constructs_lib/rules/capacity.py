"""The deployment fits its declared node pool (see ..placement for how pods are placed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import placement
from . import Finding, Locator
from .subjects import chart_of, subjects_of

if TYPE_CHECKING:
    from ..node_pool import GpuNodePool
    from ..worker_pool import WorkerPool
    from ..workload import DynamoWorkload

_LISTED = 3
"""Pods named in a message; the others are counted (a message stays one readable line)."""


def _gpus(count: int) -> str:
    return f"{count} GPU" if count == 1 else f"{count} GPUs"


def worker_groups_fit_nodes(plan: placement.Plan, locator: Locator) -> Iterator[Finding]:
    """Each pod of a worker that spans nodes (a LeaderWorkerSet group) takes a whole node of
    the declared pool, and the pool holds one group at least."""
    if not plan.declared:
        return
    size, count = plan.gpus_per_node, len(plan.nodes)
    for group in plan.groups:
        gpus = group.gpus_per_pod * group.size
        cite = group.locator.cite
        if group.gpus_per_pod != size:
            yield Finding(locator.field("gpus_per_node"),
                          f"{size}, but {group.name} spreads each {group.role} worker's "
                          f"{_gpus(gpus)} over {group.size} pods of {group.gpus_per_pod} "
                          f"({cite('gpus_per_node')} {group.gpus_per_pod}), each meant to "
                          f"take a whole node; give it the nodes' size, {size}")
        elif group.size > count:
            yield Finding(locator.field("count"),
                          f"{count}, but each {group.name} worker ({cite('gpus')} {gpus}) is "
                          f"a group of {group.size} pods of {_gpus(size)}, each on a node of "
                          f"its own: not one group fits; declare at least {group.size} nodes")


def deployment_fits_nodes(plan: placement.Plan, locator: Locator) -> Iterator[Finding]:
    """Every GPU pod finds a node of the declared pool; otherwise say what is missing where."""
    if plan.fits:
        return
    size, count = plan.gpus_per_node, len(plan.nodes)
    too_big: dict[str, placement.PodReplica] = {}
    for pod in plan.gpu_pods:
        if pod.gpus > size:
            too_big.setdefault(pod.deployment, pod)
    if too_big:
        for pod in too_big.values():
            yield Finding(locator.field("gpus_per_node"),
                          f"{size}, but each {pod.deployment} pod requests {pod.gpus} "
                          f"nvidia.com/gpu and a pod cannot span nodes: {_gpus(pod.gpus - size)} "
                          "missing on every node that would run one")
        return
    missing = ", ".join(f"{p.label} ({_gpus(p.gpus)})" for p in plan.unplaced[:_LISTED])
    if len(plan.unplaced) > _LISTED:
        missing += f" and {len(plan.unplaced) - _LISTED} more pods"
    shortfall = plan.requested - plan.capacity
    reasons = [f"{plan.requested} nvidia.com/gpu requested, {plan.capacity} available"
               + (f" ({shortfall} missing)" if shortfall > 0 else "")]
    ports = sorted({port for p in plan.gpu_pods for port in p.host_ports
                    if sum(port in q.host_ports for q in plan.gpu_pods) > count})
    if ports:
        reasons.append(f"pods in the host network that declare port "
                       f"{', '.join(map(str, ports))} cannot share a node")
    if plan.autoscaled:
        counted = [f"{a.max_field} {a.max_replicas}" if a.max_field
                   else f"{a.deployment} at most {a.max_replicas}" for a in plan.autoscaled]
        reasons.append(f"autoscaled pods count at their maximum ({', '.join(counted)})")
    yield Finding(locator.field("count"),
                  f"{count}, but the deployment needs {plan.needed_nodes} nodes of "
                  f"{_gpus(size)}: {'; '.join(reasons)}; no node is left for {missing}")


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def autoscaling_maximum_fits_nodes(pool: WorkerPool) -> Iterator[Finding]:
    """An autoscaled pool's `max_replicas` pods (groups of a LeaderWorkerSet pool, each a
    node per pod) fit the declared nodes next to every other pod of the chart (other
    autoscaled pools at their minimum). A maximum the nodes cannot hold
    lets the autoscaler create pods that stay Pending: it scales on a pressure new pods never
    relieve, and a rule about the node count would blame the wrong setting."""
    from ..node_pool import GpuNodePool
    from ..workload import DynamoWorkload

    scaling = pool.autoscaling
    maximum = scaling.max_replicas
    if not scaling.enabled or maximum is None:
        return
    others = [w for w in subjects_of(pool.chart, DynamoWorkload)
              if w is not pool and w.replicas is None]

    def fits(nodes: GpuNodePool, count: int) -> bool:
        def count_of(workload: DynamoWorkload) -> int | None:
            if workload is pool:
                return count
            return workload.autoscaler_min_replicas if any(workload is w for w in others) else None
        return placement.plan(pool.chart, nodes, count_of=count_of).fits

    for nodes in subjects_of(pool.chart, GpuNodePool):
        # Even the minimum does not fit: the node count is wrong, which its own rule says.
        if fits(nodes, maximum) or not fits(nodes, scaling.min_replicas):
            continue
        low, high = scaling.min_replicas, maximum  # fits(low), not fits(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(nodes, middle) else (low, middle)
        size = pool.pods_per_replica
        if size > 1:  # the autoscaler adds and removes whole LeaderWorkerSet groups
            held = (f"{low} {pool.role} group{'' if low == 1 else 's'} of {size} pods of "
                    f"{_gpus(pool.gpus_per_pod)} (a node each)")
        else:
            held = f"{low} {pool.role} pod{'' if low == 1 else 's'} of {_gpus(pool.gpus_per_pod)}"
        yield Finding(pool.locator.field("autoscaling.max_replicas"),
                      f"{maximum}, but {_nodes(nodes.count)} of {_gpus(nodes.gpus_per_node)} "
                      f"({nodes.locator.cite('count')}) {'hold' if nodes.count > 1 else 'holds'} "
                      f"at most {held} next to the chart's other pods (other "
                      f"autoscaled pools at their min_replicas): the autoscaler's pods beyond "
                      f"that would stay Pending; lower it to {low}, or add nodes",
                      subject=pool)
        return


def blamed_on_autoscaling(nodes: GpuNodePool) -> bool:
    """An autoscaled pool of the chart says that its own maximum breaks the fit."""
    from ..worker_pool import WorkerPool

    return any(next(autoscaling_maximum_fits_nodes(pool), None) is not None
               for pool in subjects_of(chart_of(nodes), WorkerPool))
