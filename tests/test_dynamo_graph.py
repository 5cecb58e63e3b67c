"""The DynamoGraphDeployment output: every shipped 1.x environment as one v1beta1 resource of
NVIDIA's operator, strictly valid against its CRD, running exactly the pods of the plain
manifests without etcd, NATS and what the operator provides itself."""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cdk8s
import kubernetes_validate
import pytest
import yaml

from constructs_lib import (
    DecodeWorkerPool,
    DecodeWorkerPoolProps,
    DynamoGraphDeployment,
    DynamoGraphDeploymentProps,
    FrontendDeployment,
    FrontendDeploymentProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
)
from constructs_lib._render import dashboards
from constructs_lib.model import DecodeAutoscaling, EnvironmentV1, ModelSettings, VllmEngineArgs
from constructs_lib.model.loader import load_environment
from constructs_lib.tools import cli, synth
from tests.conftest import ENVIRONMENTS, ROOT, Synthesized, read_documents
from tests.support.builders import WORKLOAD, env_of
from tests.support.environments import data
from tests.support.schemas import crd_schema, validate_custom_resource

V1_ENVIRONMENTS = [synth.environment_name(path) for path in synth.discover(ENVIRONMENTS)
                   if isinstance(load_environment(path), EnvironmentV1)]
CRD = "nvidia.com_dynamographdeployments.yaml"
COMPONENT_LABEL = "app.kubernetes.io/dynamo-component"
# What the graph takes from each main container, and why (constructs_lib/_render/dynamo_graph.py).
OPERATOR_ENV = {"DYN_NAMESPACE", "DYN_DISCOVERY_BACKEND", "ETCD_ENDPOINTS", "ETCD_AUTH_CA",
                "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY", "NATS_SERVER"}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """Every shipped 1.x environment synthesized as a DynamoGraphDeployment."""
    out = tmp_path_factory.mktemp("graphs") / "dist"
    paths = [ENVIRONMENTS / f"{name}.yaml" for name in V1_ENVIRONMENTS]
    environments = synth.load_all(paths)
    synth.synthesize(environments, out, output_format="dynamo-graph")
    return {name: Synthesized(name, env, out / name, read_documents(out / name))
            for name, env in environments.items()}


def components(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in graph["spec"]["components"]}


def main(component: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = component["podTemplate"]["spec"]["containers"][0]
    return container


def gpus(container: dict[str, Any]) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def test_the_shipped_1x_environments_are_found() -> None:
    assert {"single-node-v1", "multi-node-v1", "dev"} <= set(V1_ENVIRONMENTS)


def test_the_crd_serves_v1beta1_as_its_storage_version(shared: Path) -> None:
    crd = yaml.load((shared / "crds" / CRD).read_text(),
                    Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert versions["v1beta1"]["storage"] and versions["v1beta1"]["served"]
    assert versions["v1alpha1"]["storage"] is False


@pytest.mark.parametrize("name", V1_ENVIRONMENTS)
def test_the_graph_is_valid_against_the_crd_and_stands_alone(
        name: str, graphs: dict[str, Synthesized], shared: Path) -> None:
    result = graphs[name]
    graph = result.find("DynamoGraphDeployment")
    assert graph["apiVersion"] == "nvidia.com/v1beta1"
    validate_custom_resource(graph, shared / "crds")  # unknown fields refused
    # The CRD's own list rules (CEL, which the JSON Schema check does not run).
    names = [c["name"].lower() for c in graph["spec"]["components"]]
    assert len(set(names)) == len(names)
    assert graph["spec"]["backendFramework"] == "vllm"
    # No etcd, NATS, Services, budgets or monitors: the operator provides what they did. The
    # autoscalers, their adapter rules and the dashboard stay (applied after the graph).
    environment = result.environment
    expected = ["DynamoGraphDeployment", "NetworkPolicy"]
    expected += ["ConfigMap"] * environment.monitoring.dashboard.enabled
    for pool in (environment.decode, environment.prefill):
        if pool is not None and pool.autoscaling.enabled:
            expected += (["ScaledObject"] if pool.autoscaling.mode == "keda"
                         else ["HorizontalPodAutoscaler", "ConfigMap"])
    assert sorted(d["kind"] for d in result.documents) == sorted(expected)
    listed = (result.folder / "kustomization.yaml").read_text().splitlines()
    graph_file = f"  - DynamoGraphDeployment.{environment.full_name}.k8s.yaml"
    assert all(line.split(".")[0].endswith(("HorizontalPodAutoscaler", "ScaledObject"))
               for line in listed[listed.index(graph_file) + 1:])
    assert "etcd" not in (result.folder / "PLAN.md").read_text()


@pytest.mark.parametrize("name", V1_ENVIRONMENTS)
def test_each_component_runs_the_pod_of_its_deployment(
        name: str, graphs: dict[str, Synthesized], synthesized: dict[str, Synthesized]) -> None:
    graph = components(graphs[name].find("DynamoGraphDeployment"))
    plain = _plain_pods(synthesized[name])
    assert set(graph) == set(plain)
    types = {c: graph[c]["type"] for c in graph}
    environment = graphs[name].environment
    assert types == {"frontend": "frontend",
                     "decode": "decode" if environment.disaggregated else "worker",
                     **({"prefill": "prefill"} if environment.disaggregated else {})}
    for role, pods in plain.items():
        component = graph[role]
        container = pods.template["spec"]["containers"][0]
        ours = main(component)
        for key in ("image", "command", "resources", "ports", "startupProbe",
                    "livenessProbe", "readinessProbe", "securityContext"):
            assert ours.get(key) == container.get(key), (name, role, key)
        assert ours["args"] == _without_launch_flags(container["args"])
        # An autoscaled pool's component leaves its replicas to the scaling adapter.
        assert component.get("replicas") == pods.replicas
        assert ("scalingAdapter" in component) == (pods.replicas is None)
        assert component.get("multinode", {"nodeCount": 1}) == {"nodeCount": pods.nodes}
        assert gpus(ours) == gpus(container)
        # The whole template, once the documented changes are undone.
        assert component["podTemplate"] == _as_the_operator_wants(pods.template), (name, role)
    total = sum((p.replicas or 1) * p.nodes * gpus(p.template["spec"]["containers"][0])
                for p in plain.values())
    assert sum(c.get("replicas", 1) * c.get("multinode", {"nodeCount": 1})["nodeCount"]
               * gpus(main(c)) for c in graph.values()) == total


@dataclass(frozen=True)
class _PlainPods:
    template: dict[str, Any]
    """The pod template (a LeaderWorkerSet's leader's: the pod the operator's leader runs)."""
    replicas: int | None
    """None when an autoscaler owns them."""
    nodes: int
    """Pods (one a node) per replica."""


def _plain_pods(synthesized: Synthesized) -> dict[str, _PlainPods]:
    """The pods of the plain manifests by component: Deployments and LeaderWorkerSets."""
    found = {}
    for document in [*synthesized.all("Deployment"), *synthesized.all("LeaderWorkerSet")]:
        spec = document["spec"]
        if document["kind"] == "Deployment":
            pods = _PlainPods(spec["template"], spec.get("replicas"), 1)
        else:
            group = spec["leaderWorkerTemplate"]
            pods = _PlainPods(group.get("leaderTemplate", group["workerTemplate"]),
                              spec.get("replicas"), group["size"])
        found[document["metadata"]["labels"][COMPONENT_LABEL]] = pods
    return found


def _without_launch_flags(args: list[str]) -> list[str]:
    """vLLM's multi-node launch flags, which the operator writes itself, taken out."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--nnodes", "--node-rank", "--master-addr", "--master-port",
                     "--distributed-executor-backend"):
            skip = True
        elif arg != "--headless":
            kept.append(arg)
    return kept


def _as_the_operator_wants(template: dict[str, Any]) -> dict[str, Any]:
    """The changes the graph makes to a plain pod template, written out independently."""
    expected = copy.deepcopy(template)
    spec = expected["spec"]
    spec.pop("initContainers", None)
    spec.pop("automountServiceAccountToken", None)
    # Our kubernetes discovery's ServiceAccount, which a graph does not write.
    if spec.get("serviceAccountName", "").endswith("-discovery"):
        del spec["serviceAccountName"]
    main = spec["containers"][0]
    main["name"] = "main"
    if "--distributed-executor-backend" in main["args"]:
        backend = main["args"][main["args"].index("--distributed-executor-backend") + 1]
        expected.setdefault("metadata", {}).setdefault("annotations", {})[
            "nvidia.com/vllm-distributed-executor-backend"] = backend
    main["args"] = _without_launch_flags(main["args"])
    main["env"] = [e for e in main["env"] if e["name"] not in OPERATOR_ENV]
    main["volumeMounts"] = [m for m in main.get("volumeMounts", [])
                            if m["mountPath"] != "/dev/shm"] or None
    if main["volumeMounts"] is None:
        del main["volumeMounts"]
    spec["volumes"] = [v for v in spec.get("volumes", []) if v["name"] != "dshm"] or None
    if spec["volumes"] is None:
        del spec["volumes"]
    return expected


@pytest.mark.parametrize("name", V1_ENVIRONMENTS)
def test_no_etcd_nats_or_own_discovery_is_left_and_shared_memory_moves(
        name: str, graphs: dict[str, Synthesized], synthesized: dict[str, Synthesized]) -> None:
    text = "\n".join((graphs[name].folder / f).read_text()
                     for f in os.listdir(graphs[name].folder) if f.endswith(".k8s.yaml"))
    assert not re.search(r"etcd|nats|NATS|wait-for-dependencies", text)
    plain = _plain_pods(synthesized[name])
    for component in graphs[name].find("DynamoGraphDeployment")["spec"]["components"]:
        spec = component["podTemplate"]["spec"]
        assert [c["name"] for c in spec["containers"]] == ["main"]
        assert "initContainers" not in spec
        # Kubernetes discovery reads the API with the pod's service account token, the
        # operator's service account: the graph writes no ServiceAccount of its own.
        assert "automountServiceAccountToken" not in spec
        assert "serviceAccountName" not in spec
        env = env_of(main(component))
        assert not OPERATOR_ENV & set(env)
        assert all(m["mountPath"] != "/dev/shm" for m in main(component).get("volumeMounts", []))
        plain_volumes = {v["name"]: v for v in
                         plain[component["name"]].template["spec"].get("volumes", [])}
        size = plain_volumes.get("dshm", {}).get("emptyDir", {}).get("sizeLimit", "0")
        assert component["sharedMemorySize"] == size


def test_strict_validation_refuses_unknown_and_v1alpha1_fields(
        graphs: dict[str, Synthesized], shared: Path) -> None:
    graph = graphs["dev"].find("DynamoGraphDeployment")
    typo = copy.deepcopy(graph)
    typo["spec"]["components"][0]["podTemplate"]["spec"]["containers"][0]["imagePulPolicy"] = "x"
    with pytest.raises(AssertionError, match="imagePulPolicy"):
        validate_custom_resource(typo, shared / "crds")
    alpha = copy.deepcopy(graph)
    alpha["spec"]["services"] = {"Frontend": {"componentType": "frontend"}}
    with pytest.raises(AssertionError, match=r"spec\.services"):
        validate_custom_resource(alpha, shared / "crds")
    assert "services" in crd_schema(shared / "crds" / CRD, "v1alpha1")["properties"]["spec"][
        "properties"]


def test_the_summary_counts_the_graph_s_gpus(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["synth", "--format", "dynamo-graph", "environments/multi-node-v1.yaml",
                     "-o", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "  NetworkPolicy 1, DynamoGraphDeployment 1; 24 GPUs on 3 nodes")


def _environment_file(tmp_path: Path, base: str, **changes: Any) -> Path:
    path = tmp_path / "environments" / f"{base}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data(base, **changes)))
    return path


def test_the_file_s_output_key_selects_the_graph_and_format_overrides_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _environment_file(tmp_path, "dev", output="dynamo-graph")
    assert cli.main(["synth", str(path), "-o", str(tmp_path / "graph")]) == 0
    assert sorted(p.name for p in (tmp_path / "graph" / "dev").iterdir()) == [
        "DynamoGraphDeployment.dynamo-dev.k8s.yaml", "NetworkPolicy.dynamo-dev.k8s.yaml",
        "PLAN.md", "kustomization.yaml"]
    assert cli.main(["synth", "--format", "manifests", str(path),
                     "-o", str(tmp_path / "plain")]) == 0
    kinds = {d["kind"] for d in read_documents(tmp_path / "plain" / "dev")}
    assert {"Deployment", "StatefulSet"} <= kinds and "DynamoGraphDeployment" not in kinds
    capsys.readouterr()


def test_a_v01_environment_has_no_graph(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["synth", "--format", "dynamo-graph", "environments/single-node.yaml",
                     "-o", str(tmp_path / "out")])
    assert code == cli.EXIT_INPUT_ERROR
    assert capsys.readouterr().err.startswith(
        "environments/single-node.yaml: dynamo: v0.1: a DynamoGraphDeployment runs Dynamo 1.x")
    assert not (tmp_path / "out").exists()
    path = _environment_file(tmp_path, "single-node", output="dynamo-graph")
    assert cli.main(["synth", str(path), "-o", str(tmp_path / "out")]) == cli.EXIT_INPUT_ERROR
    assert "output: unknown key" in capsys.readouterr().err


def test_the_dynamo_graph_command_prints_what_synth_writes(
        graphs: dict[str, Synthesized], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dynamo-graph", "dev"]) == 0
    printed = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert [d["kind"] for d in printed] == ["DynamoGraphDeployment", "NetworkPolicy"]
    assert printed[0] == graphs["dev"].find("DynamoGraphDeployment")
    target = tmp_path / "dev.yaml"
    assert cli.main(["dynamo-graph", "environments/dev.yaml", "--write", str(target)]) == 0
    assert [d for d in yaml.safe_load_all(target.read_text()) if d] == printed


def test_an_image_without_a_version_tag_needs_the_runtime_version(
        tmp_path: Path, shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = {"repository": "registry.example/dynamo", "tag": "build-42"}
    path = _environment_file(tmp_path, "dev", image=image)
    assert cli.main(["dynamo-graph", str(path)]) == cli.EXIT_INPUT_ERROR
    assert capsys.readouterr().err.startswith(
        f"{path}: dynamo_graph.runtime_version: not given, and the tag of the image "
        "registry.example/dynamo:build-42 is no semantic version")
    path = _environment_file(tmp_path, "dev", image=image,
                             dynamo_graph={"runtime_version": "1.6.1"})
    assert cli.main(["dynamo-graph", str(path)]) == 0
    graph = next(yaml.safe_load_all(capsys.readouterr().out))
    assert {c["runtimeVersionOverride"] for c in graph["spec"]["components"]} == {"1.6.1"}
    validate_custom_resource(graph, shared / "crds")


def test_scaling_adapters_own_the_replicas_of_the_components_named(
        tmp_path: Path, shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _environment_file(tmp_path, "single-node-v1",
                             dynamo_graph={"scaling_adapters": ["decode", "prefill"]})
    assert cli.main(["dynamo-graph", str(path)]) == 0
    graph = next(yaml.safe_load_all(capsys.readouterr().out))
    adapted = {c["name"] for c in graph["spec"]["components"] if "scalingAdapter" in c}
    assert adapted == {"decode", "prefill"}
    validate_custom_resource(graph, shared / "crds")
    path = _environment_file(tmp_path, "dev", dynamo_graph={"scaling_adapters": ["prefill"]})
    assert cli.main(["dynamo-graph", str(path)]) == cli.EXIT_INPUT_ERROR
    assert capsys.readouterr().err == (
        f"{path}: dynamo_graph.scaling_adapters: prefill: the graph has no such component "
        "(it has: decode, frontend)\n")


def test_settings_a_graph_does_not_use_are_warned_about(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _environment_file(tmp_path, "dev", runtime={"dynamo_namespace": "mine"},
                             monitoring={"service_monitor": {"enabled": True}})
    assert cli.main(["dynamo-graph", str(path)]) == 0
    err = capsys.readouterr().err
    assert (f"warning: {path}: runtime.dynamo_namespace: mine is not used by a "
            "DynamoGraphDeployment: the operator sets DYN_NAMESPACE to <namespace>-<name>, "
            "here dynamo-dev-dynamo-dev") in err
    assert f"warning: {path}: monitoring.service_monitor.enabled: true, but" in err


# -- the construct, composed by hand -----------------------------------------------------------

MODEL = ModelSettings(path="/data/m", served_name="m")


def _workloads(gpus: int = 4, tensor_parallel: int = 4) -> tuple[Any, Any, Any]:
    """A frontend, a decode and a prefill pool in a chart that is never synthesized."""
    scratch = cdk8s.Chart(cdk8s.App(), "workloads", namespace="ns")
    frontend = FrontendDeployment(scratch, "frontend", FrontendDeploymentProps(
        **WORKLOAD, served_model_name="m"))
    decode = DecodeWorkerPool(scratch, "decode", DecodeWorkerPoolProps(
        **WORKLOAD, model=MODEL, gpus=gpus,
        engine=VllmEngineArgs({"tensor-parallel-size": tensor_parallel})))
    prefill = PrefillWorkerPool(scratch, "prefill", PrefillWorkerPoolProps(
        **WORKLOAD, model=MODEL, replicas=2))
    return frontend, decode, prefill


def _graph(**props: Any) -> tuple[DynamoGraphDeployment, dict[str, Any]]:
    chart = cdk8s.Chart(cdk8s.Testing.app(), "graph", namespace="ns")
    graph = DynamoGraphDeployment(chart, "graph", DynamoGraphDeploymentProps(name="r1", **props))
    documents = [dict(d) for d in cdk8s.Testing.synth(chart)]
    assert [d["kind"] for d in documents] == ["DynamoGraphDeployment"]
    return graph, documents[0]


def test_a_graph_composed_by_hand_is_valid(shared: Path) -> None:
    frontend, decode, prefill = _workloads()
    graph, document = _graph(frontend=frontend, workers=[decode, prefill])
    validate_custom_resource(document, shared / "crds")
    assert document["metadata"] == {"name": "r1", "namespace": "ns"}
    assert [(c["name"], c["type"], c["replicas"]) for c in graph.components] == [
        ("frontend", "frontend", 1), ("decode", "decode", 1), ("prefill", "prefill", 2)]
    assert graph.component("prefill") is graph.components[2]
    assert graph.gpus == 6
    with pytest.raises(KeyError, match="no component 'worker'"):
        graph.component("worker")


def test_a_workload_an_autoscaler_owns_gets_a_scaling_adapter(shared: Path) -> None:
    frontend, decode, prefill = _workloads()
    prefill.mark_has_autoscaler()  # what a kplus HorizontalPodAutoscaler does
    graph, document = _graph(frontend=frontend, workers=[decode, prefill])
    assert graph.component("prefill")["scalingAdapter"] == {}
    assert "replicas" not in graph.component("prefill")
    assert "scalingAdapter" not in graph.component("decode")
    validate_custom_resource(document, shared / "crds")


def test_a_worker_larger_than_a_node_spans_nodes(shared: Path) -> None:
    frontend, decode, prefill = _workloads(gpus=16, tensor_parallel=16)
    graph, document = _graph(frontend=frontend, workers=[decode, prefill], gpus_per_node=8)
    validate_custom_resource(document, shared / "crds")
    component = graph.component("decode")
    assert component["multinode"] == {"nodeCount": 2}
    resources = main(component)["resources"]
    plain = decode.pod_template["spec"]["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 8 == resources["requests"]["nvidia.com/gpu"]
    assert plain["limits"]["nvidia.com/gpu"] == 16
    assert resources["requests"]["cpu"] == plain["requests"]["cpu"] // 2
    assert resources["limits"]["memory"] == f"{int(plain['limits']['memory'][:-2]) // 2}Gi"
    assert "multinode" not in graph.component("prefill")
    assert graph.gpus == 16 + 2
    _, decode, _ = _workloads(gpus=10, tensor_parallel=10)
    with pytest.raises(ValueError, match="10 GPUs per worker do not split evenly over the 3 "
                                         "nodes of 4 GPUs"):
        _graph(frontend=frontend, workers=[decode], gpus_per_node=4)


def test_a_pool_that_says_its_nodes_leaves_the_launch_flags_to_the_operator(
        shared: Path) -> None:
    frontend, decode, _ = _workloads(gpus=8, tensor_parallel=8)
    # What a LeaderWorkerSet pool would expose and run (its pods a node's share each).
    decode.nodes_per_worker = 2
    args = decode.pod_template["spec"]["containers"][0]["args"]
    decode.deployment.patch(("spec", "template", "spec", "containers", 0, "args"), [
        *args, "--distributed-executor-backend", "mp", "--nnodes", "2", "--node-rank=0",
        "--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", "29500", "--headless"])
    graph, document = _graph(frontend=frontend, workers=[decode])
    validate_custom_resource(document, shared / "crds")
    component = graph.component("decode")
    assert component["multinode"] == {"nodeCount": 2}
    assert main(component)["args"] == args
    assert gpus(main(component)) == 8
    assert component["podTemplate"]["metadata"]["annotations"][
        "nvidia.com/vllm-distributed-executor-backend"] == "mp"
    assert graph.gpus == 16


def test_props_refuse_what_the_operator_would() -> None:
    frontend, decode, _ = _workloads()
    with pytest.raises(ValueError, match="name must be a DNS label"):
        DynamoGraphDeploymentProps(name="R1", frontend=frontend, workers=[decode])
    with pytest.raises(ValueError, match=r"runtime_version must be MAJOR\.MINOR\.PATCH"):
        DynamoGraphDeploymentProps(name="r1", frontend=frontend, workers=[decode],
                                   runtime_version="v1.6")
    with pytest.raises(ValueError, match="scaling_adapters names no component of the graph: "
                                         "planner"):
        DynamoGraphDeploymentProps(name="r1", frontend=frontend, workers=[decode],
                                   scaling_adapters=["planner"])
    with pytest.raises(ValueError, match="each component needs a name of its own"):
        DynamoGraphDeploymentProps(name="r1", frontend=frontend, workers=[decode, decode])


# -- autoscaled pools ---------------------------------------------------------------------------

ADAPTER = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeploymentScalingAdapter"}
AUTOSCALER_KINDS = ("ScaledObject", "HorizontalPodAutoscaler")


@pytest.mark.parametrize("name", ["autoscaling-keda", "autoscaling-hpa"])
def test_an_autoscaled_pool_scales_its_component_through_the_scaling_adapter(
        name: str, graphs: dict[str, Synthesized], synthesized: dict[str, Synthesized],
        shared: Path) -> None:
    """The operator creates a DynamoGraphDeploymentScalingAdapter `<graph>-<component>` for a
    component with `scalingAdapter`; the pool's autoscaler scales it as it scaled the
    Deployment: the same triggers, bounds and adapter rule, another target."""
    result, plain = graphs[name], synthesized[name]
    graph = result.find("DynamoGraphDeployment")
    by_name = components(graph)
    autoscalers = [d for d in result.documents if d["kind"] in AUTOSCALER_KINDS]
    assert len(autoscalers) == sum(
        pool is not None and pool.autoscaling.enabled
        for pool in (result.environment.decode, result.environment.prefill))
    for autoscaler in autoscalers:
        component = autoscaler["metadata"]["labels"][COMPONENT_LABEL]
        assert by_name[component]["scalingAdapter"] == {}
        assert "replicas" not in by_name[component]
        assert autoscaler["spec"]["scaleTargetRef"] == {
            **ADAPTER, "name": f"{graph['metadata']['name']}-{component}"}
        ours = plain.find(autoscaler["kind"], autoscaler["metadata"]["name"])
        assert ours["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert {**autoscaler, "spec": {**autoscaler["spec"], "scaleTargetRef": None}} == {
            **ours, "spec": {**ours["spec"], "scaleTargetRef": None}}
        if autoscaler["kind"] == "ScaledObject":
            validate_custom_resource(autoscaler, shared / "crds")
        else:
            kubernetes_validate.validate(autoscaler, kubernetes_validate.latest_version(),
                                         strict=True)
    for config_map in result.all("ConfigMap"):
        if config_map["metadata"]["name"].endswith("-adapter-rules"):
            assert config_map == plain.find("ConfigMap", config_map["metadata"]["name"])
    # The dashboard reads the workers' series in the operator's Dynamo namespace.
    [text] = result.find("ConfigMap", f"{result.environment.release}-dynamo-dashboard")[
        "data"].values()
    exprs = [target["expr"] for _, target in dashboards.targets(json.loads(text))]
    operator_namespace = f"dynamo_{result.environment.full_name.replace('-', '_')}"
    assert any(f'dynamo_namespace="{operator_namespace}"' in e for e in exprs)
    assert not [e for e in exprs if "dynamo_namespace" in e and operator_namespace not in e]
    assert "scaled by" in (result.folder / "PLAN.md").read_text()


def test_an_autoscaled_leader_worker_set_pool_becomes_an_adapted_multinode_component(
        shared: Path) -> None:
    frontend, _, prefill = _workloads()
    scratch = cdk8s.Chart(cdk8s.App(), "lws", namespace="ns")
    decode = DecodeWorkerPool(scratch, "decode", DecodeWorkerPoolProps(
        **WORKLOAD, model=MODEL, gpus=16, gpus_per_node=8,
        engine=VllmEngineArgs({"tensor-parallel-size": 16}),
        autoscaling=DecodeAutoscaling(mode="keda", signal="itl_p95", max_replicas=3)))
    assert decode.autoscaler is not None and decode.leader_worker_set is not None
    assert decode.autoscaler.manifest["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    chart = cdk8s.Chart(cdk8s.Testing.app(), "graph", namespace="ns")
    graph = DynamoGraphDeployment(chart, "graph", DynamoGraphDeploymentProps(
        name="r1", frontend=frontend, workers=[decode, prefill], gpus_per_node=8))
    documents = {d["kind"]: dict(d) for d in cdk8s.Testing.synth(chart)}
    assert sorted(documents) == ["DynamoGraphDeployment", "ScaledObject"]
    validate_custom_resource(documents["DynamoGraphDeployment"], shared / "crds")
    validate_custom_resource(documents["ScaledObject"], shared / "crds")
    component = graph.component("decode")
    assert component["multinode"] == {"nodeCount": 2} and component["scalingAdapter"] == {}
    assert "replicas" not in component
    assert graph.autoscalers["decode"].manifest["spec"] == documents["ScaledObject"]["spec"]
    assert documents["ScaledObject"]["metadata"]["name"] == "r1-decode"
    assert documents["ScaledObject"]["spec"]["scaleTargetRef"] == {**ADAPTER, "name": "r1-decode"}
    assert (documents["ScaledObject"]["spec"]["minReplicaCount"],
            documents["ScaledObject"]["spec"]["maxReplicaCount"]) == (1, 3)
    assert graph.adapter_rules == {}
    # KEDA puts the autoscaler's name (the adapter's) in a label: a DNS label.
    with pytest.raises(ValueError, match=r"scaling adapter 'g{60}-decode', which must be a DNS "
                                         r"label of at most 63 characters"):
        DynamoGraphDeployment(cdk8s.Chart(cdk8s.Testing.app(), "long"), "graph",
                              DynamoGraphDeploymentProps(name="g" * 60, frontend=frontend,
                                                         workers=[decode], gpus_per_node=8))


# -- the README ---------------------------------------------------------------------------------

def test_the_readme_example_is_what_the_command_prints(
        capsys: pytest.CaptureFixture[str]) -> None:
    section = (ROOT / "README.md").read_text().split("## DynamoGraphDeployment")[1].split(
        "\n## ")[0]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example, "the README's DynamoGraphDeployment example moved"
    shown = yaml.safe_load(example.group(1))
    assert cli.main(["dynamo-graph", "dev"]) == 0
    printed = next(yaml.safe_load_all(capsys.readouterr().out))
    _assert_within(shown, printed)


def _assert_within(shown: Any, actual: Any, path: str = "") -> None:
    """Every key the example shows has the printed value (lists item by item, by name)."""
    if isinstance(shown, dict):
        assert isinstance(actual, dict), path
        for key, value in shown.items():
            assert key in actual, f"{path}.{key}"
            _assert_within(value, actual[key], f"{path}.{key}")
    elif isinstance(shown, list):
        assert isinstance(actual, list) and len(shown) <= len(actual), path
        for index, item in enumerate(shown):
            match = (next(a for a in actual if a.get("name") == item["name"])
                     if isinstance(item, dict) and "name" in item else actual[index])
            _assert_within(item, match, f"{path}[{index}]")
    else:
        assert shown == actual, path
