"""What `synth` reports for each environment it wrote: resources by kind, the GPUs the
Deployments (and LeaderWorkerSets) request, and the nodes the environment is planned onto."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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

    @property
    def resources(self) -> int:
        return sum(self.kinds.values())

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {count}" for kind, count in self.kinds.items())
        totals = f"{self.gpus} GPU{'' if self.gpus == 1 else 's'}"
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
    return Summary(name, folder, dict(kinds), gpus_requested(deployments), len(plan.nodes))



def _pod_gpus(template: dict[str, Any]) -> int:
    return sum(extended_resource(container, GPU_RESOURCE)
               for container in template["spec"]["containers"])


def gpus_requested(documents: Iterable[dict[str, Any]]) -> int:
    """The sum over Deployments of replicas x the `nvidia.com/gpu` of their pods' containers,
    over LeaderWorkerSets of groups x (the leader's and each follower's), and over a
    DynamoGraphDeployment's components, times their nodes."""
    total = 0
    for document in documents:
        if document["kind"] == "DynamoGraphDeployment":
            # Imported here: the renderers import cdk8s, which must wait for jsii_session.
            from .._render.dynamo_graph import gpus_of

            total += gpus_of(document)
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
        total += spec.get("replicas", 1) * per_replica
    return total
