"""Autoscaling of the worker pools: the typed settings and the KEDA / HPA / adapter manifests."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from constructs_lib._render import autoscaling, metrics
from constructs_lib._render.autoscaling import ScaleTarget
from constructs_lib.model.autoscaling import (
    DEFAULT_THRESHOLDS,
    DecodeAutoscaling,
    PrefillAutoscaling,
)
from tests.support.schemas import validate_custom_resource

KUBERNETES_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
SCOPE = metrics.MetricScope(namespace="dynamo", dynamo_namespace="rel-dynamo",
                            model="org/Model-70B")
LABELS = {"app.kubernetes.io/name": "dynamo", "app.kubernetes.io/dynamo-component": "prefill"}
PREFILL = ScaleTarget(name="rel-dynamo-prefill", namespace="dynamo", role="prefill",
                      labels=LABELS)
DECODE = ScaleTarget(name="rel-dynamo-decode", namespace="dynamo", role="decode")

# Every signal of every role, on both autoscalers.
CASES = [
    (PREFILL, PrefillAutoscaling(mode="keda", max_replicas=8)),
    (PREFILL, PrefillAutoscaling(mode="keda", max_replicas=8, signal="ttft_p95", threshold=1.5)),
    (DECODE, DecodeAutoscaling(mode="keda", max_replicas=3)),
    (DECODE, DecodeAutoscaling(mode="keda", max_replicas=3, signal="kv_cache_usage")),
]
HPA_CASES = [(target, settings.model_copy(update={"mode": "hpa"})) for target, settings in CASES]


def _error(model: type, **values: object) -> str:
    with pytest.raises(ValidationError) as info:
        model(**values)
    return str(info.value)


# --------------------------------------------------------------------------- settings


def test_off_by_default_and_role_defaults() -> None:
    prefill, decode = PrefillAutoscaling(), DecodeAutoscaling()
    assert not prefill.enabled and not decode.enabled
    assert (prefill.signal, decode.signal) == ("dispatch_queue", "itl_p95")
    assert prefill.target == DEFAULT_THRESHOLDS["dispatch_queue"] == 2.0
    assert decode.target == 0.05
    assert (prefill.scale_up_pods, decode.scale_up_pods) == (2, 1)
    # Sized for an hour-long model load: a pod goes back only after an hour of lower demand.
    assert decode.cooldown_seconds == 3600 and decode.scale_up_stabilization_seconds == 300
    assert decode.min_replicas == 1


@pytest.mark.parametrize("minimum", [0, -1])
def test_fewer_than_one_replica_is_refused(minimum: int) -> None:
    message = _error(DecodeAutoscaling, mode="keda", min_replicas=minimum, max_replicas=2)
    assert f"min_replicas is {minimum}; it must be at least 1" in message
    assert "drops the model from /v1/models" in message


def test_max_below_min_is_refused() -> None:
    message = _error(PrefillAutoscaling, mode="hpa", min_replicas=3, max_replicas=2)
    assert "max_replicas\n  Value error, max_replicas 2 is below min_replicas 3" in message


def test_max_is_required_to_autoscale() -> None:
    message = _error(PrefillAutoscaling, mode="keda")
    assert "max_replicas\n  Value error, required with mode keda" in message
    assert PrefillAutoscaling(mode="off").max_replicas is None


def test_replica_bounds_are_named() -> None:
    message = _error(DecodeAutoscaling, mode="keda", max_replicas=1001)
    assert "at most 1000 replicas are accepted" in message


def test_signals_belong_to_their_role() -> None:
    assert "'ttft_p95' or 'dispatch_queue'" in _error(PrefillAutoscaling, signal="itl_p95")
    assert "'itl_p95' or 'kv_cache_usage'" in _error(DecodeAutoscaling, signal="ttft_p95")


@pytest.mark.parametrize("value", [True, "2", 0, -0.5])
def test_threshold_is_a_positive_number(value: object) -> None:
    _error(PrefillAutoscaling, threshold=value)


def test_kv_cache_threshold_is_a_fraction() -> None:
    assert "is above 1" in _error(DecodeAutoscaling, signal="kv_cache_usage", threshold=70)


@pytest.mark.parametrize(("field", "value"), [
    ("cooldown_seconds", 3601), ("scale_up_stabilization_seconds", -1),
    ("scale_up_period_seconds", 1801), ("scale_down_period_seconds", 0),
    ("polling_interval_seconds", 0), ("min_replicas", 1.0), ("rate_window", "5 minutes"),
    ("prometheus_url", "prometheus:9090"), ("unknown", 1),
])
def test_out_of_range_settings_are_refused(field: str, value: object) -> None:
    _error(DecodeAutoscaling, **{field: value})


def test_planned_replicas_is_the_maximum_when_autoscaled() -> None:
    assert PrefillAutoscaling(mode="keda", max_replicas=6).planned_replicas(4) == 6
    assert PrefillAutoscaling().planned_replicas(4) == 4


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize(("target", "settings"), CASES)
def test_scaled_object_is_valid_against_the_keda_crd(target: ScaleTarget, settings, shared) -> None:
    document = autoscaling.scaled_object(target, settings, SCOPE)
    validate_custom_resource(document, shared / "crds")
    spec = document["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": target.name}
    assert spec["minReplicaCount"] == 1 and spec["maxReplicaCount"] == settings.max_replicas
    trigger = spec["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"] == settings.prometheus_url
    assert trigger["metadata"]["threshold"] == f"{settings.target:g}"
    assert trigger["metadata"]["ignoreNullValues"] == "false"
    assert trigger["metricType"] == ("AverageValue" if settings.signal == "dispatch_queue"
                                     else "Value")
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 3600


def test_scaled_object_with_authentication(shared) -> None:
    settings = PrefillAutoscaling(mode="keda", max_replicas=2,
                                  keda_authentication={"name": "prom-auth", "modes": "basic"})
    document = autoscaling.scaled_object(PREFILL, settings, SCOPE)
    validate_custom_resource(document, shared / "crds")
    trigger = document["spec"]["triggers"][0]
    assert trigger["authenticationRef"] == {"name": "prom-auth", "kind": "TriggerAuthentication"}
    assert trigger["metadata"]["authModes"] == "basic"


def test_an_unknown_field_fails_the_crd_check(shared) -> None:
    # The strict check is not vacuous: a misplaced field is caught.
    document = autoscaling.scaled_object(*CASES[0], SCOPE)
    document["spec"]["triggers"][0]["threshold"] = "2"
    with pytest.raises(AssertionError, match=r"triggers\[0\]\.threshold"):
        validate_custom_resource(document, shared / "crds")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("target", "settings"), HPA_CASES)
def test_hpa_is_valid_kubernetes(target: ScaleTarget, settings, version: str) -> None:
    document = autoscaling.horizontal_pod_autoscaler(target, settings)
    kubernetes_validate.validate(document, version, strict=True)
    spec = document["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, settings.max_replicas)
    external = spec["metrics"][0]["external"]
    assert external["metric"]["name"] == autoscaling.external_metric_name(target, settings)
    expected = "AverageValue" if settings.per_pod else "Value"
    assert external["target"]["type"] == expected
    assert spec["behavior"]["scaleUp"]["policies"][0]["value"] == settings.scale_up_pods


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_adapter_config_map_is_valid_kubernetes(version: str) -> None:
    rules = [autoscaling.prometheus_adapter_rule(t, s, SCOPE) for t, s in HPA_CASES]
    document = autoscaling.prometheus_adapter_config_map(
        rules, name="adapter-config", namespace="monitoring")
    kubernetes_validate.validate(document, version, strict=True)
    config = yaml.safe_load(document["data"]["config.yaml"])
    assert config == {"externalRules": rules}


def test_adapter_rule_serves_the_hpa_metric() -> None:
    target, settings = HPA_CASES[3]  # decode on KV cache usage
    rule = autoscaling.prometheus_adapter_rule(target, settings, SCOPE)
    query = autoscaling.signal_query("decode", settings, SCOPE)
    assert rule["metricsQuery"] == query.expr
    assert rule["name"]["as"] == "dynamo-rel-dynamo-decode-kv-cache-usage"
    assert rule["name"]["matches"] == "^dynamo_frontend_worker_active_decode_blocks$"
    assert rule["seriesQuery"].startswith("dynamo_frontend_worker_active_decode_blocks{")
    assert rule["resources"] == {"namespaced": False}
    values = yaml.safe_load(autoscaling.prometheus_adapter_values([rule]))
    assert values == {"rules": {"external": [rule]}}


def test_external_metric_names_differ_per_pool_and_signal() -> None:
    names = {autoscaling.external_metric_name(t, s) for t, s in HPA_CASES}
    assert len(names) == len(HPA_CASES)


def test_queries_use_the_deployments_labels() -> None:
    prefill = autoscaling.signal_query("prefill", CASES[0][1], SCOPE).expr
    assert prefill == ('sum(dynamo_frontend_stage_requests{namespace="dynamo",'
                       'stage="dispatch",phase="prefill"})')
    ttft = autoscaling.signal_query("prefill", CASES[1][1], SCOPE).expr
    assert 'dynamo_frontend_time_to_first_token_seconds_bucket{namespace="dynamo",' \
           'model="org/Model-70B"}[5m]' in ttft
    assert "histogram_quantile(0.95," in ttft
    # Idle (NaN) reads as 0 while the frontend serves the model.
    assert ttft.endswith(' or on() (0 * max(dynamo_frontend_model_ready{namespace="dynamo",'
                         'model="org/Model-70B"}))')


@pytest.mark.parametrize(("target", "settings"), CASES)
def test_every_autoscaler_query_uses_catalogued_metrics(target: ScaleTarget, settings) -> None:
    query = autoscaling.signal_query(target.role, settings, SCOPE)
    assert metrics.series_in(query.expr), query.expr
    assert metrics.uncatalogued(query.expr) == set()
    assert {str(s) for s in query.selectors} <= set(_selectors_in(query.expr))


def _selectors_in(expr: str) -> list[str]:
    import re
    return re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*\{[^}]*\}", expr)


def test_off_emits_nothing() -> None:
    assert autoscaling.autoscaler(PREFILL, PrefillAutoscaling(), SCOPE) == []
    kinds = [autoscaling.autoscaler(t, s, SCOPE)[0]["kind"] for t, s in (CASES[0], HPA_CASES[0])]
    assert kinds == ["ScaledObject", "HorizontalPodAutoscaler"]
    with pytest.raises(ValueError, match="is off"):
        autoscaling.scaled_object(PREFILL, PrefillAutoscaling(), SCOPE)


def test_kv_cache_signal_needs_the_kv_router() -> None:
    settings = CASES[3][1]
    autoscaling.check_router_mode(settings, "kv")
    with pytest.raises(ValueError, match="needs the KV router"):
        autoscaling.check_router_mode(settings, "round-robin")
    autoscaling.check_router_mode(CASES[2][1], "round-robin")  # ITL works with any router


@pytest.mark.parametrize(("value", "quantity"), [
    (2.0, "2"), (0.05, "50m"), (0.7, "700m"), (1.5, "1500m"), (0.0505, "0.0505"),
])
def test_thresholds_as_quantities(value: float, quantity: str) -> None:
    assert autoscaling._quantity(value) == quantity


def test_manifests_are_plain_json() -> None:
    for target, settings in CASES + HPA_CASES:
        for document in autoscaling.autoscaler(target, settings, SCOPE):
            assert json.loads(json.dumps(document)) == document
