"""The v0.1 deployment a construct belongs to: the FrontendDeployment and PrefillWorkerPools of
its chart that share its `full_name`, whatever order they were created in."""

from __future__ import annotations

from ..rules.serve_pods import ServeDeployment
from ..rules.subjects import subjects_of
from ..workload import DynamoWorkload


def of(member: DynamoWorkload) -> ServeDeployment:
    from .frontend import FrontendDeployment
    from .prefill_pool import PrefillWorkerPool

    members: list[FrontendDeployment | PrefillWorkerPool] = []
    for m in subjects_of(member.chart, DynamoWorkload):
        if (isinstance(m, (FrontendDeployment, PrefillWorkerPool))
                and m.full_name == member.full_name and m.namespace == member.namespace):
            members.append(m)
    frontends = [m for m in members if isinstance(m, FrontendDeployment)]
    pools = [m for m in members if isinstance(m, PrefillWorkerPool)]
    return ServeDeployment(
        pods=[f.pod_view() for f in frontends[:1]] + [p.pod_view() for p in pools],
        rdma=any(m.uses_rdma for m in frontends[:1]),
    )
