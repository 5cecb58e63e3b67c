"""The summary `synth` prints per environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from constructs_lib.tools import summary
from constructs_lib.tools.summary import Summary, gpus_requested
from tests.conftest import Synthesized
from tests.support.charts import plan_of

# What the shipped environments' own comments say they use (H20x8 nodes).
SHIPPED_GPUS = {"single-node": 8, "single-node-no-rdma": 8, "single-node-v1": 8,
                "multi-node": 24, "multi-node-no-rdma": 24, "multi-node-v1": 24, "dev": 1,
                "deepseek-r1-v1": 32, "autoscaling-keda": 8, "autoscaling-hpa": 6}
# Autoscaled: the GPUs at the autoscalers' maximum (SHIPPED_GPUS holds their minimum).
SHIPPED_MAX_GPUS = {"autoscaling-keda": 24, "autoscaling-hpa": 8}


def _deployment(replicas: int, *gpus: Any) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "resources": {"limits": {"nvidia.com/gpu": g}}
                   if g is not None else {}} for i, g in enumerate(gpus)]
    return {"kind": "Deployment",
            "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}}


def test_gpus_are_replicas_times_the_gpus_of_each_pod_of_every_deployment() -> None:
    documents = [
        _deployment(2, 4, None),
        _deployment(3, "1"),
        _deployment(0, 8),
        {"kind": "StatefulSet", "spec": {"replicas": 1}},
    ]
    assert gpus_requested(documents) == 2 * 4 + 3 * 1


def test_an_autoscaled_deployment_counts_at_its_minimum() -> None:
    autoscaled = _deployment(0, 4)
    del autoscaled["spec"]["replicas"]
    autoscaled["metadata"] = {"name": "pool"}
    assert gpus_requested([autoscaled]) == 4  # Kubernetes' default of one replica
    assert gpus_requested([autoscaled], {"pool": 3}) == 12
    line = Summary("d", Path("out/d"), {"Deployment": 2}, 8, 3, max_gpus=24).lines()[1]
    assert line == "  Deployment 2; 8 to 24 GPUs (autoscaled) on 3 nodes"


def test_the_summary_names_kinds_in_apply_order_and_nodes_only_when_planned() -> None:
    kinds = {"ConfigMap": 3, "Service": 5, "Deployment": 1}
    assert Summary("a", Path("dist/a"), kinds, 8, None).lines() == [
        "a: 9 resources -> dist/a", "  ConfigMap 3, Service 5, Deployment 1; 8 GPUs"]
    assert Summary("b", Path("out/b"), {"Deployment": 1}, 1, 1).lines()[1] == (
        "  Deployment 1; 1 GPU on 1 node")
    assert Summary("c", Path("out/c"), {"Deployment": 3}, 24, 3).lines()[1] == (
        "  Deployment 3; 24 GPUs on 3 nodes")


@pytest.mark.parametrize("name", sorted(SHIPPED_GPUS))
def test_shipped_environments_summarize_their_synthesized_files(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    result = synthesized[name]
    files = [line.removeprefix("  - ") for line in
             (result.folder / "kustomization.yaml").read_text().splitlines()
             if line.startswith("  - ")]
    report = summary.summarize(name, result.folder, files, plan_of(result.environment))
    assert report.gpus == SHIPPED_GPUS[name]
    assert report.resources == len(result.documents)
    assert report.kinds == {kind: sum(d["kind"] == kind for d in result.documents)
                            for kind in report.kinds}
    assert report.max_gpus == SHIPPED_MAX_GPUS.get(name)
    # The autoscalers follow the workloads they scale, and the monitors come last.
    kinds = [k for k in report.kinds if k not in ("ServiceMonitor", "PodMonitor")]
    workloads, autoscalers = ("Deployment", "LeaderWorkerSet"), ("HorizontalPodAutoscaler",
                                                                 "ScaledObject")
    assert kinds[-1] in (*workloads, *autoscalers)
    assert max(i for i, k in enumerate(kinds) if k in workloads) == max(
        i for i, k in enumerate(kinds) if k not in autoscalers)
    assert report.nodes == {"multi-node": 3, "multi-node-no-rdma": 3, "multi-node-v1": 3,
                            "deepseek-r1-v1": 4, "autoscaling-keda": 3}.get(name, 1)


def test_a_leader_worker_set_counts_every_pod_of_every_group() -> None:
    def template(gpus: int) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": "w", "resources": {
            "limits": {"nvidia.com/gpu": gpus}}}]}}
    group = {"kind": "LeaderWorkerSet", "metadata": {"name": "pool"}, "spec": {
        "replicas": 3, "leaderWorkerTemplate": {
            "size": 4, "leaderTemplate": template(8), "workerTemplate": template(8)}}}
    assert gpus_requested([group, _deployment(1, 2)]) == 3 * 4 * 8 + 2
    # Without a leader template, the leader is made from the worker template.
    del group["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    assert gpus_requested([group]) == 96
    # Autoscaled: no replicas, its groups counted at the autoscaler's minimum.
    del group["spec"]["replicas"]
    assert gpus_requested([group], {"pool": 2}) == 2 * 4 * 8
