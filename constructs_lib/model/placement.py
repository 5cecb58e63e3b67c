"""Where every GPU pod of an environment would run: a placement plan over its node pool.

Each replica of each Dynamo Deployment is one pod with a fixed GPU request; a pod cannot span
nodes. Pods in the host network that declare the same container port cannot share a node (the
scheduler refuses the second one, as both would bind the port on the host). Placement is
first-fit decreasing, which is what a fresh cluster's scheduler ends up with for pods of a
few sizes, backed by an exhaustive search when first-fit leaves a pod out, so that a
deployment is refused only when no placement exists.

An environment without a node pool is planned on the fewest nodes of DEFAULT_GPUS_PER_NODE
GPUs (an H20 or H100 server), and is never refused for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .pods import pods

if TYPE_CHECKING:
    from .environment import Environment

DEFAULT_GPUS_PER_NODE = 8
# Beyond this many pods only first-fit runs; an exhaustive search could take too long.
_EXACT_SEARCH_PODS = 64
_EXACT_SEARCH_STEPS = 200_000


@dataclass(frozen=True)
class PodReplica:
    """One pod of a Deployment."""

    role: str
    """The section of the environment file that describes it: frontend or prefill."""
    deployment: str
    replica: int
    """1-based."""
    replicas: int
    gpus: int
    decode_gpus: int
    prefill_gpus: int
    host_ports: tuple[int, ...]
    """Ports it binds on the node (its container ports, when in the host network)."""
    rdma: bool

    @property
    def label(self) -> str:
        return f"{self.deployment} replica {self.replica} of {self.replicas}"

    @property
    def work(self) -> str:
        """What its GPUs do, e.g. `4 decode + 4 prefill`."""
        parts = [f"{n} {what}" for n, what in ((self.decode_gpus, "decode"),
                                               (self.prefill_gpus, "prefill")) if n]
        other = self.gpus - self.decode_gpus - self.prefill_gpus
        if other:
            parts.append(f"{other} other")
        return " + ".join(parts)


@dataclass(frozen=True)
class Node:
    name: str
    gpus: int
    pods: tuple[PodReplica, ...]

    @property
    def used(self) -> int:
        return sum(p.gpus for p in self.pods)


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...]
    """The GPU nodes: the declared pool, or the fewest default-sized nodes that hold the pods."""
    gpus_per_node: int
    declared: bool
    """Whether the node pool comes from the environment file."""
    unplaced: tuple[PodReplica, ...]
    """GPU pods that find no node in the declared pool (empty when the deployment fits)."""
    needed_nodes: int | None
    """The fewest nodes of `gpus_per_node` that hold every GPU pod; None when a pod is larger
    than a node."""
    other_pods: tuple[str, ...]
    """Pods that take no GPU, which the scheduler may put on any node."""
    gpu_product: str | None
    rdma: bool
    network_mode: str | None
    host_network: bool
    etcd_tls_dns_names: tuple[str, ...] = ()
    """With etcd TLS, the DNS names etcd's server certificate must carry; empty otherwise."""

    @property
    def fits(self) -> bool:
        return not self.unplaced

    @property
    def requested(self) -> int:
        return sum(n.used for n in self.nodes) + sum(p.gpus for p in self.unplaced)

    @property
    def capacity(self) -> int:
        return len(self.nodes) * self.gpus_per_node

    @property
    def gpu_pods(self) -> tuple[PodReplica, ...]:
        return tuple(p for n in self.nodes for p in n.pods) + self.unplaced


def pod_replicas(env: Environment) -> list[PodReplica]:
    """Every Dynamo pod the environment runs, frontend first."""
    from .environment import Generation

    if env.dynamo is Generation.V1:
        return _v1_pod_replicas(env)
    replicas = []
    for pod in pods(env):
        for index in range(pod.replicas):
            replicas.append(PodReplica(
                role=pod.role,
                deployment=pod.deployment,
                replica=index + 1,
                replicas=pod.replicas,
                gpus=pod.resources.gpus,
                decode_gpus=pod.decode_gpus,
                prefill_gpus=pod.prefill_gpus,
                host_ports=pod.ports if pod.host_network else (),
                rdma=env.rdma.enabled,
            ))
    return replicas


def _v1_pod_replicas(env: Environment) -> list[PodReplica]:
    """Dynamo 1.x runs every worker as a pod of its own, and the frontend without a GPU."""
    from .roles import decode_role, prefill_role

    host_network = env.rdma.enabled and env.rdma.host_network
    names = env.v1_names
    pools = [("frontend", env.frontend.replicas, 0, (env.frontend.config.http_port,))]
    for role in (decode_role(env), prefill_role(env)):
        if role.workers:
            gpus = role.groups[0].gpus_per_worker
            pools.append((role.name, role.workers, gpus, (env.v1.system_port,)))
    replicas = []
    for component, count, gpus, ports in pools:
        for index in range(count):
            replicas.append(PodReplica(
                role=component,
                deployment=names.deployment(component),
                replica=index + 1,
                replicas=count,
                gpus=gpus,
                decode_gpus=gpus if component == "decode" else 0,
                prefill_gpus=gpus if component == "prefill" else 0,
                host_ports=ports if host_network else (),
                rdma=env.rdma.enabled,
            ))
    return replicas


def plan(env: Environment) -> Plan:
    """Place every GPU pod of `env` on its node pool (or on the fewest default nodes)."""
    replicas = pod_replicas(env)
    gpu_pods = [p for p in replicas if p.gpus > 0]
    others = [f"{p.label} (no GPU)" for p in replicas if p.gpus == 0]
    for settings, name in ((env.dependencies.etcd, env.dependency_names.etcd),
                           (env.dependencies.nats, env.dependency_names.nats)):
        if settings.enabled:
            others += [f"{name}-{i}" for i in range(settings.replicas)]
    if env.nodes is not None:
        size = env.nodes.gpus_per_node
        needed = fewest_nodes(gpu_pods, size)
        count = env.nodes.count
    else:
        size = max([DEFAULT_GPUS_PER_NODE] + [p.gpus for p in gpu_pods])
        needed = fewest_nodes(gpu_pods, size)
        count = needed or 0
    assignment = pack(gpu_pods, count, size)
    unplaced: list[PodReplica] = []
    if assignment is None:
        assignment, unplaced = first_fit(gpu_pods, count, size)
    return Plan(
        nodes=tuple(Node(f"node-{i + 1}", size, tuple(placed))
                    for i, placed in enumerate(assignment)),
        gpus_per_node=size,
        declared=env.nodes is not None,
        unplaced=tuple(unplaced),
        needed_nodes=needed,
        other_pods=tuple(others),
        gpu_product=env.nodes.gpu_product if env.nodes else None,
        rdma=env.rdma.enabled,
        network_mode=env.rdma.network_mode if env.rdma.enabled else None,
        host_network=env.rdma.enabled and env.rdma.host_network,
        etcd_tls_dns_names=etcd_tls_dns_names(env),
    )


def etcd_tls_dns_names(env: Environment) -> tuple[str, ...]:
    """The names etcd's server certificate needs when the environment turns its TLS on."""
    etcd = env.dependencies.etcd
    if etcd.tls is None or not etcd.enabled:
        return ()
    return env.dependency_names.etcd_server_dns_names(env.namespace, etcd.replicas)


def _decreasing(pods: Sequence[PodReplica]) -> list[PodReplica]:
    # Stable: among pods of one size, the frontend's stay first, so it lands on node-1.
    return sorted(pods, key=lambda p: -p.gpus)


def first_fit(pods: Sequence[PodReplica], nodes: int, gpus_per_node: int
              ) -> tuple[list[list[PodReplica]], list[PodReplica]]:
    """First-fit decreasing: the placement per node, and the pods that found no node."""
    placed: list[list[PodReplica]] = [[] for _ in range(nodes)]
    free = [gpus_per_node] * nodes
    bound: list[set[int]] = [set() for _ in range(nodes)]
    unplaced = []
    for pod in _decreasing(pods):
        for k in range(nodes):
            if free[k] >= pod.gpus and not bound[k] & set(pod.host_ports):
                placed[k].append(pod)
                free[k] -= pod.gpus
                bound[k] |= set(pod.host_ports)
                break
        else:
            unplaced.append(pod)
    return placed, unplaced


def pack(pods: Sequence[PodReplica], nodes: int, gpus_per_node: int
         ) -> list[list[PodReplica]] | None:
    """A placement of every pod on `nodes` nodes, or None when there is none."""
    placed, unplaced = first_fit(pods, nodes, gpus_per_node)
    if not unplaced:
        return placed
    if len(pods) > _EXACT_SEARCH_PODS:
        return None
    return _search(_decreasing(pods), nodes, gpus_per_node)


def _search(order: list[PodReplica], nodes: int, gpus_per_node: int
            ) -> list[list[PodReplica]] | None:
    placed: list[list[PodReplica]] = [[] for _ in range(nodes)]
    free = [gpus_per_node] * nodes
    bound: list[set[int]] = [set() for _ in range(nodes)]
    steps = 0

    def place(i: int) -> bool:
        nonlocal steps
        if i == len(order):
            return True
        steps += 1
        if steps > _EXACT_SEARCH_STEPS:
            return False
        pod, tried = order[i], set()
        for k in range(nodes):
            # Nodes in the same state are interchangeable: trying one of them is enough.
            state = (free[k], frozenset(bound[k]))
            if state in tried or free[k] < pod.gpus or bound[k] & set(pod.host_ports):
                continue
            tried.add(state)
            placed[k].append(pod)
            free[k] -= pod.gpus
            bound[k] |= set(pod.host_ports)
            if place(i + 1):
                return True
            placed[k].pop()
            free[k] += pod.gpus
            bound[k] -= set(pod.host_ports)
        return False

    return placed if place(0) else None


def fewest_nodes(pods: Sequence[PodReplica], gpus_per_node: int) -> int | None:
    """The fewest nodes of `gpus_per_node` GPUs that hold `pods`; None when a pod is larger
    than a node."""
    if any(p.gpus > gpus_per_node for p in pods):
        return None
    sharing = [sum(port in p.host_ports for p in pods) for q in pods for port in q.host_ports]
    lower = max([math.ceil(sum(p.gpus for p in pods) / gpus_per_node), *sharing])
    # One pod per node always fits, so the search ends there at the latest.
    for count in range(lower, max(lower, len(pods)) + 1):
        if pack(pods, count, gpus_per_node) is not None:
            return count
    return None
