"""Composing the workloads with cdk8s-plus-27: NetworkPolicy selection, an autoscaler on a
pool, an Ingress to the frontend, a mounted Secret, environment values and a sidecar, without
losing the library's hardening."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cdk8s
import cdk8s_plus_27 as kplus
import kubernetes_validate
import pytest
import yaml

from constructs_lib import DependencyStack, DependencyStackProps, GpuNodePool, GpuNodePoolProps
from constructs_lib.model import Component, MetricsSettings, Mode, Resources, ServeConfig
from constructs_lib.v0_1 import (
    FrontendDeployment,
    FrontendDeploymentProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
)
from constructs_lib.workload import DynamoWorkload
from tests.conftest import ROOT
from tests.support.builders import DECODE_CONFIG as DECODE
from tests.support.builders import matches, pod_spec
from tests.support.charts import composed
from tests.support.environments import checked

WORKLOAD: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="inference")
PREFILL = ServeConfig.model_validate(yaml.safe_load("""
PrefillWorker:
  model: /data/m
  block-size: 64
  kv-transfer-config: '{"kv_connector":"DynamoNixlConnector"}'
  ServiceArgs: {workers: 4, resources: {gpu: 1}}
"""))
KUBERNETES_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]


class App:
    """A v0.1 multinode deployment composed by hand: dependencies, a frontend that decodes and
    a prefill pool."""

    def __init__(self, outdir: Path | None = None, **frontend: Any) -> None:
        self.app = cdk8s.App(outdir=str(outdir)) if outdir else cdk8s.Testing.app()
        self.chart = cdk8s.Chart(self.app, "llama", namespace="inference",
                                 disable_resource_name_hashes=True)
        self.deps = DependencyStack(self.chart, "deps", DependencyStackProps(
            release="r1", namespace="inference"))
        self.frontend = FrontendDeployment(self.chart, "frontend", FrontendDeploymentProps(
            **WORKLOAD, dependencies=self.deps, mode=Mode.MULTINODE, config=DECODE,
            resources=Resources(gpus=2), graph=(Component.FRONTEND, Component.PROCESSOR,
                                                Component.ROUTER, Component.VLLM_WORKER),
            **frontend))
        self.pool = PrefillWorkerPool(self.chart, "prefill", PrefillWorkerPoolProps(
            **WORKLOAD, dependencies=self.deps, config=PREFILL, resources=Resources(gpus=4),
            replicas=2, graphs_config_map_name=self.frontend.graphs_config_map_name))

    def synth(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.chart.to_json()]


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents
             if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def labels(documents: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    return one(documents, "Deployment", deployment)["spec"]["template"]["metadata"]["labels"]


# --- NetworkPolicy -------------------------------------------------------------------------

def test_a_network_policy_selects_exactly_the_pods_of_a_workload() -> None:
    a = App()
    policy = kplus.NetworkPolicy(a.chart, "policy", selector=a.pool)
    policy.add_ingress_rule(a.frontend, [kplus.NetworkPolicyPort.tcp(5555)])
    documents = a.synth()
    spec = one(documents, "NetworkPolicy", "llama-policy")["spec"]
    prefill_pods = labels(documents, a.pool.deployment_name)
    frontend_pods = labels(documents, a.frontend.deployment_name)
    assert spec["podSelector"] == {"matchLabels": a.pool.selector_labels}
    assert matches(spec["podSelector"]["matchLabels"], prefill_pods)
    assert not matches(spec["podSelector"]["matchLabels"], frontend_pods)
    [peer] = spec["ingress"][0]["from"]
    assert peer["podSelector"] == {"matchLabels": a.frontend.selector_labels}
    assert matches(peer["podSelector"]["matchLabels"], frontend_pods)
    assert not matches(peer["podSelector"]["matchLabels"], prefill_pods)
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "inference"}}
    assert one(documents, "NetworkPolicy", "llama-policy")["metadata"]["namespace"] == "inference"


def test_every_workload_is_a_kplus_selector_and_scaling_target() -> None:
    a = App()
    for workload in (a.frontend, a.pool):
        assert isinstance(workload, DynamoWorkload)
        assert workload.to_pod_selector() is workload
        config = workload.to_pod_selector_config()
        assert config.namespaces is not None and config.namespaces.names == ["inference"]
        assert workload.to_network_policy_peer_config().pod_selector is not None
        target = workload.to_scaling_target()
        assert (target.kind, target.name, target.replicas) == (
            "Deployment", workload.deployment_name, workload.replicas)


# --- HorizontalPodAutoscaler ---------------------------------------------------------------

def test_an_autoscaler_takes_over_the_replicas_of_a_pool() -> None:
    a = App()
    assert (a.pool.replicas, a.pool.has_autoscaler) == (2, False)
    kplus.HorizontalPodAutoscaler(a.chart, "autoscaler", target=a.pool, max_replicas=3)
    documents = a.synth()
    spec = one(documents, "HorizontalPodAutoscaler")["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": a.pool.deployment_name}
    assert "replicas" not in one(documents, "Deployment", a.pool.deployment_name)["spec"]
    assert one(documents, "Deployment", a.frontend.deployment_name)["spec"]["replicas"] == 1
    assert (a.pool.replicas, a.pool.has_autoscaler) == (None, True)
    assert a.pool.to_scaling_target().replicas is None
    # Read from the autoscaler, for the placement plan.
    assert (a.pool.autoscaler_max_replicas, a.pool.max_replicas) == (3, 3)


def test_the_placement_plan_counts_the_autoscalers_maximum(tmp_path: Path) -> None:
    a = App(outdir=tmp_path / "dist")
    # 2 GPUs of decode and 2 prefill pods of 4 fit on 10 GPUs; 3 prefill pods do not.
    GpuNodePool(a.chart, "nodes", GpuNodePoolProps(count=1, gpus_per_node=10))
    kplus.HorizontalPodAutoscaler(a.chart, "autoscaler", target=a.pool, max_replicas=3)
    with pytest.raises(RuntimeError) as caught:
        a.app.synth()
    assert ("[llama/nodes] count: 1, but the deployment needs 2 nodes of 10 GPUs: 14 "
            "nvidia.com/gpu requested, 10 available (4 missing); autoscaled pods count at "
            "their maximum (r1-dynamo-multinode-prefill at most 3); no node is left for "
            "r1-dynamo-multinode-prefill replica 3 of 3 (4 GPUs)") in str(caught.value)


def test_an_autoscaler_on_a_dynamo_1x_pool_is_checked_against_the_declared_nodes() -> None:
    chart = composed(checked("single-node-v1"))  # one node of 8 GPUs, all of them in use
    assert chart.prefill is not None
    kplus.HorizontalPodAutoscaler(chart, "autoscaler", target=chart.prefill, max_replicas=5)
    with pytest.raises(RuntimeError, match=r"nodes.count: 1, but the deployment needs 2 nodes"):
        cdk8s.Testing.synth(chart)


def test_a_pool_with_its_own_autoscaling_refuses_a_second_autoscaler() -> None:
    chart = composed(checked("autoscaling-keda"))
    assert chart.prefill is not None and chart.prefill.has_autoscaler
    with pytest.raises(Exception, match=r"autoscaling is keda already .* a second autoscaler "
                                        r"would fight it"):
        kplus.HorizontalPodAutoscaler(chart, "autoscaler", target=chart.prefill, max_replicas=5)


def test_an_autoscaler_without_metrics_reads_the_pods_cpu_and_memory() -> None:
    a = App()
    target = a.pool.to_scaling_target()
    [container] = target.containers
    assert container.resources is not None and container.resources.cpu is not None
    assert container.resources.cpu.request is not None  # what kplus's check needs
    kplus.HorizontalPodAutoscaler(a.chart, "autoscaler", target=a.pool, max_replicas=3)
    a.synth()  # kplus's validations pass


# --- Ingress -------------------------------------------------------------------------------

def test_an_ingress_routes_to_the_frontend_service_and_leaves_it_as_it_was() -> None:
    before = one(App().synth(), "Service", "r1-dynamo-multinode")
    a = App(metrics=MetricsSettings(enabled=True))  # a Service with two ports
    kplus.Ingress(a.chart, "ingress").add_rule("/v1", a.frontend.ingress_backend())
    documents = a.synth()
    service = one(documents, "Service", "r1-dynamo-multinode")
    [path] = one(documents, "Ingress")["spec"]["rules"][0]["http"]["paths"]
    assert path["backend"] == {"service": {"name": service["metadata"]["name"],
                                           "port": {"number": service["spec"]["ports"][0]["port"]}}}
    assert a.frontend.ingress_backend(9091)  # the metrics port, asked for by number
    with pytest.raises(RuntimeError, match="service exposes ports 80,9091"):
        a.frontend.ingress_backend(8080)
    # One Service, as the frontend emitted it (the ports differ only by the metrics sidecar).
    assert [d["metadata"]["name"] for d in documents if d["kind"] == "Service"].count(
        "r1-dynamo-multinode") == 1
    assert {**service, "spec": {**service["spec"], "ports": service["spec"]["ports"][:1]}} == before


def test_an_ingress_routes_to_the_dynamo_1x_frontend() -> None:
    chart = composed(checked("single-node-v1"))
    kplus.Ingress(chart, "ingress", default_backend=chart.frontend.ingress_backend())
    documents = cdk8s.Testing.synth(chart)
    service = one(documents, "Service", chart.frontend.service_name)
    assert one(documents, "Ingress")["spec"]["defaultBackend"] == {"service": {
        "name": chart.frontend.service_name,
        "port": {"number": service["spec"]["ports"][0]["port"]}}}


# --- Secret, environment, sidecar ----------------------------------------------------------

def test_a_secret_is_mounted_in_the_dynamo_container() -> None:
    a = App()
    secret = kplus.Secret(a.chart, "hf-token", string_data={"token": "hf_x"})
    a.frontend.mount("/etc/hf", kplus.Volume.from_secret(a.chart, "hf", secret), read_only=True)
    documents = a.synth()
    spec = pod_spec(one(documents, "Deployment", a.frontend.deployment_name))
    volume = next(v for v in spec["volumes"] if v["name"] == "secret-llama-hf-token")
    assert volume["secret"]["secretName"] == one(documents, "Secret")["metadata"]["name"]
    assert {"name": "secret-llama-hf-token", "mountPath": "/etc/hf", "readOnly": True} in (
        spec["containers"][0]["volumeMounts"])
    # The manifest the rules and the plan read says the same.
    assert a.frontend.pod_template["spec"] == spec


def test_a_dynamo_1x_frontend_without_volumes_gets_one() -> None:
    chart = composed(checked("single-node-v1"))
    config = kplus.ConfigMap(chart, "templates", data={"chat.jinja": "{{ messages }}"})
    chart.frontend.mount("/templates", kplus.Volume.from_config_map(chart, "tpl", config))
    spec = pod_spec(one(cdk8s.Testing.synth(chart), "Deployment",
                        chart.frontend.deployment_name))
    assert [v["name"] for v in spec["volumes"]] == ["configmap-env-templates"]


def test_a_mount_path_or_volume_name_in_use_is_refused() -> None:
    a = App()
    secret = kplus.Secret(a.chart, "s", string_data={"k": "v"})
    with pytest.raises(ValueError, match=r"^llama/frontend: mount /dev/shm: container frontend "
                                         r"mounts volume dshm at /dev/shm already"):
        a.frontend.mount("/dev/shm", kplus.Volume.from_secret(a.chart, "v1", secret))
    with pytest.raises(ValueError, match=r"^llama/frontend: mount /etc/s: the pod has a "
                                         r"different volume named dshm already \(emptyDir "):
        a.frontend.mount("/etc/s", kplus.Volume.from_secret(a.chart, "v2", secret, name="dshm"))
    assert [d for d in a.synth() if d["kind"] == "Deployment"] == [
        d for d in App().synth() if d["kind"] == "Deployment"]


def test_environment_values_go_to_every_dynamo_container() -> None:
    a = App(metrics=MetricsSettings(enabled=True))
    secret = kplus.Secret(a.chart, "hf-token", string_data={"token": "hf_x"})
    a.frontend.add_env("HF_TOKEN", kplus.EnvValue.from_secret_value(
        kplus.SecretValue(secret=secret, key="token")))
    a.frontend.add_env("VLLM_LOGGING_LEVEL", "DEBUG")
    a.frontend.add_env("POD_IP", kplus.EnvValue.from_field_ref(kplus.EnvFieldPaths.POD_IP))
    spec = pod_spec(one(a.synth(), "Deployment", a.frontend.deployment_name))
    for container in spec["containers"]:  # the serving container and the metrics sidecar
        env = {e["name"]: e for e in container["env"]}
        assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {
            "name": "llama-hf-token", "key": "token"}}
        assert env["VLLM_LOGGING_LEVEL"] == {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert "HF_TOKEN" not in {e["name"] for e in spec["initContainers"][0]["env"]}


def test_a_variable_the_library_sets_is_not_overridden() -> None:
    a = App()
    with pytest.raises(ValueError, match=r"^llama/prefill: add_env ETCD_ENDPOINTS: container "
                                         r"frontend sets ETCD_ENDPOINTS already"):
        a.pool.add_env("ETCD_ENDPOINTS", "other:2379")
    a.pool.add_env("EXTRA", "1")
    with pytest.raises(ValueError, match="sets EXTRA already"):
        a.pool.add_env("EXTRA", "2")


def test_a_sidecar_keeps_the_pods_hardening() -> None:
    before = pod_spec(one(App().synth(), "Deployment", "r1-dynamo-multinode-frontend"))
    a = App()
    config = kplus.ConfigMap(a.chart, "envoy", data={"envoy.yaml": "static_resources: {}"})
    a.frontend.add_container(kplus.ContainerProps(
        name="proxy", image="envoyproxy/envoy:v1.31.0", port_number=9901,
        resources=kplus.ContainerResources(cpu=kplus.CpuResources(request=kplus.Cpu.millis(100))),
        volume_mounts=[kplus.VolumeMount(
            path="/etc/envoy", volume=kplus.Volume.from_config_map(a.chart, "envoy-config",
                                                                    config))]))
    spec = pod_spec(one(a.synth(), "Deployment", a.frontend.deployment_name))
    dynamo, proxy = spec["containers"]
    assert dynamo == before["containers"][0]  # probes, GPUs, security context: untouched
    assert {k: v for k, v in spec.items() if k not in ("containers", "volumes")} == {
        k: v for k, v in before.items() if k not in ("containers", "volumes")}
    assert proxy["name"] == "proxy" and proxy["ports"] == [{"containerPort": 9901}]
    assert proxy["securityContext"] == {
        "allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert spec["volumes"] == [*before["volumes"], {"name": "configmap-llama-envoy",
                                                    "configMap": {"name": "llama-envoy"}}]


@pytest.mark.parametrize("sidecar, message", [
    (kplus.ContainerProps(name="frontend", image="busybox:1"),
     "add_container frontend: the pod has a container named frontend already"),
    (kplus.ContainerProps(name="wait-for-dependencies", image="busybox:1"),
     "the pod has a container named wait-for-dependencies already"),
    (kplus.ContainerProps(name="proxy", image="busybox:1", port_number=8000),
     "add_container proxy: port 8000 collides with port 8000 (serve) of container frontend"),
    (kplus.ContainerProps(name="proxy", image="busybox:1",
                          security_context=kplus.ContainerSecurityContextProps(privileged=True)),
     "add_container proxy: security_context asks for privileged, but the pods of this "
     "workload run without"),
    (kplus.ContainerProps(name="proxy", image="busybox:1",
                          security_context=kplus.ContainerSecurityContextProps(
                              allow_privilege_escalation=True)),
     "security_context asks for allow_privilege_escalation"),
])
def test_a_sidecar_that_collides_or_asks_for_privileges_is_refused(
        sidecar: kplus.ContainerProps, message: str) -> None:
    a = App()
    with pytest.raises(ValueError) as caught:
        a.frontend.add_container(sidecar)
    assert str(caught.value).startswith("llama/frontend: add_container ")
    assert message in str(caught.value)


# --- all of it at once ---------------------------------------------------------------------

def compose_everything(outdir: Path) -> App:
    a = App(outdir=outdir)
    chart = a.chart
    policy = kplus.NetworkPolicy(chart, "prefill-policy", selector=a.pool)
    policy.add_ingress_rule(a.frontend, [kplus.NetworkPolicyPort.tcp(5555)])
    kplus.HorizontalPodAutoscaler(chart, "prefill-autoscaler", target=a.pool, max_replicas=4)
    kplus.Ingress(chart, "ingress").add_rule("/v1", a.frontend.ingress_backend())
    secret = kplus.Secret(chart, "hf-token", string_data={"token": "hf_x"})
    a.frontend.mount("/etc/hf", kplus.Volume.from_secret(chart, "hf", secret), read_only=True)
    a.frontend.add_env("HF_TOKEN", kplus.EnvValue.from_secret_value(
        kplus.SecretValue(secret=secret, key="token")))
    a.frontend.add_container(kplus.ContainerProps(name="proxy", image="envoyproxy/envoy:v1.31.0",
                                                  port_number=9901))
    return a


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("kplus") / "dist"
    compose_everything(outdir).app.synth()
    return [d for f in sorted(outdir.glob("*.k8s.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d]


def test_the_composed_app_has_every_feature(everything: list[dict[str, Any]]) -> None:
    kinds = sorted({d["kind"] for d in everything})
    assert {"HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "Secret"} <= set(kinds)
    assert "replicas" not in one(everything, "Deployment", "r1-dynamo-multinode-prefill")["spec"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_composed_app_is_valid_kubernetes(version: str,
                                              everything: list[dict[str, Any]]) -> None:
    for document in everything:
        kubernetes_validate.validate(document, version, strict=True)
    assert len(everything) >= 15


# --- kplus is loaded only by the apps that use it ------------------------------------------

def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_synth_without_kplus_does_not_load_it(tmp_path: Path) -> None:
    result = run(f"""
import sys
from constructs_lib.tools import cli
assert cli.main(["synth", "{ROOT / 'environments' / 'multi-node.yaml'}", "-o", "out"]) == 0
print("cdk8s_plus_27" in sys.modules)
""", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


def test_a_workload_created_before_kplus_is_imported_is_named_in_a_warning(
        tmp_path: Path) -> None:
    result = run("""
import warnings
import cdk8s
from constructs_lib.v0_1 import PrefillWorkerPool, PrefillWorkerPoolProps
from constructs_lib.model import ServeConfig
config = ServeConfig.model_validate({"PrefillWorker": {"model": "/m"}})
chart = cdk8s.Chart(cdk8s.App(), "app")
pool = PrefillWorkerPool(chart, "early", PrefillWorkerPoolProps(
    release="r1", full_name="r1", etcd_endpoints="e:2379", nats_url="nats://n:4222",
    config=config, graphs_config_map_name="g"))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import cdk8s_plus_27 as kplus
print(caught[0].message)
late = PrefillWorkerPool(chart, "late", PrefillWorkerPoolProps(
    release="r2", full_name="r2", etcd_endpoints="e:2379", nats_url="nats://n:4222",
    config=config, graphs_config_map_name="g"))
kplus.HorizontalPodAutoscaler(chart, "late-autoscaler", target=late, max_replicas=2)
print("late", late.replicas)
kplus.HorizontalPodAutoscaler(chart, "early-autoscaler", target=pool, max_replicas=2)
""", tmp_path)
    first, second, *_ = result.stdout.splitlines()
    assert first == (
        "cdk8s_plus_27 imported after 1 Dynamo workload(s) were created (app/early): those are "
        "no kplus IPodSelector, INetworkPolicyPeer or IScalable (kplus fails with '... is not a "
        "function' when given one); import cdk8s_plus_27 before creating the constructs")
    assert second == "late None"
    assert "this.target.markHasAutoscaler is not a function" in result.stderr
