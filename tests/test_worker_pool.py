"""The Dynamo 1.x constructs composed by hand: what they run, and the rules they refuse an app
with at synth."""

from __future__ import annotations

from typing import Any

import cdk8s
import pytest

from constructs_lib import (
    DecodeWorkerPool,
    DecodeWorkerPoolProps,
    DependencyStack,
    DependencyStackProps,
    FrontendDeployment,
    FrontendDeploymentProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
)
from constructs_lib.model import (
    KvEventsSettings,
    ModelSettings,
    NatsSettings,
    RouterSettings,
    RuntimeSettings,
    VllmEngineArgs,
)
from tests.support.builders import env_of, matches, one, pod_spec
from tests.support.charts import refusals, synthesize_with

MODEL = ModelSettings(path="/data/m", served_name="m")
TP4 = VllmEngineArgs.model_validate({"tensor-parallel-size": 4, "block-size": 64})
TP1 = VllmEngineArgs.model_validate({"block-size": 64})


def deps(chart: cdk8s.Chart) -> DependencyStack:
    return DependencyStack(chart, "deps", DependencyStackProps(
        release="r1", namespace="inference", nats=NatsSettings(enabled=False)))


def disaggregated(chart: cdk8s.Chart, *, router: str = "kv", events: bool = True,
                  decode: dict[str, Any] | None = None, prefill: dict[str, Any] | None = None,
                  frontend: dict[str, Any] | None = None) -> None:
    """A frontend, one decode worker on 4 GPUs and two prefill workers on 1, by hand."""
    stack = deps(chart)
    shared = dict(release="r1", full_name="r1-dynamo", dependencies=stack)
    kv_events = KvEventsSettings() if events else None
    FrontendDeployment(chart, "frontend", FrontendDeploymentProps(
        **shared, **{"served_model_name": "m", "router": RouterSettings(mode=router),  # type: ignore[arg-type]
                     **(frontend or {})}))
    DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
        **shared, **{"model": MODEL, "gpus": 4, "engine": TP4, "kv_events": kv_events,
                     **(decode or {})}))
    PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(
        **shared, **{"model": MODEL, "gpus": 1, "replicas": 2, "engine": TP1,
                     "kv_events": kv_events, **(prefill or {})}))


def deployments(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["labels"]["app.kubernetes.io/dynamo-component"]: d
            for d in documents if d["kind"] == "Deployment"}


def test_a_disaggregated_deployment_composed_by_hand_synthesizes() -> None:
    found = deployments(synthesize_with(disaggregated))
    decode = pod_spec(found["decode"])["containers"][0]
    args = decode["args"]
    assert args[:6] == ["--model", "/data/m", "--served-model-name", "m",
                        "--disaggregation-mode", "decode"]
    assert args[args.index("--kv-transfer-config") + 1] == (
        '{"kv_connector":"NixlConnector","kv_role":"kv_both"}')
    assert args[args.index("--tensor-parallel-size") + 1] == "4"
    # The engine publishes KV events to the relay in its own pod: no port leaves it.
    assert [p["name"] for p in decode["ports"]] == ["system"]
    prefill = pod_spec(found["prefill"])["containers"][0]["args"]
    assert prefill[prefill.index("--disaggregation-mode") + 1] == "prefill"
    assert prefill[prefill.index("--kv-events-config") + 1] == (
        '{"publisher":"zmq","topic":"kv-events","endpoint":"tcp://127.0.0.1:20080",'
        '"enable_kv_cache_events":true}')
    assert found["prefill"]["spec"]["replicas"] == 2


def test_workers_run_with_canary_health_checks_and_no_deprecated_settings() -> None:
    container = pod_spec(deployments(synthesize_with(disaggregated))["decode"])["containers"][0]
    env = env_of(container)
    assert env["DYN_HEALTH_CHECK_ENABLED"] == "true"
    assert not {"DYN_SYSTEM_ENABLED", "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS"} & set(env)
    assert (env["DYN_REQUEST_PLANE"], env["DYN_EVENT_PLANE"]) == ("tcp", "zmq")
    assert "NATS_SERVER" not in env
    assert env["ETCD_ENDPOINTS"] == "http://r1-etcd:2379"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "system"}
    liveness = container["livenessProbe"]
    assert (liveness["periodSeconds"], liveness["timeoutSeconds"],
            liveness["failureThreshold"]) == (5, 4, 3)


def test_the_frontend_is_ready_only_once_a_worker_serves_its_model() -> None:
    frontend = deployments(synthesize_with(disaggregated))["frontend"]
    spec = pod_spec(frontend)
    container = spec["containers"][0]
    assert container["args"] == ["--http-port", "8000", "--router-mode", "kv",
                                 "--migration-limit", "3"]
    # /health answers before any worker registered; this only once the model is served.
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/models/m/ready",
                                                      "port": "http"}
    assert spec["terminationGracePeriodSeconds"] == 60
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})


def test_a_router_without_kv_events_is_told_so_and_workers_publish_none() -> None:
    def build(chart: cdk8s.Chart) -> None:
        disaggregated(chart, events=False,
                      frontend={"router": RouterSettings(mode="kv", kv_events=False)})
    found = deployments(synthesize_with(build))
    assert "--no-router-kv-events" in pod_spec(found["frontend"])["containers"][0]["args"]
    assert "--kv-events-config" not in pod_spec(found["decode"])["containers"][0]["args"]


def test_nats_planes_get_the_stacks_nats() -> None:
    def build(chart: cdk8s.Chart) -> None:
        stack = DependencyStack(chart, "deps", DependencyStackProps(release="r1",
                                                                   namespace="inference"))
        runtime = RuntimeSettings(event_plane="nats")
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            release="r1", full_name="r1-dynamo", dependencies=stack, model=MODEL,
            runtime=runtime, disaggregated=False))
    container = pod_spec(one(synthesize_with(build), "Deployment"))
    env = env_of(container["containers"][0])
    assert env["NATS_SERVER"] == "nats://r1-nats:4222"
    assert env_of(container["initContainers"][0])["NATS_SERVER"] == "nats://r1-nats:4222"


def test_the_stack_admits_the_workers_it_serves() -> None:
    documents = synthesize_with(disaggregated)
    policy = one(documents, "NetworkPolicy", "r1-etcd")
    [client_rule, _] = policy["spec"]["ingress"]
    decode = deployments(documents)["decode"]
    assert any(matches(peer["podSelector"]["matchLabels"],
                       decode["spec"]["template"]["metadata"]["labels"])
               for peer in client_rule["from"])


# --- the 1.x rules, refused at synth ----------------------------------------------------------

def only(build: Any) -> str:
    [refusal] = refusals(build)
    return refusal


def test_parallelism_must_use_every_gpu_of_a_worker() -> None:
    refusal = only(lambda c: disaggregated(c, decode={"engine": TP1}))
    assert refusal.endswith("/decode: engine.tensor-parallel-size: tensor-parallel-size not "
                            "set (vLLM's 1) needs 1 GPU per worker, but gpus gives each decode "
                            "worker 4; tensor-parallel-size x pipeline-parallel-size x "
                            "data-parallel-size must equal the GPUs per worker")


def test_prefill_and_decode_must_serve_the_same_model() -> None:
    refusal = only(lambda c: disaggregated(c, prefill={"model": ModelSettings(
        path="/data/other", served_name="m")}))
    assert "/prefill: model.path: /data/other, but the decode pool's (" in refusal
    assert "/decode model.path) is /data/m; KV cache computed by one model" in refusal


def test_a_kv_router_needs_the_prefill_workers_kv_events() -> None:
    refusal = only(lambda c: disaggregated(c, prefill={"kv_events": None}))
    assert "/prefill: kv_events: none, but " in refusal
    assert "/frontend router.mode is kv with" in refusal
    # Decode workers of disaggregated serving are picked by load, not by their cache.
    assert refusals(lambda c: disaggregated(c, decode={"kv_events": None})) == []


def test_a_disaggregated_decode_pool_needs_a_prefill_pool() -> None:
    def build(chart: cdk8s.Chart) -> None:
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            release="r1", full_name="r1-dynamo", dependencies=deps(chart), model=MODEL))
    assert "/decode: disaggregated: true, but no PrefillWorkerPool of this chart shares its " \
           "Dynamo namespace (r1-dynamo)" in only(build)


def test_a_prefill_pool_needs_a_disaggregated_decode_pool() -> None:
    def build(chart: cdk8s.Chart) -> None:
        PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(
            release="r1", full_name="r1-dynamo", dependencies=deps(chart), model=MODEL))
    assert "/prefill: model: m, but no disaggregated DecodeWorkerPool" in only(build)


def test_the_frontend_must_serve_the_workers_model() -> None:
    refusal = only(lambda c: disaggregated(c, frontend={"served_model_name": "other"}))
    assert refusal.endswith("/frontend: served_model_name: other, but the worker pools of its "
                            "Dynamo namespace (r1-dynamo) serve m: the frontend would never "
                            "become ready")


def test_a_nats_plane_without_nats_is_refused() -> None:
    def build(chart: cdk8s.Chart) -> None:
        DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(
            release="r1", full_name="r1-dynamo", etcd_endpoints="etcd.shared:2379",
            model=MODEL, disaggregated=False, runtime=RuntimeSettings(request_plane="nats")))
    assert only(build).endswith(
        "/decode: nats_url: not given, but the request plane (nats) need NATS: give the NATS to "
        "use (nats://host:port), or dependencies=<a DependencyStack that deploys NATS>")


def test_the_kv_events_port_must_not_be_the_system_port() -> None:
    events = KvEventsSettings(port=9090)
    refusals_found = refusals(lambda c: disaggregated(
        c, decode={"kv_events": events}, prefill={"kv_events": events}))
    assert any(r.endswith("/prefill: kv_events.port: 9090: runtime.system_port of the worker "
                          "pod is 9090 too; containers of one pod share its network, so their "
                          "ports must differ") for r in refusals_found)


def test_a_wrong_props_class_is_a_type_error_naming_the_right_one() -> None:
    from constructs_lib.v0_1 import FrontendDeploymentProps as ServeProps
    from tests.support.builders import SINGLE_CONFIG

    chart = cdk8s.Chart(cdk8s.Testing.app(), "wrong")
    props = ServeProps(release="r1", full_name="r1-dynamo", etcd_endpoints="e:2379",
                       nats_url="nats://n:4222", config=SINGLE_CONFIG)
    with pytest.raises(TypeError, match=r"for Dynamo v0\.1, use constructs_lib\.v0_1"):
        FrontendDeployment(chart, "frontend", props)  # type: ignore[arg-type]
