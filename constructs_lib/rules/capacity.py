"""The deployment fits its declared node pool (see ..placement for how pods are placed)."""

from __future__ import annotations

from collections.abc import Iterator

from .. import placement
from . import Finding, Locator

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
    yield Finding(locator.field("count"),
                  f"{count}, but the deployment needs {plan.needed_nodes} nodes of "
                  f"{_gpus(size)}: {'; '.join(reasons)}; no node is left for {missing}")
