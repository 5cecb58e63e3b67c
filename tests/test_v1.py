"""Dynamo 1.x: argument translation, and the layout of the shipped 1.x environments."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from constructs_lib._render.v1 import engine_arguments
from constructs_lib.model import V1Settings
from tests.conftest import Synthesized
from tests.support.builders import env_of, pod_spec


def test_v01_settings_become_vllm_flags() -> None:
    args = engine_arguments(
        {"model": "/m", "block-size": 64, "enable-prefix-caching": False, "enforce-eager": True,
         "remote-prefill": True, "router": "kv", "max-prefill-queue-size": 2,
         "kv-transfer-config": '{"kv_connector":"DynamoNixlConnector"}',
         "ServiceArgs": {"workers": 1}, "disable-log-requests": True},
        served_model_name="served", mode="prefill", kv_connector="NixlConnector")
    assert args == [
        "--model", "/m", "--served-model-name", "served", "--disaggregation-mode", "prefill",
        "--block-size", "64", "--no-enable-prefix-caching", "--enforce-eager",
        "--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_both"}',
    ]


def test_system_port_stays_within_what_dynamo_parses() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 32767"):
        V1Settings(system_port=40000)


def deployments(result: Synthesized) -> dict[str, dict]:
    return {d["metadata"]["labels"]["app.kubernetes.io/dynamo-component"]: d
            for d in result.all("Deployment")}


def gpus(deployment: dict) -> int:
    container = pod_spec(deployment)["containers"][0]
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


@pytest.mark.parametrize("name, prefill_pods", [("single-node-v1", 4), ("multi-node-v1", 20)])
def test_v1_environments_keep_the_seed_gpu_layout(name: str, prefill_pods: int,
                                                  synthesized: dict[str, Synthesized]) -> None:
    pools = deployments(synthesized[name])
    assert set(pools) == {"frontend", "decode", "prefill"}
    assert gpus(pools["frontend"]) == 0
    assert (pools["decode"]["spec"]["replicas"], gpus(pools["decode"])) == (1, 4)
    assert (pools["prefill"]["spec"]["replicas"], gpus(pools["prefill"])) == (prefill_pods, 1)
    total = sum(d["spec"]["replicas"] * gpus(d) for d in pools.values())
    assert total == (8 if name == "single-node-v1" else 24)


def test_dev_environment_fits_one_gpu(synthesized: dict[str, Synthesized]) -> None:
    pools = deployments(synthesized["dev"])
    assert set(pools) == {"frontend", "decode"}
    assert sum(d["spec"]["replicas"] * gpus(d) for d in pools.values()) == 1
    args = pod_spec(pools["decode"])["containers"][0]["args"]
    assert args[args.index("--disaggregation-mode") + 1] == "agg"


@pytest.mark.parametrize("name", ["single-node-v1", "multi-node-v1", "dev"])
def test_frontend_points_at_the_services_that_exist(name: str,
                                                    synthesized: dict[str, Synthesized]) -> None:
    result = synthesized[name]
    frontend = deployments(result)["frontend"]
    container = pod_spec(frontend)["containers"][0]
    assert container["command"] == ["python3", "-m", "dynamo.frontend"]
    services = {s["metadata"]["name"]: s for s in result.all("Service")}
    env = env_of(container)
    etcd_host, etcd_port = env["ETCD_ENDPOINTS"].removeprefix("http://").split(":")
    nats_host, nats_port = env["NATS_SERVER"].removeprefix("nats://").split(":")
    assert int(etcd_port) in {p["port"] for p in services[etcd_host]["spec"]["ports"]}
    assert int(nats_port) in {p["port"] for p in services[nats_host]["spec"]["ports"]}
    front = services[f"{result.environment.full_name}-frontend"]
    assert all(frontend["spec"]["template"]["metadata"]["labels"].get(k) == v
               for k, v in front["spec"]["selector"].items())
    assert {"/live", "/health"} == {container["livenessProbe"]["httpGet"]["path"],
                                    container["readinessProbe"]["httpGet"]["path"]}


def test_v1_plan_places_each_worker_pod_and_keeps_the_frontend_off_gpu_nodes(
        synthesized: dict[str, Synthesized]) -> None:
    from tests.support.charts import composed

    plan = composed(synthesized["multi-node-v1"].environment).plan()
    assert plan.fits and [n.used for n in plan.nodes] == [8, 8, 8]
    first = [(p.deployment.rsplit("-", 1)[1], p.gpus) for p in plan.nodes[0].pods]
    assert first == [("decode", 4)] + [("prefill", 1)] * 4
    assert all(p.deployment.endswith("-prefill") for n in plan.nodes[1:] for p in n.pods)
    assert any("frontend" in pod for pod in plan.other_pods)


def test_v1_metrics_are_scraped_from_the_frontend_service_and_the_worker_pods(
        shared, tmp_path) -> None:
    import yaml as pyyaml

    from constructs_lib.model import Environment
    from tests.conftest import ENVIRONMENTS, synth_environment
    from tests.support.builders import matches
    from tests.support.schemas import validate_custom_resource

    data = pyyaml.safe_load((ENVIRONMENTS / "single-node-v1.yaml").read_text())
    data["frontend"]["metrics"] = {"enabled": True, "service_monitor": {
        "enabled": True, "interval": "30s", "additional_labels": {"prometheus": "main"}}}
    result = synth_environment(Environment.model_validate(data), tmp_path)
    service_monitor, pod_monitor = result.find("ServiceMonitor"), result.find("PodMonitor")
    for monitor in (service_monitor, pod_monitor):
        validate_custom_resource(monitor, shared / "crds")
        assert monitor["metadata"]["labels"]["prometheus"] == "main"
    # The 1.x frontend serves /metrics on its HTTP port, behind its Service.
    frontend = result.find("Service", "deepseek-r1-llama-70b-dynamo-frontend")
    assert matches(service_monitor["spec"]["selector"]["matchLabels"],
                   frontend["metadata"]["labels"])
    assert service_monitor["spec"]["endpoints"][0]["port"] == "http"
    # Workers serve it on their system port; they have no Service, so pods are scraped.
    endpoint = pod_monitor["spec"]["podMetricsEndpoints"][0]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("system", "/metrics",
                                                                        "30s")
    scraped = [d for d in result.all("Deployment")
               if matches(pod_monitor["spec"]["selector"]["matchLabels"],
                          d["spec"]["template"]["metadata"]["labels"])
               and d["spec"]["template"]["metadata"]["labels"][
                   "app.kubernetes.io/dynamo-component"] in
               pod_monitor["spec"]["selector"]["matchExpressions"][0]["values"]]
    assert sorted(d["metadata"]["name"].rsplit("-", 1)[1] for d in scraped) == ["decode",
                                                                               "prefill"]
    for deployment in scraped:
        ports = pod_spec(deployment)["containers"][0]["ports"]
        assert any(p["name"] == "system" for p in ports)


# --- etcd with mutual TLS ---------------------------------------------------------------------

def test_tls_etcd_reaches_every_dynamo_container_as_https_and_secret_references(
        synthesized_etcd_tls: Synthesized) -> None:
    client_secret = synthesized_etcd_tls.environment.dependencies.etcd.tls.client_secret
    found = deployments(synthesized_etcd_tls)
    assert sorted(found) == ["decode", "frontend", "prefill"]
    for deployment in found.values():
        [container] = pod_spec(deployment)["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["ETCD_ENDPOINTS"]["value"] == "https://deepseek-r1-llama-70b-etcd:2379"
        for variable, key in (("ETCD_AUTH_CA", "ca.crt"), ("ETCD_AUTH_CLIENT_CERT", "tls.crt"),
                              ("ETCD_AUTH_CLIENT_KEY", "tls.key")):
            assert env[variable] == {"name": variable, "valueFrom": {"secretKeyRef": {
                "name": client_secret, "key": key}}}


def test_the_wait_for_a_tls_etcd_gets_its_address_but_not_the_client_key(
        synthesized_etcd_tls: Synthesized) -> None:
    for deployment in deployments(synthesized_etcd_tls).values():
        [init] = pod_spec(deployment)["initContainers"]
        assert env_of(init) == {"NATS_SERVER": "nats://deepseek-r1-llama-70b-nats:4222",
                                "ETCD_ENDPOINTS": "https://deepseek-r1-llama-70b-etcd:2379"}
        assert "https://*" in init["command"][2]  # the script's TCP-only check of https


def test_plain_etcd_gives_no_client_certificate(synthesized: dict[str, Synthesized]) -> None:
    for deployment in deployments(synthesized["single-node-v1"]).values():
        env = env_of(pod_spec(deployment)["containers"][0])
        assert env["ETCD_ENDPOINTS"].startswith("http://")
        assert not {"ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY"} & set(env)
