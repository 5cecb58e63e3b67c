from __future__ import annotations

import pytest
import yaml

from constructs_lib import PrefillWorkerPool, PrefillWorkerPoolProps
from constructs_lib.model import Resources, ServeConfig
from tests.support.builders import PREFILL_CONFIG, chart, env_of, matches, one, pod_spec, synth


def props(**changes) -> PrefillWorkerPoolProps:
    base = dict(release="r1", full_name="r1-dynamo", namespace="ns", config=PREFILL_CONFIG,
                etcd_endpoints="r1-etcd:2379", nats_url="nats://r1-nats:4222",
                graphs_config_map_name="r1-dynamo-graphs", replicas=2,
                resources=Resources(gpus=4))
    return PrefillWorkerPoolProps(**{**base, **changes})


def test_runs_only_the_prefill_worker_with_its_own_config() -> None:
    c = chart()
    pool = PrefillWorkerPool(c, "prefill", props())
    docs = synth(c)
    deployment = one(docs, "Deployment")
    assert deployment["metadata"]["name"] == "r1-dynamo-multinode-prefill"
    container = pod_spec(deployment)["containers"][0]
    assert "dynamo serve components.prefill_worker:PrefillWorker -f ./configs/configs.yaml" in (
        container["args"][0])
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["configs"]["configMap"]["name"] == pool.configs_config_map_name
    assert volumes["graphs"]["configMap"]["name"] == "r1-dynamo-graphs"
    configs = one(docs, "ConfigMap", "r1-dynamo-prefill-configs")["data"]["configs.yaml"]
    assert yaml.safe_load(configs) == PREFILL_CONFIG.render()


def test_takes_its_own_resources_not_the_frontends() -> None:
    # The seed renders multinode.resources into the prefill pods; here each role has its own.
    c = chart()
    PrefillWorkerPool(c, "prefill", props(resources=Resources(gpus=4)))
    resources = pod_spec(one(synth(c), "Deployment"))["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 4
    assert resources["requests"]["nvidia.com/gpu"] == 4


def test_replicas_selector_and_endpoints() -> None:
    c = chart()
    PrefillWorkerPool(c, "prefill", props(replicas=3))
    deployment = one(synth(c), "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert matches(deployment["spec"]["selector"]["matchLabels"],
                   deployment["spec"]["template"]["metadata"]["labels"])
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/dynamo-component"] == (
        "multinode-prefill")
    assert env_of(pod_spec(deployment)["containers"][0]) == {
        "NATS_SERVER": "nats://r1-nats:4222", "ETCD_ENDPOINTS": "r1-etcd:2379"}


def test_refuses_a_config_without_prefill_worker() -> None:
    config = ServeConfig.model_validate({"VllmWorker": {"model": "m"}})
    with pytest.raises(ValueError, match="PrefillWorker section"):
        props(config=config)
