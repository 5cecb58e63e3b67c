"""What `synth` reports for each environment it wrote: resources by kind, the GPUs the
Deployments (and LeaderWorkerSets) request, and the nodes the environment is planned onto."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._render.escape_hatches import GPU_RESOURCE, extended_resource
from ..placement import Plan
from .synth import file_kind

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_GPU_KINDS = ("Deployment", "LeaderWorkerSet", "DynamoGraphDeployment")
"""The kinds whose pods request GPUs: read back to count them."""


@dataclass(frozen=True)
class Summary:
    name: str
    folder: Path
    kinds: dict[str, int]
    """Resources per kind, in the order the kinds are applied."""
    gpus: int
    nodes: int | None
    """None when the environment has no placement plan."""
    max_gpus: int | None = None
    """With autoscaled workloads, the GPUs at their autoscalers' maximum (`gpus` counts them at
    their minimum); None without."""

    @property
    def resources(self) -> int:
        return sum(self.kinds.values())

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {count}" for kind, count in self.kinds.items())
        totals = f"{self.gpus} GPU{'' if self.gpus == 1 else 's'}"
        if self.max_gpus is not None:
            totals = f"{self.gpus} to {self.max_gpus} GPUs (autoscaled)"
        if self.nodes is not None:
            totals += f" on {self.nodes} node{'' if self.nodes == 1 else 's'}"
        return [f"{self.name}: {self.resources} resources -> {self.folder}",
                f"  {kinds}; {totals}"]


def summarize(name: str, folder: Path, files: Iterable[str], plan: Plan) -> Summary:
    """`files` in apply order (as kustomization.yaml lists them), read back from `folder`;
    `plan` is the environment's placement plan (declared nodes, or the fewest needed).

    Each file holds one resource, so kinds are counted from the names and only the
    Deployments and LeaderWorkerSets are parsed: reading back every file cost a synth of the
    shipped environments 0.1 s.
    """
    files = list(files)
    kinds = Counter(file_kind(file) for file in files)
    deployments = [document for file in files if file_kind(file) in _GPU_KINDS
                   for document in yaml.load_all((folder / file).read_text(), Loader=_Loader)
                   if document]
    minimum = {name: a.min_replicas for a in plan.autoscaled
               for name in (a.deployment, a.component) if name}
    gpus = gpus_requested(deployments, minimum)
    extra = sum((a.max_replicas - a.min_replicas) * a.gpus_per_replica for a in plan.autoscaled)
    return Summary(name, folder, dict(kinds), gpus, len(plan.nodes),
                   gpus + extra if plan.autoscaled else None)



def _pod_gpus(template: dict[str, Any]) -> int:
    return sum(extended_resource(container, GPU_RESOURCE)
               for container in template["spec"]["containers"])


def gpus_requested(documents: Iterable[dict[str, Any]],
                   autoscaled: Mapping[str, int] | None = None) -> int:
    """The sum over Deployments of replicas x the `nvidia.com/gpu` of their pods' containers,
    over LeaderWorkerSets of groups x (the leader's and each follower's), and over a
    DynamoGraphDeployment's components, times their nodes. A workload without replicas (an
    autoscaler owns them) counts with its minimum from `autoscaled`, by name (a graph's
    components by component name), else with Kubernetes' default of 1."""
    minimum = autoscaled or {}
    total = 0
    for document in documents:
        if document["kind"] == "DynamoGraphDeployment":
            # Imported here: the renderers import cdk8s, which must wait for jsii_session.
            from .._render.dynamo_graph import gpus_of

            total += gpus_of(document, minimum)
            continue
        spec = document["spec"]
        if document["kind"] == "Deployment":
            per_replica = _pod_gpus(spec["template"])
        elif document["kind"] == "LeaderWorkerSet":
            group = spec["leaderWorkerTemplate"]
            leader = group.get("leaderTemplate", group["workerTemplate"])
            per_replica = (_pod_gpus(leader)
                           + (group.get("size", 1) - 1) * _pod_gpus(group["workerTemplate"]))
        else:
            continue
        default = minimum.get(document.get("metadata", {}).get("name"), 1)
        total += spec.get("replicas", default) * per_replica
    return total
