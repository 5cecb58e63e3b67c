from __future__ import annotations

import pytest
import yaml

from constructs_lib import FrontendDeployment, FrontendDeploymentProps, RdmaPolicy
from constructs_lib.model import MetricsSettings, Mode, Resources, ServiceSettings
from tests.support.builders import SINGLE_CONFIG, chart, env_of, matches, one, pod_spec, synth


def props(**changes) -> FrontendDeploymentProps:
    base = dict(release="r1", full_name="r1-dynamo", namespace="ns", config=SINGLE_CONFIG,
                etcd_endpoints="r1-etcd:2379", nats_url="nats://r1-nats:4222",
                resources=Resources(gpus=4))
    return FrontendDeploymentProps(**{**base, **changes})


def test_single_mode_names_follow_the_seed_chart() -> None:
    c = chart()
    frontend = FrontendDeployment(c, "frontend", props())
    docs = synth(c)
    assert frontend.deployment_name == "r1-dynamo-single"
    assert frontend.service_name == "r1-dynamo-single"
    assert one(docs, "Deployment")["metadata"]["name"] == "r1-dynamo-single"
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"} == {
        "r1-dynamo-configs", "r1-dynamo-graphs"}


def test_multinode_mode_names_follow_the_seed_chart() -> None:
    c = chart()
    frontend = FrontendDeployment(c, "frontend", props(mode=Mode.MULTINODE))
    docs = synth(c)
    assert one(docs, "Deployment")["metadata"]["name"] == "r1-dynamo-multinode-frontend"
    assert one(docs, "Service")["metadata"]["name"] == frontend.service_name == "r1-dynamo-multinode"
    container = pod_spec(one(docs, "Deployment"))["containers"][0]
    assert container["name"] == "frontend"
    assert "dynamo serve graphs.frontend:Frontend" in container["args"][0]
    assert "frontend.py" in one(docs, "ConfigMap", frontend.graphs_config_map_name)["data"]


def test_gpus_are_requested_and_limited() -> None:
    c = chart()
    FrontendDeployment(c, "frontend", props(resources=Resources(gpus=4)))
    resources = pod_spec(one(synth(c), "Deployment"))["containers"][0]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == 4
    assert resources["limits"]["nvidia.com/gpu"] == 4


def test_service_selects_the_pods_and_deployment_selector_matches_its_template() -> None:
    c = chart()
    FrontendDeployment(c, "frontend", props(pod_labels={"team": "llm"}, labels={"gpu": "h20"}))
    docs = synth(c)
    deployment, service = one(docs, "Deployment"), one(docs, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(service["spec"]["selector"], pod_labels)
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "dynamo",
        "app.kubernetes.io/instance": "r1",
        "app.kubernetes.io/dynamo-component": "single",
    }
    assert service["spec"]["ports"][0]["targetPort"] == "serve"
    assert pod_spec(deployment)["containers"][0]["ports"][0]["name"] == "serve"


def test_configs_are_mounted_where_dynamo_serve_reads_them() -> None:
    c = chart()
    frontend = FrontendDeployment(c, "frontend", props())
    docs = synth(c)
    spec = pod_spec(one(docs, "Deployment"))
    container = spec["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    # `cd /workspace/examples/llm; dynamo serve graphs.single:Frontend -f ./configs/configs.yaml`
    assert "cd /workspace/examples/llm;" in container["args"][0]
    assert mounts["configs"] == "/workspace/examples/llm/configs"
    assert mounts["graphs"] == "/workspace/examples/llm/graphs"
    assert volumes["configs"]["configMap"]["name"] == frontend.configs_config_map_name
    configs = one(docs, "ConfigMap", frontend.configs_config_map_name)["data"]["configs.yaml"]
    assert yaml.safe_load(configs) == SINGLE_CONFIG.render()
    graph = one(docs, "ConfigMap", frontend.graphs_config_map_name)["data"]["single.py"]
    assert graph.splitlines()[-1] == (
        "Frontend.link(Processor).link(Router).link(VllmWorker).link(PrefillWorker)")


def test_dependency_endpoints_reach_every_container() -> None:
    c = chart()
    FrontendDeployment(c, "frontend", props(metrics=MetricsSettings(enabled=True)))
    for container in pod_spec(one(synth(c), "Deployment"))["containers"]:
        assert env_of(container) == {"NATS_SERVER": "nats://r1-nats:4222",
                                     "ETCD_ENDPOINTS": "r1-etcd:2379"}


def test_metrics_sidecar_is_exposed_and_monitored() -> None:
    c = chart()
    metrics = MetricsSettings.model_validate(
        {"enabled": True, "port": 9092, "service_monitor": {"enabled": True, "interval": "30s"}})
    FrontendDeployment(c, "frontend", props(metrics=metrics))
    docs = synth(c)
    sidecar = pod_spec(one(docs, "Deployment"))["containers"][1]
    assert sidecar["args"] == ["metrics --component VllmWorker --endpoint load_metrics --port 9092"]
    assert sidecar["ports"] == [{"name": "metrics", "containerPort": 9092, "protocol": "TCP"}]
    service = one(docs, "Service")
    assert {"name": "metrics", "port": 9092, "targetPort": "metrics", "protocol": "TCP"} in (
        service["spec"]["ports"])
    monitor = one(docs, "ServiceMonitor")
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["interval"] == "30s"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ns"]}


def test_no_service_monitor_without_metrics() -> None:
    c = chart()
    metrics = MetricsSettings.model_validate({"enabled": False, "service_monitor": {"enabled": True}})
    FrontendDeployment(c, "frontend", props(metrics=metrics))
    assert [d for d in synth(c) if d["kind"] == "ServiceMonitor"] == []


def test_service_type_and_port_are_configurable() -> None:
    c = chart()
    FrontendDeployment(c, "frontend", props(service=ServiceSettings(type="NodePort", port=8080)))
    service = one(synth(c), "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["port"] == 8080


def test_rdma_policy_is_applied_to_the_serving_container_only() -> None:
    c = chart()
    rdma = RdmaPolicy(c, "rdma")
    FrontendDeployment(c, "frontend", props(rdma=rdma, metrics=MetricsSettings(enabled=True)))
    serving, sidecar = pod_spec(one(synth(c), "Deployment"))["containers"]
    assert serving["resources"]["limits"]["tke.cloud.tencent.com/tke-shared-rdma"] == 1
    assert "tke.cloud.tencent.com/tke-shared-rdma" not in sidecar.get("resources", {}).get("limits", {})


def test_props_refuse_an_empty_graph() -> None:
    with pytest.raises(ValueError, match="at least one component"):
        props(graph=())
