"""GpuNodePool: the GPU nodes a chart's Dynamo pods must fit on."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from . import placement
from .dependencies import DependencyStack
from .rules import Finding, Stage, tagged
from .rules.capacity import (
    blamed_on_autoscaling,
    deployment_fits_nodes,
    worker_groups_fit_nodes,
)
from .rules.subjects import RuleSubject, chart_of, subjects_of, take_part
from .workload import DynamoWorkload


@dataclass(frozen=True, kw_only=True)
class GpuNodePoolProps:
    count: int
    """How many GPU nodes the chart's Dynamo pods may use."""
    gpus_per_node: int
    """`nvidia.com/gpu` each node offers."""
    gpu_product: str | None = None
    """The nodes' `nvidia.com/gpu.product` label (e.g. NVIDIA-H20), shown in the plan. It is
    not turned into a nodeSelector: the label comes from GPU Feature Discovery, which not
    every TKE node runs. Default: not stated."""

    def __post_init__(self) -> None:
        for name in ("count", "gpus_per_node"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")


class GpuNodePool(Construct, RuleSubject):
    """Declares the GPU nodes of a chart: nothing is emitted, but `app.synth()` refuses the
    chart when its Dynamo pods cannot all be placed on these nodes (bin-packing by GPUs, one
    host-network pod per node where their ports would collide, the pods of a LeaderWorkerSet
    group each on a whole node of its own), saying what is missing where.
    `plan()` returns the placement."""

    def __init__(self, scope: Construct, id: str, props: GpuNodePoolProps) -> None:
        super().__init__(scope, id)
        self.count = props.count
        """Nodes in the pool."""
        self.gpus_per_node = props.gpus_per_node
        """GPUs per node."""
        self.gpu_product = props.gpu_product
        """The GPU model, as the nodes' label names it; None when not stated."""
        self._chart = chart_of(self, scope)
        self.locator = take_part(self, self.problems)

    def plan(self) -> placement.Plan:
        """Where every Dynamo pod of the chart would run on these nodes."""
        return placement.plan(self._chart, self)

    def findings(self) -> list[Finding]:
        plan = self.plan()
        # A group that no node layout can hold is the problem to fix; the pods it leaves out
        # would only restate it.
        groups = tagged(worker_groups_fit_nodes, Stage.PLACEMENT,
                        worker_groups_fit_nodes(plan, self.locator))
        # An autoscaled pool whose maximum alone breaks the fit names its max_replicas itself.
        if groups or blamed_on_autoscaling(self):
            return groups
        return tagged(deployment_fits_nodes, Stage.PLACEMENT,
                      deployment_fits_nodes(plan, self.locator))

    def problems(self) -> list[Finding]:
        """The pods that find no node; nothing while another construct of the chart has
        problems of its own (those say what to fix first)."""
        others: list[RuleSubject] = [*subjects_of(self._chart, DynamoWorkload),
                                     *subjects_of(self._chart, DependencyStack)]
        if any(other.problems() for other in others):
            return []
        return self.findings()
