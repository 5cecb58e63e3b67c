"""FrontendDeployment: the seed's names, configuration, Service and metrics, and the hardening
(probes, sizing, privileges, placement, disruption budgets)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from constructs_lib import RdmaPolicy
from constructs_lib.model import (
    DependencyWaitSettings,
    DisruptionBudgetSettings,
    MetricsSettings,
    Mode,
    ProbeSettings,
    Resources,
    SecuritySettings,
    ServiceSettings,
    UpdateStrategy,
)
from constructs_lib.model.loader import load_environment
from constructs_lib.v0_1 import FrontendDeployment, FrontendDeploymentProps
from tests.conftest import ENVIRONMENTS, SHIPPED, Synthesized
from tests.support.builders import (
    SINGLE_CONFIG,
    WORKLOAD,
    chart,
    env_of,
    matches,
    one,
    pod_spec,
    synth,
)
from tests.support.charts import find, refusals, synthesize_with


def props(**changes) -> FrontendDeploymentProps:
    base = dict(WORKLOAD, config=SINGLE_CONFIG, resources=Resources(gpus=4))
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
    service_name = one(docs, "Service")["metadata"]["name"]
    assert service_name == frontend.service_name == "r1-dynamo-multinode"
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
    metrics = MetricsSettings.model_validate({"enabled": False,
                                              "service_monitor": {"enabled": True}})
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
    sidecar_limits = sidecar.get("resources", {}).get("limits", {})
    assert "tke.cloud.tencent.com/tke-shared-rdma" not in sidecar_limits


def test_props_refuse_an_empty_graph() -> None:
    with pytest.raises(ValueError, match="at least one component"):
        props(graph=())


def test_an_etcd_client_certificate_is_refused_for_dynamo_v01() -> None:
    def build(c: Any) -> None:
        FrontendDeployment(c, "fe", props(etcd_client_tls_secret="etcd-client"))
    [refusal] = refusals(build)
    assert refusal.endswith("/fe: etcd_client_tls_secret: etcd-client, but Dynamo v0.1 has no "
                            "etcd TLS client (it reads plain http endpoints only); use the "
                            "Dynamo 1.x constructs, or an etcd without TLS")


# --- production hardening -------------------------------------------------------------

CONFIG = load_environment(ENVIRONMENTS / "single-node.yaml").frontend.config


def frontend(rdma: bool = False, **props: Any) -> list[dict[str, Any]]:
    """The single-node example's frontend pod (8 GPUs) with `props` changed."""
    props.setdefault("resources", Resources(gpus=8))

    def build(chart: Any) -> None:
        FrontendDeployment(chart, "fe", FrontendDeploymentProps(
            release="llama", full_name="llama-dynamo", namespace="inference",
            etcd_endpoints="llama-etcd:2379", nats_url="nats://llama-nats:4222",
            rdma=RdmaPolicy(chart, "rdma") if rdma else None, **{"config": CONFIG, **props}))
    return synthesize_with(build)


def pod(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return find(documents, "Deployment")["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_dynamo_pods_take_no_privileges_they_do_not_need(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    for deployment in synthesized[name].all("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        rdma = "tke.cloud.tencent.com/networks" in deployment["spec"]["template"]["metadata"].get(
            "annotations", {})
        # Kubernetes discovery calls the API as the release's own ServiceAccount; nothing else
        # needs a token.
        env = {e["name"]: e.get("value") for e in spec["containers"][0].get("env", [])}
        calls_the_api = env.get("DYN_DISCOVERY_BACKEND") == "kubernetes"
        assert spec["automountServiceAccountToken"] is calls_the_api
        assert ("serviceAccountName" in spec) is calls_the_api
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"] + spec.get("initContainers", []):
            security = container["securityContext"]
            assert "privileged" not in security
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            added = security["capabilities"].get("add", [])
            assert added == (["IPC_LOCK"] if rdma and container in spec["containers"] else [])
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_dynamo_pods_are_kept_apart(name: str,
                                            synthesized: dict[str, Synthesized]) -> None:
    rdma = synthesized[name].environment.rdma
    host_network = rdma.enabled and rdma.host_network
    for deployment in synthesized[name].all("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert spec.get("hostNetwork", False) is host_network
        if host_network:
            assert "requiredDuringSchedulingIgnoredDuringExecution" in spec["affinity"][
                "podAntiAffinity"]
        else:
            assert spec["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"


@pytest.mark.parametrize("name", SHIPPED)
def test_only_replicated_deployments_have_disruption_budgets(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    result = synthesized[name]
    deployments = {d["metadata"]["name"]: d for d in result.all("Deployment")}
    budgets = {b["metadata"]["name"] for b in result.all("PodDisruptionBudget")
               if b["metadata"]["name"] in deployments}
    # An autoscaled Deployment has no replicas: its autoscaler's maximum counts.
    maxima = {a["spec"]["scaleTargetRef"]["name"]: a["spec"].get("maxReplicas") or
              a["spec"]["maxReplicaCount"]
              for a in result.all("HorizontalPodAutoscaler") + result.all("ScaledObject")}
    assert budgets == {name for name, d in deployments.items()
                       if d["spec"].get("replicas", maxima.get(name)) >= 2}


def test_shared_memory_and_resources_follow_the_gpus() -> None:
    spec = pod(frontend(resources=Resources(gpus=8)))
    [dshm] = [v for v in spec["volumes"] if v["name"] == "dshm"]
    assert dshm["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    resources = spec["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": 32, "memory": "128Gi", "nvidia.com/gpu": 8}
    assert resources["limits"] == {"cpu": 128, "memory": "272Gi", "nvidia.com/gpu": 8}


def test_the_api_pod_is_probed_over_http() -> None:
    container = pod(frontend())["containers"][0]
    assert container["startupProbe"]["exec"]["command"][3] == "completion-answered"
    assert container["readinessProbe"]["exec"]["command"][3:5] == ["models-listed", "8000"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/v1/models", "port": "serve"}


def test_probes_can_be_switched_off() -> None:
    container = pod(frontend(probes=ProbeSettings(enabled=False)))["containers"][0]
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(container)


def test_the_wait_for_dependencies_can_be_switched_off() -> None:
    assert "initContainers" not in pod(frontend(dependency_wait=DependencyWaitSettings(
        enabled=False)))


def test_debug_turns_on_verbose_dynamo_and_nccl_logs() -> None:
    env = {e["name"]: e["value"] for e in pod(frontend(debug=True))["containers"][0]["env"]}
    assert env["DYN_LOG"] == "debug" and env["NCCL_DEBUG"] == "INFO"
    env = {e["name"] for e in pod(frontend())["containers"][0]["env"]}
    assert not {"DYN_LOG", "NCCL_DEBUG"} & env


def test_security_can_be_relaxed_where_a_cluster_needs_it() -> None:
    spec = pod(frontend(rdma=True, security=SecuritySettings(
        drop_all_capabilities=False, seccomp_profile="Unconfined",
        automount_service_account_token=True)))
    assert spec["automountServiceAccountToken"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    assert spec["containers"][0]["securityContext"]["capabilities"] == {"add": ["IPC_LOCK"]}


def test_a_rolling_update_and_a_budget_for_replicas() -> None:
    documents = frontend(replicas=3, update_strategy=UpdateStrategy(type="RollingUpdate"),
                         disruption_budget=DisruptionBudgetSettings(max_unavailable=2))
    strategy = find(documents, "Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    budget = find(documents, "PodDisruptionBudget", "llama-dynamo-single")["spec"]
    assert budget["maxUnavailable"] == 2


def test_a_graph_without_the_frontend_is_probed_as_workers() -> None:
    from constructs_lib.model import Component, ServeConfig
    sections = CONFIG.render()
    sections["VllmWorker"] = {**sections["VllmWorker"], "remote-prefill": False}
    decode_only = ServeConfig.model_validate(sections)
    container = pod(frontend(mode=Mode.MULTINODE, graph=(Component.PROCESSOR, Component.ROUTER,
                                                         Component.VLLM_WORKER),
                             config=decode_only, resources=Resources(gpus=4)))["containers"][0]
    assert container["livenessProbe"]["exec"]["command"][3] == "workers-running"


def test_the_metrics_sidecar_is_probed_sized_and_restricted() -> None:
    containers = pod(frontend(metrics=MetricsSettings(enabled=True)))["containers"]
    metrics = next(c for c in containers if c["name"] == "metrics")
    assert metrics["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert metrics["resources"]["limits"] == {"cpu": 1, "memory": "512Mi"}
    assert metrics["securityContext"]["capabilities"] == {"drop": ["ALL"]}
