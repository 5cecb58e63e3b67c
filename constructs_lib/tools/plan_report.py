"""The placement plan as a reviewer reads it: a text table for the terminal, Markdown for dist/."""

from __future__ import annotations

from .._render.escape_hatches import GPU_RESOURCE, TKE_SHARED_RDMA_RESOURCE
from ..placement import AutoscaledPods, Node, Plan, PodReplica
from ..rdma import NETWORKS_ANNOTATION, RDMA_NETWORK

_COLUMNS = ("Node", "GPUs used", "Pod", "Its GPUs", "RDMA", "Host ports")


def _rows(plan: Plan) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for node in plan.nodes:
        rows += _node_rows(node) if node.pods else [(node.name, f"0 of {node.gpus}", "-", "-",
                                                      "-", "-")]
    for pod in plan.unplaced:
        rows.append(("no node", "-", *_pod_cells(pod)))
    return rows


def _node_rows(node: Node) -> list[tuple[str, ...]]:
    rows = []
    for index, pod in enumerate(node.pods):
        first = index == 0
        rows.append((node.name if first else "", f"{node.used} of {node.gpus}" if first else "",
                     *_pod_cells(pod)))
    return rows


def _pod_cells(pod: PodReplica) -> tuple[str, ...]:
    # An autoscaled workload's pods: n/min..max, those beyond the minimum marked.
    count = (f"{pod.min_replicas}..{pod.replicas}" if pod.min_replicas is not None
             else f"{pod.replicas}")
    scaled = " (if scaled up)" if pod.above_minimum else ""
    name = (f"{pod.deployment} group {pod.replica}/{count} {pod.member}" if pod.in_group
            else f"{pod.deployment} {pod.replica}/{count}")
    return (f"{name}{scaled}", f"{pod.gpus} ({pod.work})",
            "yes" if pod.rdma else "no", ", ".join(map(str, pod.host_ports)) or "-")


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def _summary(plan: Plan) -> str:
    size = f"{plan.gpus_per_node} GPUs" + (f" ({plan.gpu_product})" if plan.gpu_product else "")
    if plan.declared:
        pool = f"{_nodes(len(plan.nodes))} x {size}, as declared in `nodes`"
        if plan.fits and plan.needed_nodes is not None and plan.needed_nodes < len(plan.nodes):
            pool += f" (the pods need only {plan.needed_nodes})"
    else:
        pool = (f"no node pool declared: the pods need {_nodes(len(plan.nodes))} x {size} "
                "(the default node size)")
    used = sum(node.used for node in plan.nodes)
    if plan.autoscaled:
        least = used - sum(p.gpus for node in plan.nodes for p in node.pods if p.above_minimum)
        return (f"{pool}; {least} to {used} of {plan.capacity} GPUs requested "
                f"({GPU_RESOURCE}), as the autoscalers scale: placed at their maximum.")
    return f"{pool}; {used} of {plan.capacity} GPUs requested ({GPU_RESOURCE})."


def _replica(scaled: AutoscaledPods) -> str:
    """What one replica of an autoscaled workload is: a pod, or a LeaderWorkerSet group."""
    pod = f"{scaled.gpus} GPU{'' if scaled.gpus == 1 else 's'}"
    if scaled.group_size > 1:
        return f"groups of {scaled.group_size} pods of {pod} (a node each)"
    return f"pods of {pod}"


def _replica_gpus(scaled: AutoscaledPods) -> str:
    if scaled.group_size > 1:
        return f"{scaled.gpus_per_replica} ({scaled.group_size} pods of {scaled.gpus})"
    return str(scaled.gpus)


def _autoscaled(plan: Plan) -> list[str]:
    """One line per autoscaled workload: its range and what scales it."""
    return [f"{a.deployment}: {a.min_replicas} to {a.max_replicas} {_replica(a)}, "
            f"{a.autoscaler}" for a in plan.autoscaled]


def _facts(plan: Plan) -> list[str]:
    # Imported here: the constructs load jsii, which a plan (or a refused synth) needs not start.

    if plan.rdma:
        facts = [f"RDMA on: pods join the {plan.network_mode},{RDMA_NETWORK} networks "
                 f"({NETWORKS_ANNOTATION}) and each takes 1 {TKE_SHARED_RDMA_RESOURCE} with "
                 "IPC_LOCK; every node must offer that resource."]
    else:
        facts = ["RDMA off: KV cache moves over the pod network."]
    if plan.host_network:
        ports = sorted({port for pod in plan.gpu_pods for port in pod.host_ports})
        facts.append("hostNetwork on: pods bind their ports on the node, so pods that declare "
                     f"the same port ({', '.join(map(str, ports))}) never share a node.")
    else:
        facts.append("hostNetwork off: pods have their own network namespace and can share a "
                     "node.")
    for group in plan.groups:
        ranks = "rank 1 runs" if group.size == 2 else f"ranks 1 to {group.size - 1} run"
        facts.append(f"{group.name} is a LeaderWorkerSet: each {group.role} worker is a group of "
                     f"{group.size} pods of {group.gpus_per_pod} GPUs, each on a node of its own "
                     f"({group.size * group.gpus_per_pod} GPUs); the leader runs the Dynamo "
                     f"runtime and serves the system port, {ranks} headless, and a restart "
                     "of any pod recreates its group.")
    if plan.other_pods:
        facts.append("Pods without GPUs, which the scheduler may put on any node: "
                     f"{', '.join(plan.other_pods)}.")
    if not plan.fits:
        facts.append(f"Does not fit: {len(plan.unplaced)} pod(s) find no node; the pods need "
                     f"{_nodes(plan.needed_nodes) if plan.needed_nodes else 'larger nodes'}.")
    return facts


def _etcd_tls(plan: Plan) -> list[str]:
    if not plan.etcd_tls_dns_names:
        return []
    return ["etcd speaks mutual TLS: the certificate in its server Secret needs these DNS names "
            "(and the serverAuth and clientAuth usages; see docs/hardening.md):",
            *(f"  - {name}" for name in plan.etcd_tls_dns_names)]


_PREREQUISITES = "What the cluster must have besides these manifests:"


def text(plan: Plan, environment: str) -> str:
    """The plan as an aligned table with its facts below, for `python -m constructs_lib plan`."""
    rows = [tuple(c.upper() for c in _COLUMNS), *_rows(plan)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [f"Placement plan of {environment}: {_summary(plan)}", ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    lines += ["", *_facts(plan)]
    if autoscaled := _autoscaled(plan):
        lines += ["", "Autoscaled (the plan places the maximum; the workloads carry no "
                      "replicas):", *(f"  - {line}" for line in autoscaled)]
    if tls := _etcd_tls(plan):
        lines += ["", *tls]
    if plan.cluster_prerequisites:
        lines += ["", _PREREQUISITES, *(f"  - {need}" for need in plan.cluster_prerequisites)]
    return "\n".join(lines) + "\n"


def markdown(plan: Plan, environment: str) -> str:
    """The plan as PLAN.md, written next to the manifests of the environment."""
    lines = [f"# Placement plan: {environment}", "", _summary(plan), "",
             "| " + " | ".join(_COLUMNS) + " |",
             "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(plan)]
    lines += [""] + [f"- {fact}" for fact in _facts(plan)]
    if plan.autoscaled:
        groups = (" (a LeaderWorkerSet's replicas are its groups)"
                  if any(a.group_size > 1 for a in plan.autoscaled) else "")
        lines += ["", "## Autoscaling", "",
                  f"The autoscalers own these workloads' replicas{groups}, which the manifests "
                  "leave out; the plan places each at its maximum.", "",
                  "| Workload | min | max | GPUs per replica | scaled by |",
                  "|---|---|---|---|---|"]
        lines += [f"| {a.deployment} | {a.min_replicas} | {a.max_replicas} | "
                  f"{_replica_gpus(a)} | {a.autoscaler} |" for a in plan.autoscaled]
    if tls := _etcd_tls(plan):
        lines += ["", "## etcd TLS", "", tls[0], "",
                  *(f"- `{name}`" for name in plan.etcd_tls_dns_names)]
    if plan.cluster_prerequisites:
        lines += ["", "## Cluster prerequisites", "", _PREREQUISITES, "",
                  *(f"- {need}" for need in plan.cluster_prerequisites)]
    lines += ["", "Generated at synth time from the environment file; "
                  f"`python -m constructs_lib plan {environment}` prints the same plan."]
    return "\n".join(lines) + "\n"
