"""`resources` maps of the seed's values: GPUs, requests and limits."""

from __future__ import annotations

from tests.support.helm_values import converted, problems, sized


def test_resources_map_to_gpus_requests_and_limits() -> None:
    env = converted(sized(4, decode_gpus=2), {"single": {"resources": {
        "requests": {"nvidia.com/gpu": 4, "cpu": "8", "memory": "64Gi",
                     "ephemeral-storage": "100Gi"},
        "limits": {"nvidia.com/gpu": 4, "memory": "64Gi"}}}}).environment
    resources = env.frontend.resources
    assert resources.gpus == 4
    assert resources.requests.render() == {"cpu": "8", "memory": "64Gi",
                                           "ephemeral-storage": "100Gi"}
    assert resources.limits.render() == {"memory": "64Gi"}


def test_a_gpu_limit_alone_is_enough() -> None:
    env = converted({"configs": sized(2, decode_gpus=1)["configs"]},
                    {"single": {"resources": {"requests": None,
                                              "limits": {"nvidia.com/gpu": 2}}}}).environment
    assert env.frontend.resources.gpus == 2


def test_null_resources_delete_the_charts_gpus() -> None:
    # The pod is left without GPUs, which its workers need: named by the file that deleted them.
    assert problems({"single": {"resources": None}}) == [
        "f0.yaml: single.resources.limits.nvidia.com/gpu: 0 nvidia.com/gpu, but the components "
        "of the frontend pod ask for 8: VllmWorker 1 x 4 + PrefillWorker 4 x 1 (ServiceArgs "
        "workers x resources.gpu); set it to 8, or change ServiceArgs"]


def test_resource_problems_name_the_resource() -> None:
    assert problems({"single": {"resources": {
        "requests": {"nvidia.com/gpu": 8, "tke.cloud.tencent.com/tke-shared-rdma": 1},
        "limits": {"nvidia.com/gpu": 4, "example.com/fpga": 1, "cpu": "lots"}}}}) == [
        "f0.yaml: single.resources.requests.tke.cloud.tencent.com/tke-shared-rdma: is added by "
        "rdma.enable (one device per pod); remove it from resources",
        "f0.yaml: single.resources.limits.example.com/fpga: is not a resource this project "
        "sets; allowed: cpu, memory, ephemeral-storage, nvidia.com/gpu",
        "f0.yaml: single.resources.limits.nvidia.com/gpu: is 4 but the request is 8; Kubernetes "
        "requires a GPU request to equal its limit",
        "f0.yaml: single.resources.limits.cpu: 'lots' is not a Kubernetes quantity such as 10, "
        "500m or 20Gi",
    ]


def test_gpu_counts_are_whole_numbers() -> None:
    assert problems({"single": {"resources": {"limits": {"nvidia.com/gpu": "8.5"}}}}) == [
        "f0.yaml: single.resources.limits.nvidia.com/gpu: expected a whole number, got 8.5"]
