"""Dynamo 1.x: the shipped environments, and the upgrade from the v0.1 format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from constructs_lib.model import EnvironmentV1
from constructs_lib.model.loader import load_environment
from constructs_lib.tools import cli
from tests.conftest import ENVIRONMENTS, Synthesized
from tests.support.builders import env_of, pod_spec
from tests.support.charts import composed

V1_ENVIRONMENTS = ["single-node-v1", "multi-node-v1", "dev", "autoscaling-keda",
                   "autoscaling-hpa"]


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
    assert "--kv-transfer-config" not in args


@pytest.mark.parametrize("name", V1_ENVIRONMENTS)
def test_components_point_at_services_that_exist_and_need_no_nats(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    result = synthesized[name]
    services = {s["metadata"]["name"]: s for s in result.all("Service")}
    assert not any(n.endswith("-nats") for n in services)
    for deployment in deployments(result).values():
        env = env_of(pod_spec(deployment)["containers"][0])
        assert "NATS_SERVER" not in env
        etcd_host, etcd_port = env["ETCD_ENDPOINTS"].removeprefix("http://").split(":")
        assert int(etcd_port) in {p["port"] for p in services[etcd_host]["spec"]["ports"]}
    frontend = deployments(result)["frontend"]
    front = services[f"{result.environment.full_name}-frontend"]
    assert all(frontend["spec"]["template"]["metadata"]["labels"].get(k) == v
               for k, v in front["spec"]["selector"].items())


@pytest.mark.parametrize("name", V1_ENVIRONMENTS)
def test_a_kv_router_gets_kv_events_from_every_worker(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    found = deployments(synthesized[name])
    frontend_args = pod_spec(found["frontend"])["containers"][0]["args"]
    kv_router = frontend_args[frontend_args.index("--router-mode") + 1] == "kv"
    for role in ("decode", "prefill"):
        if role in found:
            args = pod_spec(found[role])["containers"][0]["args"]
            mode = args[args.index("--disaggregation-mode") + 1]
            # Decode workers of disaggregated serving are picked by load, not by their cache.
            assert ("--kv-events-config" in args) is (kv_router and mode != "decode")
    assert kv_router is (name in ("single-node-v1", "autoscaling-keda"))


def test_v1_plan_places_each_worker_pod_and_keeps_the_frontend_off_gpu_nodes(
        synthesized: dict[str, Synthesized]) -> None:
    plan = composed(synthesized["multi-node-v1"].environment).plan()
    assert plan.fits and [n.used for n in plan.nodes] == [8, 8, 8]
    first = [(p.deployment.rsplit("-", 1)[1], p.gpus) for p in plan.nodes[0].pods]
    assert first == [("decode", 4)] + [("prefill", 1)] * 4
    assert all(p.deployment.endswith("-prefill") for n in plan.nodes[1:] for p in n.pods)
    assert any("frontend" in pod for pod in plan.other_pods)


@pytest.mark.parametrize("name", V1_ENVIRONMENTS)
def test_the_1x_files_speak_no_v01_vocabulary(name: str) -> None:
    text = (ENVIRONMENTS / f"{name}.yaml").read_text()
    assert not re.search(r"^mode:", text, re.MULTILINE)
    for word in ("Processor", "VllmWorker", "PrefillWorker", "ServiceArgs", "remote-prefill",
                 "conditional-disagg", "endpoint:", "common-configs", "graph:", r"Nixl\w*Dynamo",
                 "DynamoNixlConnector"):
        assert not re.search(word, text), f"{name} says {word}"
    assert isinstance(load_environment(ENVIRONMENTS / f"{name}.yaml"), EnvironmentV1)


@pytest.mark.parametrize("seed, upgraded", [("single-node", "single-node-v1"),
                                            ("multi-node", "multi-node-v1")])
def test_the_seed_examples_upgrade_to_the_shipped_1x_files(
        seed: str, upgraded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["upgrade", seed]) == 0
    assert capsys.readouterr().out == (ENVIRONMENTS / f"{upgraded}.yaml").read_text()


def test_upgrade_writes_a_file_that_composes(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "upgraded.yaml"
    assert cli.main(["upgrade", "multi-node-no-rdma", "--write", str(target)]) == 0
    upgraded = load_environment(target)
    assert isinstance(upgraded, EnvironmentV1)
    assert (upgraded.decode.replicas, upgraded.decode.gpus) == (1, 4)
    assert upgraded.prefill is not None and upgraded.prefill.replicas == 20
    assert not upgraded.rdma.enabled
    assert "note: NATS: no longer deployed" in capsys.readouterr().err
    data = yaml.safe_load(target.read_text())
    assert "rdma" in data and "host_network" not in data["rdma"]


def test_a_1x_file_is_not_upgraded_again(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["upgrade", "dev"]) == cli.EXIT_INPUT_ERROR
    assert capsys.readouterr().err.endswith("environments/dev.yaml: dynamo: 1.x already; "
                                            "nothing to upgrade\n")


def test_v1_metrics_are_scraped_from_the_frontend_service_and_the_worker_pods(
        shared: Path, tmp_path: Path) -> None:
    from tests.conftest import synth_environment
    from tests.support.builders import matches
    from tests.support.schemas import validate_custom_resource

    data = yaml.safe_load((ENVIRONMENTS / "single-node-v1.yaml").read_text())
    data["monitoring"] = {"service_monitor": {
        "enabled": True, "interval": "30s", "additional_labels": {"prometheus": "main"}}}
    result = synth_environment(EnvironmentV1.model_validate(data), tmp_path)
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


# --- etcd with mutual TLS ---------------------------------------------------------------------

def test_tls_etcd_reaches_every_dynamo_container_as_https_and_secret_references(
        synthesized_etcd_tls: Synthesized) -> None:
    tls = synthesized_etcd_tls.environment.dependencies.etcd.tls
    assert tls is not None
    found = deployments(synthesized_etcd_tls)
    assert sorted(found) == ["decode", "frontend", "prefill"]
    for deployment in found.values():
        [container] = pod_spec(deployment)["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["ETCD_ENDPOINTS"]["value"] == "https://deepseek-r1-llama-70b-etcd:2379"
        for variable, key in (("ETCD_AUTH_CA", "ca.crt"), ("ETCD_AUTH_CLIENT_CERT", "tls.crt"),
                              ("ETCD_AUTH_CLIENT_KEY", "tls.key")):
            assert env[variable] == {"name": variable, "valueFrom": {"secretKeyRef": {
                "name": tls.client_secret, "key": key}}}


def test_the_wait_for_a_tls_etcd_gets_its_address_but_not_the_client_key(
        synthesized_etcd_tls: Synthesized) -> None:
    for deployment in deployments(synthesized_etcd_tls).values():
        [init] = pod_spec(deployment)["initContainers"]
        assert env_of(init) == {"ETCD_ENDPOINTS": "https://deepseek-r1-llama-70b-etcd:2379"}
        assert "https://*" in init["command"][2]  # the script's TCP-only check of https


def test_plain_etcd_gives_no_client_certificate(synthesized: dict[str, Synthesized]) -> None:
    for deployment in deployments(synthesized["single-node-v1"]).values():
        env = env_of(pod_spec(deployment)["containers"][0])
        assert env["ETCD_ENDPOINTS"].startswith("http://")
        assert not {"ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY"} & set(env)
