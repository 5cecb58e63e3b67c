"""Where every GPU pod of a chart would run: a placement plan over its node pool.

Each replica of each Dynamo Deployment is one pod with a fixed GPU request; a pod cannot span
nodes. A worker larger than a node is a LeaderWorkerSet group: its pods each take a whole
node's GPUs, and no two pods of one group share a node. Pods in the host network that declare
the same container port cannot share a node (the scheduler refuses the second one, as both
would bind the port on the host). Placement is
first-fit decreasing, which is what a fresh cluster's scheduler ends up with for pods of a
few sizes, backed by an exhaustive search when first-fit leaves a pod out, so that a
deployment is refused only when no placement exists.

The pods are read from what the chart's Dynamo workloads emitted: their Deployments' (and
LeaderWorkerSets') replicas, group sizes, GPUs and host ports. A chart without a node pool is
planned on the fewest nodes of DEFAULT_GPUS_PER_NODE GPUs (an H20 or H100 server), and is never
refused for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from constructs import Construct

    from .workload import DynamoWorkload


class NodePoolShape(Protocol):
    """The GPU nodes a plan places pods on."""

    @property
    def count(self) -> int: ...
    @property
    def gpus_per_node(self) -> int: ...
    @property
    def gpu_product(self) -> str | None: ...

DEFAULT_GPUS_PER_NODE = 8
# Beyond this many pods only first-fit runs; an exhaustive search could take too long.
_EXACT_SEARCH_PODS = 64
_EXACT_SEARCH_STEPS = 200_000


@dataclass(frozen=True)
class PodReplica:
    """One pod of a Deployment (or of a LeaderWorkerSet group)."""

    role: str
    """The component of its workload (its `app.kubernetes.io/dynamo-component` label)."""
    deployment: str
    """The name of its workload (a Deployment, or a LeaderWorkerSet)."""
    replica: int
    """1-based: the replica, or the group of a LeaderWorkerSet."""
    replicas: int
    gpus: int
    decode_gpus: int
    prefill_gpus: int
    host_ports: tuple[int, ...]
    """Ports it binds on the node (its container ports, when in the host network)."""
    rdma: bool
    group_size: int = 1
    """Pods of its replica: more than 1 for a LeaderWorkerSet group."""
    rank: int = 0
    """Its rank in the group: 0 for the leader (and for a Deployment's pods)."""
    min_replicas: int | None = None
    """When an autoscaler owns the workload's replicas, the fewest it keeps (`replicas` is
    then its maximum); None for a fixed count."""

    @property
    def in_group(self) -> bool:
        return self.group_size > 1

    @property
    def member(self) -> str:
        """Which pod of its group it is: `leader`, or `rank 1`."""
        return "leader" if self.rank == 0 else f"rank {self.rank}"

    @property
    def autoscaled(self) -> bool:
        return self.min_replicas is not None

    @property
    def above_minimum(self) -> bool:
        """A pod the autoscaler runs only when it scales the workload up (every pod of a
        group beyond the minimum)."""
        return self.min_replicas is not None and self.replica > self.min_replicas

    @property
    def label(self) -> str:
        if self.in_group:
            return (f"{self.deployment} group {self.replica} of {self.replicas}, "
                    f"{self.member}")
        return f"{self.deployment} replica {self.replica} of {self.replicas}"

    @property
    def exclusive(self) -> frozenset[object]:
        """What no other pod on its node may hold too: its host ports, and its group (the pods
        of one group each take a node of their own)."""
        keys: set[object] = set(self.host_ports)
        if self.in_group:
            keys.add(("group", self.deployment, self.replica))
        return frozenset(keys)

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
class WorkerGroups:
    """The groups of a LeaderWorkerSet: workers that each span several nodes."""

    name: str
    role: str
    size: int
    """Pods of a group, each on a node of its own."""
    gpus_per_pod: int
    replicas: int
    """Groups (its autoscaler's maximum, when one owns the count)."""
    locator: Any = field(default=None, compare=False, repr=False)
    """How findings name the props of the workload that emitted it."""
    min_replicas: int | None = None
    """The fewest groups its autoscaler keeps; None for a fixed count."""


@dataclass(frozen=True)
class Node:
    name: str
    gpus: int
    pods: tuple[PodReplica, ...]

    @property
    def used(self) -> int:
        return sum(p.gpus for p in self.pods)


@dataclass(frozen=True)
class AutoscaledPods:
    """A workload whose replicas an autoscaler owns: the plan places its maximum."""

    deployment: str
    """The workload's name (a Deployment, or a LeaderWorkerSet)."""
    min_replicas: int
    max_replicas: int
    """Replicas: pods of a Deployment, groups of a LeaderWorkerSet."""
    gpus: int
    """GPUs per pod."""
    autoscaler: str
    """The autoscaler, its signal and target, in a few words."""
    max_field: str | None = None
    """Where the maximum is set (e.g. `decode.autoscaling.max_replicas`); None when it is not a
    prop of the workload (a cdk8s-plus-27 HorizontalPodAutoscaler)."""
    group_size: int = 1
    """Pods of one replica: more than 1 for a LeaderWorkerSet, whose autoscaler adds and
    removes whole groups."""
    component: str = ""
    """The workload's component (decode, prefill): its name in a DynamoGraphDeployment."""

    @property
    def gpus_per_replica(self) -> int:
        return self.gpus * self.group_size


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...]
    """The GPU nodes: the declared pool, or the fewest default-sized nodes that hold the pods."""
    gpus_per_node: int
    declared: bool
    """Whether a node pool was declared (GpuNodePool, or `nodes` in the environment file)."""
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
    groups: tuple[WorkerGroups, ...] = ()
    """The LeaderWorkerSets, whose workers each take a group of whole nodes."""
    autoscaled: tuple[AutoscaledPods, ...] = ()
    """The workloads an autoscaler scales, placed at their maximum."""
    cluster_prerequisites: tuple[str, ...] = ()
    """What must exist in the cluster beyond the manifests (kubernetes discovery's CRD)."""

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


ReplicaCount = Callable[["DynamoWorkload"], "int | None"]
"""Replicas to plan a workload with instead of its own (None: its own)."""


def pod_replicas(workloads: Sequence[DynamoWorkload],
                 count_of: ReplicaCount | None = None) -> list[PodReplica]:
    """Every Dynamo pod the workloads run, as their Deployments (and LeaderWorkerSets) declare
    them, in order: a group's leader, then its other ranks. An autoscaled workload counts at
    its autoscaler's maximum, unless `count_of` says otherwise."""
    replicas = []
    for workload in workloads:
        minimum = _autoscaler_minimum(workload)
        override = count_of(workload) if count_of is not None else None
        count = workload.max_replicas if override is None else override
        work = workload.gpu_work()
        gpus = workload.gpus_per_pod
        size = workload.pods_per_replica
        ports = [workload.host_ports_of(rank) for rank in range(size)]
        for index in range(count):
            for rank in range(size):
                replicas.append(PodReplica(
                    role=workload.component,
                    deployment=workload.workload_name,
                    replica=index + 1,
                    replicas=count,
                    gpus=gpus,
                    decode_gpus=work.get("decode", 0),
                    prefill_gpus=work.get("prefill", 0),
                    host_ports=ports[rank],
                    rdma=workload.uses_rdma,
                    group_size=size,
                    rank=rank,
                    min_replicas=minimum,
                ))
    return replicas


def _autoscaler_minimum(workload: DynamoWorkload) -> int | None:
    """The fewest replicas of an autoscaled workload (kplus's default 1 when its autoscaler
    says none); None for a fixed count."""
    if workload.replicas is not None:
        return None
    return workload.autoscaler_min_replicas or 1


def autoscaled_pods(workloads: Sequence[DynamoWorkload]) -> list[AutoscaledPods]:
    """The workloads an autoscaler scales, with its range."""
    return [AutoscaledPods(deployment=w.workload_name,
                           min_replicas=w.autoscaler_min_replicas or 1,
                           max_replicas=w.max_replicas, gpus=w.gpus_per_pod,
                           autoscaler=w.autoscaler_summary or "an autoscaler",
                           max_field=w.autoscaler_max_field(),
                           group_size=w.pods_per_replica, component=w.component)
            for w in workloads if w.replicas is None]


def plan(scope: Construct, nodes: NodePoolShape | None = None, *,
         count_of: ReplicaCount | None = None) -> Plan:
    """Place every GPU pod of the Dynamo workloads of `scope`'s chart on `nodes` (or, without a
    declared pool, on the fewest nodes of DEFAULT_GPUS_PER_NODE GPUs). Autoscaled workloads
    count at their autoscaler's maximum; `count_of` may plan a workload with other replicas
    (the rules try autoscaled pools at other counts)."""
    # Imported here: the summary of a synth reads Plans, and importing cdk8s starts jsii's Node,
    # which must happen only once jsii_session has set how (see new_app).

    from .dependencies import DependencyStack
    from .kubernetes_discovery import KubernetesDiscovery
    from .rules.subjects import chart_of, subjects_of
    from .workload import DynamoWorkload

    chart = chart_of(scope)
    workloads = subjects_of(chart, DynamoWorkload)
    replicas = pod_replicas(workloads, count_of)
    gpu_pods = [p for p in replicas if p.gpus > 0]
    others = [f"{p.label} (no GPU)" for p in replicas if p.gpus == 0]
    stacks = subjects_of(chart, DependencyStack)
    for stack in stacks:
        for cluster in (stack.etcd, stack.nats):
            if cluster is not None:
                members = cluster.stateful_set.manifest["spec"]["replicas"]
                others += [f"{cluster.stateful_set.object_name}-{i}" for i in range(members)]
    if nodes is not None:
        size = nodes.gpus_per_node
        needed = fewest_nodes(gpu_pods, size)
        count = nodes.count
    else:
        size = max([DEFAULT_GPUS_PER_NODE] + [p.gpus for p in gpu_pods])
        needed = fewest_nodes(gpu_pods, size)
        count = needed or 0
    assignment = pack(gpu_pods, count, size)
    unplaced: list[PodReplica] = []
    if assignment is None:
        assignment, unplaced = first_fit(gpu_pods, count, size)
    rdma = [w for w in workloads if w.uses_rdma]
    return Plan(
        nodes=tuple(Node(f"node-{i + 1}", size, tuple(placed))
                    for i, placed in enumerate(assignment)),
        gpus_per_node=size,
        declared=nodes is not None,
        unplaced=tuple(unplaced),
        needed_nodes=needed,
        other_pods=tuple(others),
        gpu_product=nodes.gpu_product if nodes else None,
        rdma=bool(rdma),
        network_mode=rdma[0].rdma.network_mode if rdma and rdma[0].rdma else None,
        host_network=any(w.host_network for w in workloads),
        etcd_tls_dns_names=tuple(name for stack in stacks for name in stack.etcd_tls_dns_names),
        groups=tuple(WorkerGroups(w.workload_name, w.component, w.pods_per_replica,
                                  w.gpus_per_pod, w.max_replicas, w.locator,
                                  min_replicas=_autoscaler_minimum(w))
                     for w in workloads if w.pods_per_replica > 1),
        autoscaled=tuple(autoscaled_pods(workloads)),
        cluster_prerequisites=tuple(dict.fromkeys(
            need for discovery in subjects_of(chart, KubernetesDiscovery)
            for need in discovery.cluster_prerequisites)),
    )


def _decreasing(pods: Sequence[PodReplica]) -> list[PodReplica]:
    # Stable: among pods of one size, the frontend's stay first, so it lands on node-1.
    return sorted(pods, key=lambda p: -p.gpus)


def first_fit(pods: Sequence[PodReplica], nodes: int, gpus_per_node: int
              ) -> tuple[list[list[PodReplica]], list[PodReplica]]:
    """First-fit decreasing: the placement per node, and the pods that found no node."""
    placed: list[list[PodReplica]] = [[] for _ in range(nodes)]
    free = [gpus_per_node] * nodes
    bound: list[set[object]] = [set() for _ in range(nodes)]
    unplaced = []
    for pod in _decreasing(pods):
        for k in range(nodes):
            if free[k] >= pod.gpus and not bound[k] & pod.exclusive:
                placed[k].append(pod)
                free[k] -= pod.gpus
                bound[k] |= pod.exclusive
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
    bound: list[set[object]] = [set() for _ in range(nodes)]
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
            if state in tried or free[k] < pod.gpus or bound[k] & pod.exclusive:
                continue
            tried.add(state)
            placed[k].append(pod)
            free[k] -= pod.gpus
            bound[k] |= pod.exclusive
            if place(i + 1):
                return True
            placed[k].pop()
            free[k] += pod.gpus
            bound[k] -= pod.exclusive
        return False

    return placed if place(0) else None


def fewest_nodes(pods: Sequence[PodReplica], gpus_per_node: int) -> int | None:
    """The fewest nodes of `gpus_per_node` GPUs that hold `pods`; None when a pod is larger
    than a node."""
    if any(p.gpus > gpus_per_node for p in pods):
        return None
    sharing = [sum(key in p.exclusive for p in pods) for q in pods for key in q.exclusive]
    lower = max([math.ceil(sum(p.gpus for p in pods) / gpus_per_node), *sharing])
    # One pod per node always fits, so the search ends there at the latest.
    for count in range(lower, max(lower, len(pods)) + 1):
        if pack(pods, count, gpus_per_node) is not None:
            return count
    return None
