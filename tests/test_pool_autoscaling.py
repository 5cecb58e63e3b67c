"""The 1.x worker pools autoscaled: what they emit, what they refuse, how the environment file
maps onto them, and how the placement plan and the summary count them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cdk8s
import kubernetes_validate
import pytest
import yaml

from constructs_lib import (
    DecodeWorkerPool,
    DecodeWorkerPoolProps,
    FrontendDeployment,
    FrontendDeploymentProps,
    GrafanaDashboard,
    GrafanaDashboardProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
)
from constructs_lib._render import autoscaling, dashboards, metrics
from constructs_lib.errors import ConfigError
from constructs_lib.model import (
    DecodeAutoscaling,
    KvEventsSettings,
    ModelSettings,
    PrefillAutoscaling,
    RouterSettings,
    VllmEngineArgs,
)
from constructs_lib.model.loader import validate_environment
from constructs_lib.rules import RuleViolations
from constructs_lib.tools import plan_report
from tests.conftest import Synthesized
from tests.support.charts import composed, find, plan_of, refusals, synthesize_with
from tests.support.environments import checked, data
from tests.support.schemas import validate_custom_resource

KUBERNETES_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
MODEL = ModelSettings(path="/data/m", served_name="m")
V1: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="inference",
                          etcd_endpoints="r1-etcd:2379")
KEDA = DecodeAutoscaling(mode="keda", max_replicas=3, signal="kv_cache_usage")
HPA = PrefillAutoscaling(mode="hpa", min_replicas=2, max_replicas=6)


def deployment(decode: DecodeAutoscaling = KEDA, prefill: PrefillAutoscaling = HPA,
               router: str = "kv", **decode_props: Any) -> Any:
    """A 1.x frontend, a decode pool of 2 GPUs and a prefill pool of 1, autoscaled as given."""
    def build(chart: cdk8s.Chart) -> tuple[Any, Any, Any]:
        frontend = FrontendDeployment(chart, "frontend", FrontendDeploymentProps(
            **V1, served_model_name="m", router=RouterSettings(mode=router)))  # type: ignore[arg-type]
        pool = DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            **V1, model=MODEL, gpus=2, autoscaling=decode,
            engine=VllmEngineArgs.model_validate({"tensor-parallel-size": 2}), **decode_props))
        prefill_pool = PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(
            **V1, model=MODEL, kv_events=KvEventsSettings(), autoscaling=prefill))
        return frontend, pool, prefill_pool
    return build


def test_an_autoscaled_pool_emits_its_autoscaler_and_no_replicas(shared: Path) -> None:
    documents = synthesize_with(deployment())
    for name in ("r1-dynamo-decode", "r1-dynamo-prefill"):
        assert "replicas" not in find(documents, "Deployment", name)["spec"]
    assert find(documents, "Deployment", "r1-dynamo-frontend")["spec"]["replicas"] == 1
    scaled = find(documents, "ScaledObject", "r1-dynamo-decode")
    validate_custom_resource(scaled, shared / "crds")
    assert scaled["metadata"]["namespace"] == "inference"
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": "r1-dynamo-decode"}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 3)
    hpa = find(documents, "HorizontalPodAutoscaler", "r1-dynamo-prefill")
    rules = find(documents, "ConfigMap", "r1-dynamo-prefill-adapter-rules")
    for version in KUBERNETES_VERSIONS:
        for document in (hpa, rules):
            kubernetes_validate.validate(document, version, strict=True)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    # The adapter rule serves exactly the metric the HPA reads, in both forms it is installed.
    [rule] = yaml.safe_load(rules["data"]["config.yaml"])["externalRules"]
    assert rule["name"]["as"] == hpa["spec"]["metrics"][0]["external"]["metric"]["name"]
    assert yaml.safe_load(rules["data"]["values.yaml"]) == {"rules": {"external": [rule]}}
    # Both pools may run two or more pods: both have disruption budgets.
    assert {d["metadata"]["name"] for d in documents if d["kind"] == "PodDisruptionBudget"} == {
        "r1-dynamo-decode", "r1-dynamo-prefill"}


def test_the_pool_exposes_its_autoscaler_for_the_plan() -> None:
    built: list[Any] = []
    synthesize_with(lambda chart: built.extend(deployment()(chart)))
    _, decode, prefill = built
    assert (decode.replicas, decode.has_autoscaler) == (None, True)
    assert (decode.autoscaler_min_replicas, decode.max_replicas) == (1, 3)
    assert decode.autoscaler.object_kind == "ScaledObject" and decode.adapter_rules is None
    assert prefill.adapter_rules.object_name == "r1-dynamo-prefill-adapter-rules"
    assert prefill.adapter_rule == autoscaling.prometheus_adapter_rule(
        prefill.scale_target, HPA, prefill.metric_scope)
    assert prefill.metric_scope == metrics.MetricScope(
        namespace="inference", dynamo_namespace="r1-dynamo", model="m")


def test_off_keeps_the_fixed_replicas_and_emits_no_autoscaler() -> None:
    documents = synthesize_with(deployment(DecodeAutoscaling(), PrefillAutoscaling()))
    assert {d["kind"] for d in documents} & {"ScaledObject", "HorizontalPodAutoscaler"} == set()
    assert find(documents, "Deployment", "r1-dynamo-prefill")["spec"]["replicas"] == 1


def test_an_aggregated_pool_scales_on_the_aggregated_series() -> None:
    def build(chart: cdk8s.Chart) -> None:
        FrontendDeployment(chart, "frontend", FrontendDeploymentProps(
            **V1, served_model_name="m", router=RouterSettings(mode="kv")))
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            **V1, model=MODEL, disaggregated=False, kv_events=KvEventsSettings(),
            autoscaling=DecodeAutoscaling(mode="keda", max_replicas=2,
                                          signal="kv_cache_usage")))
    query = find(synthesize_with(build), "ScaledObject")["spec"]["triggers"][0]["metadata"][
        "query"]
    assert 'worker_type="aggregated"' in query


def test_replicas_next_to_autoscaling_are_refused() -> None:
    with pytest.raises(ValueError, match="replicas 4 given with autoscaling mode keda: the "
                                         "autoscaler sets the replicas"):
        DecodeWorkerPoolProps(**V1, model=MODEL, replicas=4, autoscaling=KEDA)
    # The minimum says what replicas would have.
    DecodeWorkerPoolProps(**V1, model=MODEL, autoscaling=KEDA.model_copy(
        update={"min_replicas": 3}))


def test_a_signal_the_router_does_not_export_is_refused() -> None:
    [line] = refusals(deployment(router="round-robin", prefill=PrefillAutoscaling()))
    chart = line.split("/")[0]
    assert line == (
        f"{chart}/decode: autoscaling.signal: kv_cache_usage, but {chart}/frontend router.mode "
        "is round-robin: the KV cache usage is the KV router's view, which only router mode kv "
        "exports, so the autoscaler would never get a value; use itl_p95, or set the router's "
        "mode to kv")


# --------------------------------------------------------------------------- the file


def test_the_file_maps_autoscaling_onto_the_pools() -> None:
    chart = composed(checked("autoscaling-keda"))
    assert chart.decode.autoscaling.signal == "kv_cache_usage"
    assert (chart.prefill.autoscaling.min_replicas, chart.prefill.max_replicas) == (4, 16)
    assert chart.decode.replicas is None and chart.prefill.replicas is None


def test_the_file_refuses_replicas_next_to_autoscaling() -> None:
    settings = data("autoscaling-hpa", prefill={"replicas": 3})
    with pytest.raises(ConfigError) as caught:
        validate_environment(settings, "f.yaml")
    [problem] = caught.value.problems
    assert (problem.field, problem.message.split(":")[0]) == (
        "prefill.replicas", "3, but prefill.autoscaling.mode is hpa")


def test_the_pod_limit_counts_the_autoscalers_maximum() -> None:
    settings = data("autoscaling-hpa", frontend={"replicas": 900}, decode={"replicas": 900},
                    prefill={"autoscaling": {"max_replicas": 1000}})
    with pytest.raises(ConfigError) as caught:
        validate_environment(settings, "f.yaml")
    [problem] = [p for p in caught.value.problems if "Dynamo pods" in p.message]
    assert problem.field == "prefill.autoscaling.max_replicas"
    assert problem.message.startswith("1000, with 900 frontend, 900 decode and 1000 prefill "
                                      "pods: 2800 pods")


def test_the_plan_places_the_maximum_and_shows_min_and_max() -> None:
    plan = plan_of(checked("autoscaling-keda"))
    assert plan.fits and len(plan.gpu_pods) == 2 + 16
    assert [(a.deployment, a.min_replicas, a.max_replicas, a.gpus) for a in plan.autoscaled] == [
        ("deepseek-keda-dynamo-decode", 1, 2, 4), ("deepseek-keda-dynamo-prefill", 4, 16, 1)]
    markdown = plan_report.markdown(plan, "autoscaling-keda")
    assert "8 to 24 of 24 GPUs requested" in markdown.splitlines()[2]
    assert "| deepseek-keda-dynamo-decode 2/1..2 (if scaled up) | 4 (4 decode) |" in markdown
    assert "| deepseek-keda-dynamo-prefill 4/4..16 | 1 (1 prefill) |" in markdown
    section = markdown.split("## Autoscaling\n", 1)[1]
    assert ("| deepseek-keda-dynamo-prefill | 4 | 16 | 1 | KEDA ScaledObject on dispatch_queue, "
            "target 2 requests per pod |") in section
    text = plan_report.text(plan_of(checked("autoscaling-hpa")), "autoscaling-hpa")
    assert ("  - deepseek-hpa-dynamo-prefill: 2 to 4 pods of 1 GPU, HPA on a prometheus-adapter "
            "External metric on ttft_p95, target 1.5 s (its prometheus-adapter rule: ConfigMap "
            "deepseek-hpa-dynamo-prefill-adapter-rules)") in text.splitlines()


def test_each_pool_at_its_maximum_fitting_alone_is_not_enough() -> None:
    # Each pool's maximum fits next to the other at its minimum, both maxima together do not:
    # the node count is blamed, naming the maxima it counted.
    env = checked("autoscaling-keda", nodes={"count": 5, "gpus_per_node": 4})
    with pytest.raises(RuleViolations) as caught:
        composed(env)
    [line] = str(caught.value).splitlines()
    assert line.startswith("nodes.count: 5, but the deployment needs 6 nodes of 4 GPUs: 24 "
                           "nvidia.com/gpu requested, 20 available (4 missing); autoscaled pods "
                           "count at their maximum (decode.autoscaling.max_replicas 2, "
                           "prefill.autoscaling.max_replicas 16); no node is left for ")
    # Two nodes fit neither maximum: the prefill pool's own rule names its maximum.
    with pytest.raises(RuleViolations) as caught:
        composed(checked("autoscaling-keda", nodes={"count": 2}))
    [line] = str(caught.value).splitlines()
    assert line.startswith("prefill.autoscaling.max_replicas: 16, but 2 nodes of 8 GPUs "
                           "(nodes.count) hold at most 12 prefill pods of 1 GPU next to the "
                           "chart's other pods")


# --------------------------------------------------------------------------- dashboards


@pytest.mark.parametrize("name", ["autoscaling-keda", "autoscaling-hpa"])
def test_the_dashboard_config_map_is_what_grafanas_sidecar_loads(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    result = synthesized[name]
    release = result.environment.release
    config_map = result.find("ConfigMap", f"{release}-dynamo-dashboard")
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Dynamo"}
    [(key, text)] = config_map["data"].items()
    assert key == f"{release}-dynamo-dashboard.json"
    board = json.loads(text)
    assert board["title"] == f"Dynamo {release}-dynamo"
    exprs = [target["expr"] for _, target in dashboards.targets(board)]
    assert all(metrics.series_in(e) and not metrics.uncatalogued(e) for e in exprs)
    assert all('namespace="dynamo"' in e for e in exprs)
    # KV cache panels only where the router exports them (keda: kv; hpa: round-robin).
    assert any("worker_active_decode_blocks" in e for e in exprs) == (name == "autoscaling-keda")


def test_the_dashboard_construct_scopes_the_queries_by_its_frontend() -> None:
    boards: list[GrafanaDashboard] = []

    def build(chart: cdk8s.Chart) -> None:
        frontend, _, _ = deployment()(chart)
        boards.append(GrafanaDashboard(chart, "dashboard", GrafanaDashboardProps(
            frontend=frontend, namespace="grafana", labels={"dashboards": "dynamo"})))

    documents = synthesize_with(build)
    config_map = find(documents, "ConfigMap", "r1-dynamo-dashboard")
    assert config_map["metadata"]["labels"] == {"dashboards": "dynamo"}
    [board] = boards
    assert json.loads(config_map["data"]["r1-dynamo-dashboard.json"]) == board.dashboard
    exprs = [t["expr"] for _, t in dashboards.targets(board.dashboard)]
    assert any('dynamo_namespace="r1_dynamo"' in e for e in exprs)
    assert any('phase="prefill"' in e for e in exprs)  # disaggregated: the prefill pool is there


# --------------------------------------------------------------------------- LeaderWorkerSets

LWS_TARGET = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet"}


def spanning_deployment(decode: DecodeAutoscaling, prefill: PrefillAutoscaling) -> Any:
    """Decode and prefill workers of 16 GPUs each on nodes of 8: two LeaderWorkerSets of
    groups of 2 pods, autoscaled as given."""
    def build(chart: cdk8s.Chart) -> None:
        FrontendDeployment(chart, "frontend", FrontendDeploymentProps(
            **V1, served_model_name="m", router=RouterSettings(mode="kv")))  # type: ignore[arg-type]
        engine = VllmEngineArgs.model_validate({"tensor-parallel-size": 16})
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            **V1, model=MODEL, gpus=16, gpus_per_node=8, engine=engine, autoscaling=decode))
        PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(
            **V1, model=MODEL, gpus=16, gpus_per_node=8, engine=engine,
            kv_events=KvEventsSettings(), autoscaling=prefill))
    return build


def test_an_autoscaled_leader_worker_set_leaves_its_groups_to_the_autoscaler(
        shared: Path) -> None:
    documents = synthesize_with(spanning_deployment(
        DecodeAutoscaling(mode="keda", signal="itl_p95", max_replicas=2), HPA))
    for name in ("r1-dynamo-decode", "r1-dynamo-prefill"):
        group = find(documents, "LeaderWorkerSet", name)
        assert "replicas" not in group["spec"]
        assert group["spec"]["leaderWorkerTemplate"]["size"] == 2
        validate_custom_resource(group, shared / "crds")  # strict: no unknown field
    scaled = find(documents, "ScaledObject", "r1-dynamo-decode")
    validate_custom_resource(scaled, shared / "crds")
    assert scaled["spec"]["scaleTargetRef"] == {**LWS_TARGET, "name": "r1-dynamo-decode"}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 2)
    hpa = find(documents, "HorizontalPodAutoscaler", "r1-dynamo-prefill")
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(hpa, version, strict=True)
    assert hpa["spec"]["scaleTargetRef"] == {**LWS_TARGET, "name": "r1-dynamo-prefill"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    # What the autoscalers scale: the LeaderWorkerSet's scale subresource counts its groups.
    crd = yaml.safe_load((shared / "crds" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml")
                         .read_text())
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert served["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"


def lws_environment(count: int, **decode: Any) -> Any:
    """deepseek-r1-v1 (decode and prefill workers of 2 nodes of 8 GPUs) on `count` nodes, its
    decode pool on KEDA from 1 to 2 groups."""
    autoscaling = {"mode": "keda", "signal": "itl_p95", "min_replicas": 1, "max_replicas": 2,
                   **decode}
    return checked("deepseek-r1-v1", decode={"autoscaling": autoscaling},
                   nodes={"count": count})


def test_the_plan_places_an_autoscaled_pool_s_groups_at_their_maximum() -> None:
    plan = plan_of(lws_environment(6))
    assert plan.fits and len(plan.gpu_pods) == 2 * 2 + 2
    [decode] = [g for g in plan.groups if g.role == "decode"]
    assert (decode.min_replicas, decode.replicas, decode.size) == (1, 2, 2)
    [scaled] = plan.autoscaled
    assert (scaled.deployment, scaled.min_replicas, scaled.max_replicas, scaled.group_size,
            scaled.gpus_per_replica) == ("deepseek-r1-dynamo-decode", 1, 2, 2, 16)
    markdown = plan_report.markdown(plan, "ds")
    assert "32 to 48 of 48 GPUs requested" in markdown.splitlines()[2]
    assert ("| deepseek-r1-dynamo-decode group 2/1..2 rank 1 (if scaled up) | 8 (8 decode) |"
            in markdown)
    assert "| deepseek-r1-dynamo-prefill group 1/1 leader | 8 (8 prefill) |" in markdown
    section = markdown.split("## Autoscaling\n", 1)[1]
    assert "(a LeaderWorkerSet's replicas are its groups)" in section
    assert ("| deepseek-r1-dynamo-decode | 1 | 2 | 16 (2 pods of 8) | KEDA ScaledObject on "
            "itl_p95, target 0.05 s |") in section
    assert ("  - deepseek-r1-dynamo-decode: 1 to 2 groups of 2 pods of 8 GPUs (a node each), "
            "KEDA ScaledObject on itl_p95, target 0.05 s") in plan_report.text(plan, "ds")


def test_the_capacity_rules_count_the_maximum_groups_times_their_nodes() -> None:
    # Five nodes hold one decode group (2 nodes) next to the prefill group, not two.
    with pytest.raises(RuleViolations) as caught:
        composed(lws_environment(5))
    assert str(caught.value).splitlines() == [
        "decode.autoscaling.max_replicas: 2, but 5 nodes of 8 GPUs (nodes.count) hold at most "
        "1 decode group of 2 pods of 8 GPUs (a node each) next to the chart's other pods "
        "(other autoscaled pools at their min_replicas): the autoscaler's pods beyond that "
        "would stay Pending; lower it to 1, or add nodes"]
    # Three nodes do not hold even the minimum: the node count is the setting to fix.
    with pytest.raises(RuleViolations) as caught:
        composed(lws_environment(3))
    assert all(line.startswith("nodes.count: 3") for line in str(caught.value).splitlines())
    # The pod limit counts each group's pods at the maximum: 1 + 1000 x 2 + 2.
    with pytest.raises(ConfigError) as caught_file:
        validate_environment(data("deepseek-r1-v1", decode={"autoscaling": {
            "mode": "keda", "signal": "itl_p95", "max_replicas": 1000}}), "f.yaml")
    [problem] = [p for p in caught_file.value.problems if "Dynamo pods" in p.message]
    assert problem.field == "decode.autoscaling.max_replicas"
    assert problem.message.startswith("1000, with 1 frontend, 2000 decode and 2 prefill pods: "
                                      "2003 pods")


@pytest.mark.parametrize("output", ["manifests", "dynamo-graph"])
def test_the_summary_counts_autoscaled_groups_from_their_minimum_to_their_maximum(
        output: str, tmp_path: Path, shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from constructs_lib.tools import cli

    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(data("deepseek-r1-v1", decode={"autoscaling": {
        "mode": "keda", "signal": "itl_p95", "max_replicas": 2}}, nodes={"count": 6})))
    assert cli.main(["synth", "--format", output, str(path), "-o", str(tmp_path / "out")]) == 0
    summary_line = capsys.readouterr().out.splitlines()[1]
    assert summary_line.endswith("ScaledObject 1; 32 to 48 GPUs (autoscaled) on 6 nodes")
    for file in (tmp_path / "out" / "ds").glob("*.k8s.yaml"):
        document = yaml.safe_load(file.read_text())
        if document["kind"] in ("ScaledObject", "LeaderWorkerSet", "DynamoGraphDeployment"):
            validate_custom_resource(document, shared / "crds")
