"""The placement planner: the seed's examples plan as its README says; packing is exact."""

from __future__ import annotations

import pytest

from constructs_lib import placement
from constructs_lib.placement import PodReplica
from tests.support.charts import plan_of
from tests.support.environments import checked, unchecked

FRONTEND_SINGLE = "deepseek-r1-llama-70b-dynamo-single"
FRONTEND_MULTI = "deepseek-r1-llama-70b-dynamo-multinode-frontend"
PREFILL = "deepseek-r1-llama-70b-dynamo-multinode-prefill"


def layout(plan: placement.Plan) -> list[tuple[str, int, list[tuple[str, int, int, int]]]]:
    """Node by node: name, GPUs used, and each pod's deployment, replica, decode and prefill
    GPUs."""
    return [(node.name, node.used,
             [(p.deployment, p.replica, p.decode_gpus, p.prefill_gpus) for p in node.pods])
            for node in plan.nodes]


@pytest.mark.parametrize("name", ["single-node", "single-node-no-rdma"])
def test_the_single_node_example_fills_one_h20_node(name: str) -> None:
    plan = plan_of(checked(name))
    # README: 1 x H20*8; 1 VllmWorker on 4 GPUs (decode) and 4 PrefillWorkers on 1 GPU each.
    assert layout(plan) == [("node-1", 8, [(FRONTEND_SINGLE, 1, 4, 4)])]
    assert (plan.declared, plan.gpus_per_node, plan.gpu_product, plan.fits) == (
        True, 8, "NVIDIA-H20", True)


@pytest.mark.parametrize("name", ["multi-node", "multi-node-no-rdma"])
def test_the_multi_node_example_plans_as_the_readme_says(name: str) -> None:
    plan = plan_of(checked(name))
    # README: node 1 runs 4 decode + 4 prefill GPUs, nodes 2 and 3 run 8 prefill GPUs each.
    assert layout(plan) == [
        ("node-1", 8, [(FRONTEND_MULTI, 1, 4, 4)]),
        ("node-2", 8, [(PREFILL, 1, 0, 8)]),
        ("node-3", 8, [(PREFILL, 2, 0, 8)]),
    ]
    pods = plan.gpu_pods
    assert (plan.requested, sum(p.decode_gpus for p in pods),
            sum(p.prefill_gpus for p in pods)) == (24, 4, 20)


def test_the_facts_of_the_rdma_example() -> None:
    plan = plan_of(checked("multi-node"))
    assert (plan.rdma, plan.network_mode, plan.host_network) == (True, "tke-route-eni", True)
    assert {p.host_ports for p in plan.gpu_pods} == {(8000,)}
    assert plan.other_pods == ("deepseek-r1-llama-70b-etcd-0", "deepseek-r1-llama-70b-nats-0")
    without = plan_of(checked("multi-node-no-rdma"))
    assert (without.rdma, without.host_network) == (False, False)
    assert {p.host_ports for p in without.gpu_pods} == {()}


def test_without_a_node_pool_the_plan_counts_default_nodes() -> None:
    plan = plan_of(checked("multi-node", nodes=None))
    assert (plan.declared, len(plan.nodes), plan.gpus_per_node, plan.fits) == (False, 3, 8, True)


def test_without_a_node_pool_nothing_is_refused_and_nodes_grow_to_the_largest_pod() -> None:
    env = checked("single-node", nodes=None, frontend={
        "resources": {"gpus": 16},
        "config": {"PrefillWorker": {"ServiceArgs": {"workers": 12}}}})
    plan = plan_of(env)
    assert (plan.gpus_per_node, len(plan.nodes), plan.fits) == (16, 1, True)


def test_a_larger_pool_leaves_nodes_empty() -> None:
    plan = plan_of(checked("multi-node", nodes={"count": 4}))
    assert [node.used for node in plan.nodes] == [8, 8, 8, 0]
    assert plan.needed_nodes == 3


def test_host_network_keeps_pods_with_the_same_port_apart() -> None:
    big_node = {"count": 2, "gpus_per_node": 16}
    plan = plan_of(unchecked("multi-node", nodes=big_node, prefill={
        "replicas": 2, "resources": {"gpus": 4},
        "config": {"PrefillWorker": {"ServiceArgs": {"workers": 4}}}}))
    # Three pods of 8 + 4 + 4 GPUs would fit 16-GPU nodes two at a time, but all bind 8000.
    assert not plan.fits
    assert plan.needed_nodes == 3
    without = plan_of(checked("multi-node-no-rdma", nodes=big_node, prefill={
        "replicas": 2, "resources": {"gpus": 4},
        "config": {"PrefillWorker": {"ServiceArgs": {"workers": 4}}}}))
    assert without.fits
    assert [node.used for node in without.nodes] == [16, 0]


def test_a_pool_too_small_leaves_pods_unplaced() -> None:
    plan = plan_of(unchecked("multi-node", nodes={"count": 2}))
    assert [p.label for p in plan.unplaced] == [f"{PREFILL} replica 2 of 2"]
    assert (plan.requested, plan.capacity, plan.needed_nodes) == (24, 16, 3)


def test_no_replicas_means_no_pods() -> None:
    plan = plan_of(checked("multi-node", prefill={"replicas": 0}))
    assert layout(plan)[1:] == [("node-2", 0, []), ("node-3", 0, [])]


def test_pods_without_gpus_go_to_any_node() -> None:
    env = checked("multi-node", nodes=None, frontend={
        "graph": ["Frontend", "Processor", "Router"], "resources": {"gpus": 0},
        "config": {"VllmWorker": None, "PrefillWorker": None}})
    plan = plan_of(env)
    assert f"{FRONTEND_MULTI} replica 1 of 1 (no GPU)" in plan.other_pods
    assert [len(node.pods) for node in plan.nodes] == [1, 1]


def pod(gpus: int, index: int, ports: tuple[int, ...] = ()) -> PodReplica:
    return PodReplica(role="prefill", deployment="p", replica=index, replicas=9, gpus=gpus,
                      decode_gpus=0, prefill_gpus=gpus, host_ports=ports, rdma=False)


def test_first_fit_is_backed_by_an_exact_search() -> None:
    pods = [pod(g, i) for i, g in enumerate([4, 4, 3, 3, 3, 3])]
    # First-fit decreasing puts 4+4 on one node and strands a 3; 4+3+3 twice fits exactly.
    _, stranded = placement.first_fit(pods, 2, 10)
    assert len(stranded) == 1
    packed = placement.pack(pods, 2, 10)
    assert packed is not None
    assert sorted(sorted(p.gpus for p in node) for node in packed) == [[3, 3, 4], [3, 3, 4]]
    assert placement.fewest_nodes(pods, 10) == 2


def test_no_placement_is_reported_as_none() -> None:
    pods = [pod(6, i) for i in range(3)]
    assert placement.pack(pods, 2, 10) is None
    assert placement.fewest_nodes(pods, 10) == 3
    assert placement.fewest_nodes([pod(12, 0)], 10) is None


def test_shared_host_ports_count_towards_the_fewest_nodes() -> None:
    pods = [pod(1, i, ports=(8000,)) for i in range(3)] + [pod(1, 9, ports=(9091,))]
    assert placement.fewest_nodes(pods, 8) == 3
    assert placement.fewest_nodes([pod(1, i) for i in range(3)], 8) == 1
