"""Hand-composed apps (no environment file) that break one rule each, the constructs' side of
the bad-environment corpus: `app.synth()` refuses each with a line `<construct path>: <prop>:
<message>`, and writes nothing.

The v0.1 rules are broken with `constructs_lib.v0_1` constructs, the dependency rules with a
DependencyStack, placement with a GpuNodePool, and `clients_are_admitted` by a host-network
workload that is given a stack's addresses instead of the stack. The Dynamo 1.x constructs' own
rules are broken with 1.x constructs (`kubernetes_discovery_is_provided` by a pool that uses
kubernetes discovery without being given the KubernetesDiscovery)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml

from constructs_lib import (
    DecodeWorkerPool,
    DecodeWorkerPoolProps,
    DependencyStack,
    DependencyStackProps,
    GpuNodePool,
    GpuNodePoolProps,
    KubernetesDiscovery,
    KubernetesDiscoveryProps,
    RdmaPolicy,
    RdmaPolicyProps,
)
from constructs_lib import FrontendDeployment as V1FrontendDeployment
from constructs_lib import FrontendDeploymentProps as V1FrontendDeploymentProps
from constructs_lib import PrefillWorkerPool as V1PrefillWorkerPool
from constructs_lib import PrefillWorkerPoolProps as V1PrefillWorkerPoolProps
from constructs_lib.model import (
    Component,
    DecodeAutoscaling,
    EtcdSettings,
    EtcdTlsSettings,
    KvEventsSettings,
    MetricsSettings,
    Mode,
    ModelSettings,
    PrefillAutoscaling,
    Resources,
    RouterSettings,
    RuntimeSettings,
    ServeConfig,
    VllmEngineArgs,
)
from constructs_lib.rules import catalog
from constructs_lib.rules.subjects import RuleSubject, subjects_of
from constructs_lib.v0_1 import (
    FrontendDeployment,
    FrontendDeploymentProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
)
from tests.support.builders import DECODE_CONFIG_TEXT, SINGLE_CONFIG_TEXT

SKIPPED: set[str] = set()

WORKLOAD: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="inference",
                                etcd_endpoints="r1-etcd:2379", nats_url="nats://r1-nats:4222")
SINGLE = SINGLE_CONFIG_TEXT
# Multinode: the frontend pod decodes, a pool of 4-GPU pods prefills.
DECODE = DECODE_CONFIG_TEXT
PREFILL = """
PrefillWorker:
  model: /data/m
  block-size: 64
  kv-transfer-config: '{"kv_connector":"DynamoNixlConnector"}'
  ServiceArgs: {workers: 4, resources: {gpu: 1}}
"""
TLS = EtcdTlsSettings(server_secret="etcd-server", client_secret="etcd-client")

Build = Callable[[cdk8s.Chart], object]


def config(text: str) -> ServeConfig:
    return ServeConfig.model_validate(yaml.safe_load(text))


def frontend(chart: cdk8s.Chart, **props: Any) -> FrontendDeployment:
    """The whole v0.1 graph in one 4-GPU pod, with `props` changed."""
    return FrontendDeployment(chart, "frontend", FrontendDeploymentProps(**{
        **WORKLOAD, "config": config(SINGLE), "resources": Resources(gpus=4), **props}))


def multinode(prefill: str) -> Build:
    """A v0.1 frontend that decodes and a prefill pool configured by `prefill`."""
    def build(chart: cdk8s.Chart) -> None:
        decode = frontend(chart, mode=Mode.MULTINODE, config=config(DECODE),
                          resources=Resources(gpus=2),
                          graph=(Component.FRONTEND, Component.PROCESSOR, Component.ROUTER,
                                 Component.VLLM_WORKER))
        PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(
            **WORKLOAD, config=config(prefill), resources=Resources(gpus=4),
            graphs_config_map_name=decode.graphs_config_map_name))
    return build


def stack(**props: Any) -> Build:
    return lambda chart: DependencyStack(chart, "deps", DependencyStackProps(
        release="r1", namespace="inference", **props))


def host_network_client_by_address(chart: cdk8s.Chart) -> None:
    deps = DependencyStack(chart, "deps", DependencyStackProps(release="r1",
                                                               namespace="inference"))
    frontend(chart, etcd_endpoints=deps.etcd_endpoints, nats_url=deps.nats_url,
             rdma=RdmaPolicy(chart, "rdma", RdmaPolicyProps(host_network=True)))


# --- Dynamo 1.x --------------------------------------------------------------------------------

MODEL = ModelSettings(path="/data/m", served_name="m")
V1: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="inference",
                          etcd_endpoints="r1-etcd:2379")


def v1(*, router: str = "kv", frontend_props: dict[str, Any] | None = None,
       decode: dict[str, Any] | None = None, prefill: dict[str, Any] | None = None,
       with_prefill: bool = True) -> Build:
    """A 1.x frontend, a decode pool (TP 2 on 2 GPUs) and a prefill pool (1 GPU), with KV
    events for the kv router, each with its props changed."""
    def build(chart: cdk8s.Chart) -> None:
        V1FrontendDeployment(chart, "frontend", V1FrontendDeploymentProps(**{
            **V1, "served_model_name": "m", "router": RouterSettings(mode=router),  # type: ignore[arg-type]
            **(frontend_props or {})}))
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(**{
            **V1, "model": MODEL, "gpus": 2, "disaggregated": with_prefill,
            "engine": VllmEngineArgs.model_validate({"tensor-parallel-size": 2}),
            "kv_events": None if with_prefill else KvEventsSettings(), **(decode or {})}))
        if with_prefill:
            V1PrefillWorkerPool(chart, "prefill", V1PrefillWorkerPoolProps(**{
                **V1, "model": MODEL, "kv_events": KvEventsSettings(), **(prefill or {})}))
    return build


def autoscaled_beyond_the_nodes(chart: cdk8s.Chart) -> None:
    """The v1() deployment (3 GPUs at rest) on one node of 8, its prefill pool autoscaled to 8
    pods of 1 GPU: at most 6 fit next to the decode pod."""
    v1(prefill={"autoscaling": PrefillAutoscaling(mode="keda", max_replicas=8)})(chart)
    GpuNodePool(chart, "nodes", GpuNodePoolProps(count=1, gpus_per_node=8))


def spanning(gpus: int, **decode: Any) -> dict[str, Any]:
    """Decode props of a worker of `gpus` GPUs (tensor parallel over all of them) on nodes of
    8: a LeaderWorkerSet group of a pod per node."""
    return {"gpus": gpus, "gpus_per_node": 8,
            "engine": VllmEngineArgs.model_validate({"tensor-parallel-size": gpus}), **decode}


def group_on_nodes(count: int, **decode: Any) -> Build:
    """A decode worker spanning 2 nodes of 8 GPUs (and a 1-GPU prefill pool) on `count`
    nodes of 8."""
    def build(chart: cdk8s.Chart) -> None:
        GpuNodePool(chart, "nodes", GpuNodePoolProps(count=count, gpus_per_node=8))
        v1(decode=spanning(16, **decode))(chart)
    return build


def found_through_kubernetes(*, forget_on_decode: bool = False) -> Build:
    """A 1.x frontend and an aggregated decode pool that find each other through the
    Kubernetes API (no etcd), given the KubernetesDiscovery, or the pool not."""
    def build(chart: cdk8s.Chart) -> None:
        discovery = KubernetesDiscovery(chart, "discovery", KubernetesDiscoveryProps(
            release="r1", full_name="r1-dynamo"))
        common: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="inference",
                                      runtime=RuntimeSettings(discovery="kubernetes"))
        V1FrontendDeployment(chart, "frontend", V1FrontendDeploymentProps(
            **common, served_model_name="m", kubernetes_discovery=discovery))
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            **common, model=MODEL, disaggregated=False,
            kubernetes_discovery=None if forget_on_decode else discovery))
    return build


def too_few_gpus_per_node(chart: cdk8s.Chart) -> None:
    GpuNodePool(chart, "nodes", GpuNodePoolProps(count=1, gpus_per_node=2))
    frontend(chart)


# rule -> (the app, the line app.synth() refuses it with)
CASES: dict[str, tuple[Build, str]] = {
    "dependencies_are_reachable": (
        stack(etcd=EtcdSettings(enabled=False)),
        "hand/deps: etcd.enabled: false, but etcd.endpoints_override is not set: the Dynamo "
        "pods would have no etcd; set it to the etcd to use (host:port)"),
    "etcd_tls_applies_to_the_own_etcd": (
        stack(etcd=EtcdSettings(tls=TLS, enabled=False, endpoints_override="etcd.shared:2379")),
        "hand/deps: etcd.tls: server_secret etcd-server, client_secret etcd-client, but "
        "etcd.enabled is false: TLS applies to the release's own etcd; enable it or remove "
        "etcd.tls"),
    "generated_names_are_valid": (
        lambda chart: frontend(chart, full_name="r1-" + "x" * 60),
        f"hand/frontend: full_name: r1-{'x' * 60}: r1-{'x' * 60}-single (70 characters) cannot "
        "be a Service name: Service names are DNS-1035 labels of at most 63 lower-case "
        "letters, digits and '-', starting with a letter; shorten it"),
    "ports_are_distinct": (
        lambda chart: frontend(chart, metrics=MetricsSettings(enabled=True, port=8000)),
        "hand/frontend: metrics.port: 8000: config.Frontend.port of the frontend pod is 8000 "
        "too; containers of one pod share its network, so their ports must differ"),
    "etcd_tls_needs_dynamo_v1": (
        lambda chart: frontend(chart, etcd_client_tls_secret="etcd-client"),
        "hand/frontend: etcd_client_tls_secret: etcd-client, but Dynamo v0.1 has no etcd TLS "
        "client (it reads plain http endpoints only); use the Dynamo 1.x constructs, or an "
        "etcd without TLS"),
    "clients_are_admitted": (
        host_network_client_by_address,
        "hand/deps: network_policy: enabled, but hand/frontend connects to this stack's etcd "
        "or NATS and runs in the host network, where no pod selector matches its traffic, and "
        "the policies admit host-network clients only with clients_use_host_network: give "
        "that workload dependencies=<this stack> (its policies then admit it), or turn "
        "network_policy off"),
    "pod_gpus_match_workers": (
        lambda chart: frontend(chart, resources=Resources(gpus=6)),
        "hand/frontend: resources.gpus: 6 nvidia.com/gpu, but the components of the frontend "
        "pod ask for 4: VllmWorker 1 x 2 + PrefillWorker 2 x 1 (ServiceArgs workers x "
        "resources.gpu); set it to 4, or change ServiceArgs"),
    "parallelism_matches_worker_gpus": (
        lambda chart: frontend(chart, config=config(SINGLE.replace(
            "tensor-parallel-size: 2", "tensor-parallel-size: 4"))),
        "hand/frontend: config.VllmWorker.tensor-parallel-size: 4 needs 4 GPUs per worker, but "
        "ServiceArgs.resources.gpu gives each VllmWorker worker 2; tensor-parallel-size x "
        "pipeline-parallel-size must equal the GPUs per worker"),
    "decode_and_prefill_serve_the_same_model": (
        multinode(PREFILL.replace("block-size: 64", "block-size: 32")),
        "hand/prefill: config.PrefillWorker.block-size: 32, but the decode worker's "
        "(hand/frontend config.Common.block-size) is 64; KV cache moves block by block, so "
        "both sides must cut it into blocks of the same size"),
    "remote_prefill_has_what_it_needs": (
        multinode(PREFILL.replace(
            "  kv-transfer-config: '{\"kv_connector\":\"DynamoNixlConnector\"}'\n", "")),
        "hand/prefill: config.PrefillWorker.kv-transfer-config: not set, but hand/frontend "
        "config.VllmWorker.remote-prefill is true: disaggregated prefill moves the KV cache "
        "through a kv-transfer connector on both sides, e.g. "
        "'{\"kv_connector\":\"DynamoNixlConnector\"}'"),
    "no_setting_dynamo_overrides": (
        multinode(PREFILL + "  enforce-eager: false\n"),
        "hand/prefill: config.PrefillWorker.enforce-eager: false, but Dynamo v0.1's "
        "PrefillWorker always runs with enforce-eager true and ignores this setting; remove it"),
    "nats_is_reachable": (
        v1(decode={"runtime": RuntimeSettings(request_plane="nats")},
           prefill={"runtime": RuntimeSettings(request_plane="nats"),
                    "nats_url": "nats://n:4222"},
           frontend_props={"runtime": RuntimeSettings(request_plane="nats"),
                           "nats_url": "nats://n:4222"}),
        "hand/decode: nats_url: not given, but the request plane (nats) need NATS: give the "
        "NATS to use (nats://host:port), or dependencies=<a DependencyStack that deploys NATS>"),
    "kubernetes_discovery_is_provided": (
        found_through_kubernetes(forget_on_decode=True),
        "hand/decode: kubernetes_discovery: not given, but runtime.discovery is kubernetes: the "
        "pods need a ServiceAccount allowed to watch EndpointSlices and write "
        "DynamoWorkerMetadata, and the workers a Service whose EndpointSlices mark them ready; "
        "give kubernetes_discovery=<a KubernetesDiscovery>"),
    "worker_ports_are_distinct": (
        v1(prefill={"kv_events": KvEventsSettings(port=9090)}),
        "hand/prefill: kv_events.port: 9090: runtime.system_port of the worker pod is 9090 "
        "too; containers of one pod share its network, so their ports must differ"),
    "autoscaling_signal_is_exported": (
        v1(router="round-robin", prefill={"kv_events": None},
           decode={"autoscaling": DecodeAutoscaling(mode="keda", max_replicas=2,
                                                    signal="kv_cache_usage")}),
        "hand/decode: autoscaling.signal: kv_cache_usage, but hand/frontend router.mode is "
        "round-robin: the KV cache usage is the KV router's view, which only router mode kv "
        "exports, so the autoscaler would never get a value; use itl_p95, or set the router's "
        "mode to kv"),
    "autoscaling_maximum_fits_nodes": (
        autoscaled_beyond_the_nodes,
        "hand/prefill: autoscaling.max_replicas: 8, but 1 node of 8 GPUs (hand/nodes count) "
        "holds at most 6 prefill pods of 1 GPU next to the chart's other pods (other "
        "autoscaled pools at their min_replicas): the autoscaler's pods beyond that would stay "
        "Pending; lower it to 6, or add nodes"),
    "disaggregation_has_both_sides": (
        v1(router="round-robin", with_prefill=False, decode={"disaggregated": True,
                                                               "kv_events": None}),
        "hand/decode: disaggregated: true, but no PrefillWorkerPool of this chart shares its "
        "Dynamo namespace (r1-dynamo): prompts would wait for a prefill worker forever; add "
        "one, or set disaggregated false to prefill here"),
    "kv_router_gets_kv_events": (
        v1(prefill={"kv_events": None}),
        "hand/prefill: kv_events: none, but hand/frontend router.mode is kv with "
        "hand/frontend router.kv_events true: without this pool's KV events the router routes "
        "blind; publish them (kv_events) or set the router's kv_events false"),
    "frontend_serves_the_workers_model": (
        v1(frontend_props={"served_model_name": "other"}),
        "hand/frontend: served_model_name: other, but the worker pools of its Dynamo namespace "
        "(r1-dynamo) serve m: the frontend would never become ready"),
    "worker_gpus_fill_whole_nodes": (
        v1(decode=spanning(12)),
        "hand/decode: gpus: 12, more than a node has (gpus_per_node 8): such a decode worker "
        "spans whole nodes, a pod of 8 GPUs on each, so its GPUs must be a multiple of 8 "
        "(e.g. 16)"),
    "worker_groups_fit_nodes": (
        group_on_nodes(1),
        "hand/nodes: count: 1, but each r1-dynamo-decode worker (hand/decode gpus 16) is a "
        "group of 2 pods of 8 GPUs, each on a node of its own: not one group fits; declare at "
        "least 2 nodes"),
    "deployment_fits_nodes": (
        too_few_gpus_per_node,
        "hand/nodes: gpus_per_node: 2, but each r1-dynamo-single pod requests 4 nvidia.com/gpu "
        "and a pod cannot span nodes: 2 GPUs missing on every node that would run one"),
}


def compose(build: Build, outdir: Path) -> tuple[cdk8s.App, cdk8s.Chart]:
    app = cdk8s.App(outdir=str(outdir))
    chart = cdk8s.Chart(app, "hand", namespace="inference", disable_resource_name_hashes=True)
    build(chart)
    return app, chart


def refused(app: cdk8s.App) -> list[str]:
    """What `app.synth()` refuses the app with, one `<path>: <message>` per line."""
    with pytest.raises(RuntimeError) as caught:
        app.synth()
    lines = [line.strip() for line in str(caught.value).splitlines() if line.startswith("  [")]
    return [line[1:].replace("] ", ": ", 1) for line in lines]


def written(outdir: Path) -> list[Path]:
    """Files under `outdir` (cdk8s creates the folder itself before it validates)."""
    return [p for p in outdir.rglob("*") if p.is_file()] if outdir.exists() else []


def test_every_rule_has_a_hand_composed_case() -> None:
    assert set(CASES) == set(catalog.PROBLEM_RULES) - SKIPPED
    assert set(catalog.PROBLEM_RULES) >= SKIPPED


@pytest.mark.parametrize("rule", CASES)
def test_a_hand_composed_app_that_breaks_a_rule_is_refused_at_synth(rule: str,
                                                                   tmp_path: Path) -> None:
    build, expected = CASES[rule]
    outdir = tmp_path / "dist"
    app, chart = compose(build, outdir)
    # The case breaks the rule it stands for, and no other.
    found = {f.rule for s in subjects_of(chart, RuleSubject) for f in s.problems()}
    assert found == {rule}
    assert refused(app) == [expected]
    assert written(outdir) == []


def test_the_cases_are_sound_apart_from_their_mistake(tmp_path: Path) -> None:
    """The same compositions without the mistake synthesize (so each refusal is the rule's)."""
    sound: list[Build] = [
        stack(), frontend, multinode(PREFILL), v1(), v1(router="round-robin", with_prefill=False),
        v1(decode={"autoscaling": DecodeAutoscaling(mode="keda", max_replicas=2,
                                                    signal="kv_cache_usage")}),
        lambda chart: (v1(prefill={"autoscaling": PrefillAutoscaling(mode="hpa",
                                                                     max_replicas=6)})(chart),
                       GpuNodePool(chart, "nodes", GpuNodePoolProps(count=1, gpus_per_node=8))),
        group_on_nodes(3),
        # Autoscaled LeaderWorkerSet groups: 2 groups of 2 nodes and the prefill pod on 5.
        group_on_nodes(5, autoscaling=DecodeAutoscaling(mode="keda", max_replicas=2)),
        found_through_kubernetes(),
        lambda chart: (GpuNodePool(chart, "nodes", GpuNodePoolProps(count=1, gpus_per_node=4)),
                       frontend(chart)),
    ]
    for index, build in enumerate(sound):
        outdir = tmp_path / f"dist{index}"
        app, _ = compose(build, outdir)
        app.synth()
        assert written(outdir)


def test_a_name_with_characters_no_kind_allows_says_how_to_write_it(tmp_path: Path) -> None:
    app, _ = compose(lambda chart: frontend(chart, full_name="R1_Dynamo"), tmp_path / "dist")
    [line] = refused(app)
    assert line.startswith("hand/frontend: full_name: R1_Dynamo: R1_Dynamo-single cannot be a "
                           "Service name")
    assert line.endswith("; write it in lower-case letters, digits and '-'")


def test_a_construct_added_to_a_composed_environment_is_checked_at_synth(tmp_path: Path) -> None:
    # A DynamoChart checks its constructs' rules while composing, and at synth with one
    # validation for all of them: including what the app adds to it afterwards.
    from constructs_lib import DynamoChart
    from constructs_lib.model.loader import load_environment
    from tests.conftest import ENVIRONMENTS

    app = cdk8s.App(outdir=str(tmp_path / "out"))
    chart = DynamoChart(app, "dev", load_environment(ENVIRONMENTS / "dev.yaml"))
    DecodeWorkerPool(chart, "extra", DecodeWorkerPoolProps(
        **{**V1, "full_name": "extra"}, model=MODEL, gpus=1, disaggregated=False,
        engine=VllmEngineArgs.model_validate({"tensor-parallel-size": 2})))
    assert [line for line in refused(app) if "tensor-parallel-size" in line] == [
        "dev: dev/extra: engine.tensor-parallel-size: tensor-parallel-size 2 needs 2 GPUs per "
        "worker, but gpus gives each decode worker 1; tensor-parallel-size x "
        "pipeline-parallel-size x data-parallel-size must equal the GPUs per worker"]
    assert written(tmp_path / "out") == []
