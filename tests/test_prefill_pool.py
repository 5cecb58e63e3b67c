"""PrefillWorkerPool: the seed's prefill pods, and the hardening (process probes, placement,
disruption budgets)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from constructs_lib import RdmaPolicy
from constructs_lib.model import (
    PlacementSettings,
    Resources,
    ServeConfig,
    UpdateStrategy,
)
from constructs_lib.model.loader import load_environment
from constructs_lib.v0_1 import PrefillWorkerPool, PrefillWorkerPoolProps
from tests.conftest import ENVIRONMENTS
from tests.support.builders import (
    PREFILL_CONFIG,
    WORKLOAD,
    chart,
    env_of,
    matches,
    one,
    pod_spec,
    synth,
)
from tests.support.charts import find, refusals, synthesize_with


def props(**changes) -> PrefillWorkerPoolProps:
    base = dict(WORKLOAD, config=PREFILL_CONFIG, graphs_config_map_name="r1-dynamo-graphs",
                replicas=2, resources=Resources(gpus=4))
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


def test_refuses_an_etcd_client_certificate_for_dynamo_v01() -> None:
    def build(c: Any) -> None:
        PrefillWorkerPool(c, "prefill", props(etcd_client_tls_secret="etcd-client"))
    [refusal] = refusals(build)
    assert "/prefill: etcd_client_tls_secret: etcd-client, but Dynamo v0.1 has no etcd TLS" \
        in refusal


# --- production hardening -------------------------------------------------------------

PREFILL = load_environment(ENVIRONMENTS / "multi-node.yaml").prefill
assert PREFILL is not None


def pool(rdma: bool = False, **props: Any) -> list[dict[str, Any]]:
    def build(chart: Any) -> None:
        PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(
            release="llama", full_name="llama-dynamo", config=PREFILL.config,
            graphs_config_map_name="llama-dynamo-graphs", etcd_endpoints="llama-etcd:2379",
            nats_url="nats://llama-nats:4222", resources=Resources(gpus=8),
            rdma=RdmaPolicy(chart, "rdma") if rdma else None, **props))
    return synthesize_with(build)


def test_prefill_pods_have_no_port_to_probe_so_their_processes_are_checked() -> None:
    container = find(pool(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[kind]["exec"]["command"][3] == "workers-running"


def test_two_prefill_pods_are_drained_one_at_a_time() -> None:
    documents = pool(replicas=2)
    budget = find(documents, "PodDisruptionBudget", "llama-dynamo-multinode-prefill")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"] == find(documents, "Deployment")["spec"]["selector"]
    assert [d for d in pool(replicas=1) if d["kind"] == "PodDisruptionBudget"] == []


def test_prefill_pods_spread_and_with_host_network_never_share_a_node() -> None:
    spec = find(pool(replicas=2), "Deployment")["spec"]["template"]["spec"]
    assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"][
        "app.kubernetes.io/dynamo-component"] == "multinode-prefill"
    spec = find(pool(rdma=True, replicas=2), "Deployment")["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert "podAntiAffinity" in spec["affinity"]


def test_prefill_placement_and_update_strategy() -> None:
    documents = pool(placement=PlacementSettings(node_selector={"gpu": "h20"}),
                     update_strategy=UpdateStrategy(type="RollingUpdate", max_unavailable="50%"))
    deployment = find(documents, "Deployment")
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"gpu": "h20"}
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0,
                                                               "maxUnavailable": "50%"}
