"""The manifests that autoscale a worker pool: a KEDA ScaledObject, or an autoscaling/v2 HPA and
the prometheus-adapter rule that serves its External metric.

Pure functions of the target Deployment, the pool's settings and the metric scope; the queries
come from the catalogue in metrics.py. Which one to install:

- KEDA: one ScaledObject per pool; KEDA creates the HPA (`keda-hpa-<name>`) and serves the
  metric itself from the PromQL in the trigger. Nothing else to configure.
- HPA: the HorizontalPodAutoscaler reads an External metric from
  `external.metrics.k8s.io`, which prometheus-adapter serves; the adapter needs one
  `externalRules` entry per pool (from `prometheus_adapter_rule`), loaded into its
  configuration (`prometheus_adapter_values` for its Helm chart, or
  `prometheus_adapter_config_map`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..model.autoscaling import PoolAutoscaling
from . import metrics
from .k8s import Manifest, metadata
from .metrics import MetricScope, Query, Role

KEDA_API_VERSION = "keda.sh/v1alpha1"
HPA_API_VERSION = "autoscaling/v2"


@dataclass(frozen=True, kw_only=True)
class ScaleTarget:
    """What a pool's autoscaler scales (its `scaleTargetRef`): the pool's Deployment or
    LeaderWorkerSet, or the DynamoGraphDeploymentScalingAdapter of its graph component."""

    name: str
    namespace: str
    role: Role
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the autoscaler objects carry (the Deployment's own, usually). Default: none."""
    api_version: str = "apps/v1"
    kind: str = "Deployment"


def signal_query(role: Role, settings: PoolAutoscaling, scope: MetricScope) -> Query:
    """The PromQL the autoscaler compares with `settings.target`."""
    window = settings.rate_window
    signal = settings.signal
    if role == "prefill" and signal == "dispatch_queue":
        return metrics.dispatch_queue(scope, "prefill")
    if role == "prefill" and signal == "ttft_p95":
        return metrics.idle_as_zero(metrics.ttft_quantile(scope, 0.95, window), scope)
    if role == "decode" and signal == "itl_p95":
        return metrics.idle_as_zero(metrics.itl_quantile(scope, 0.95, window), scope)
    if role == "decode" and signal == "kv_cache_usage":
        return metrics.kv_cache_usage(scope)
    raise ValueError(f"signal {signal} does not apply to the {role} pool")


def check_router_mode(settings: PoolAutoscaling, router_mode: str) -> None:
    """Refuse a signal the frontend's router does not produce: the KV router's view of the KV
    cache exists only with `--router-mode kv`, and an empty query would leave the pool
    unscaled without a word."""
    if settings.enabled and settings.signal == "kv_cache_usage" and router_mode != "kv":
        raise ValueError(
            f"autoscaling on kv_cache_usage needs the KV router (router mode kv); this frontend "
            f"routes {router_mode}, so the metric would never exist: use itl_p95")


def _quantity(value: float) -> str:
    """A Kubernetes quantity for `value`: whole numbers as such, else in thousandths (`50m`)."""
    if float(value).is_integer():
        return str(int(value))
    milli = round(value * 1000, 6)
    if float(milli).is_integer():
        return f"{int(milli)}m"
    return f"{value:.6f}".rstrip("0")


def _number(value: float) -> str:
    return f"{value:g}"


def behavior(settings: PoolAutoscaling) -> dict[str, Any]:
    """The HPA `behavior` (KEDA passes it to the HPA it creates)."""
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": settings.scale_up_stabilization_seconds,
            "policies": [{"type": "Pods", "value": settings.scale_up_pods,
                          "periodSeconds": settings.scale_up_period_seconds}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": settings.cooldown_seconds,
            "policies": [{"type": "Pods", "value": settings.scale_down_pods,
                          "periodSeconds": settings.scale_down_period_seconds}],
        },
    }


def _check(target: ScaleTarget, settings: PoolAutoscaling) -> int:
    if not settings.enabled:
        raise ValueError(f"autoscaling of {target.name} is off")
    if settings.max_replicas is None:  # the model refuses this; kept for direct callers
        raise ValueError(f"{target.name}: max_replicas is required to autoscale")
    return settings.max_replicas


def scaled_object(target: ScaleTarget, settings: PoolAutoscaling,
                  scope: MetricScope) -> Manifest:
    """A KEDA ScaledObject with one Prometheus trigger on the pool's signal."""
    maximum = _check(target, settings)
    query = signal_query(target.role, settings, scope)
    trigger_metadata = {
        "serverAddress": settings.prometheus_url,
        "query": query.expr,
        "threshold": _number(settings.target),
        # An empty answer is an error (the HPA then keeps the replicas), not a zero that would
        # shrink the pool while Prometheus has no data.
        "ignoreNullValues": "false",
    }
    trigger: dict[str, Any] = {
        "type": "prometheus",
        "name": settings.signal.replace("_", "-"),
        "metricType": "AverageValue" if settings.per_pod else "Value",
        # Prometheus is asked once per pollingInterval, not on every HPA sync.
        "useCachedMetrics": True,
        "metadata": trigger_metadata,
    }
    if settings.keda_authentication is not None:
        auth = settings.keda_authentication
        trigger_metadata["authModes"] = auth.modes
        trigger["authenticationRef"] = {"name": auth.name, "kind": auth.kind}
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": metadata(target.name, target.namespace, target.labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": target.api_version, "kind": target.kind,
                               "name": target.name},
            "pollingInterval": settings.polling_interval_seconds,
            "cooldownPeriod": settings.cooldown_seconds,
            "minReplicaCount": settings.min_replicas,
            "maxReplicaCount": maximum,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior(settings)}},
            "triggers": [trigger],
        },
    }


def external_metric_name(target: ScaleTarget, settings: PoolAutoscaling) -> str:
    """The External metric's name: unique per namespace, Deployment and signal, because the
    adapter's rule carries the whole query (namespace included) and is cluster-wide."""
    return f"{target.namespace}-{target.name}-{settings.signal.replace('_', '-')}"


def horizontal_pod_autoscaler(target: ScaleTarget, settings: PoolAutoscaling) -> Manifest:
    """An autoscaling/v2 HPA on the External metric of `prometheus_adapter_rule`."""
    maximum = _check(target, settings)
    value = _quantity(settings.target)
    metric_target = ({"type": "AverageValue", "averageValue": value} if settings.per_pod
                     else {"type": "Value", "value": value})
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(target.name, target.namespace, target.labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": target.api_version, "kind": target.kind,
                               "name": target.name},
            "minReplicas": settings.min_replicas,
            "maxReplicas": maximum,
            "metrics": [{
                "type": "External",
                "external": {"metric": {"name": external_metric_name(target, settings)},
                             "target": metric_target},
            }],
            "behavior": behavior(settings),
        },
    }


def prometheus_adapter_rule(target: ScaleTarget, settings: PoolAutoscaling,
                            scope: MetricScope) -> dict[str, Any]:
    """The prometheus-adapter `externalRules` entry that serves the HPA's metric.

    Discovery: the rule exists while Prometheus has the signal's first series (before the
    frontend has served a request, the adapter lists no metric and the HPA keeps the replicas).
    The query is complete (namespace, model and Dynamo labels in it), so the rule is not
    namespaced: the HPA's namespace adds nothing to it.
    """
    _check(target, settings)
    query = signal_query(target.role, settings, scope)
    first = query.selectors[0]
    return {
        "seriesQuery": str(first),
        "resources": {"namespaced": False},
        "name": {"matches": f"^{re.escape(first.series)}$",
                 "as": external_metric_name(target, settings)},
        "metricsQuery": query.expr,
    }


def prometheus_adapter_values(rules: Sequence[Mapping[str, Any]]) -> str:
    """A values snippet for the prometheus-community/prometheus-adapter Helm chart."""
    header = ("# prometheus-adapter Helm values: External metrics of the Dynamo worker pools.\n"
              "# Merge into your values (rules.external) and upgrade the adapter release.\n")
    body = {"rules": {"external": [dict(rule) for rule in rules]}}
    return header + yaml.safe_dump(body, sort_keys=False, width=1000)


def prometheus_adapter_config(rules: Sequence[Mapping[str, Any]]) -> str:
    """The adapter's own configuration file (`--config`), with these external rules only."""
    return yaml.safe_dump({"externalRules": [dict(rule) for rule in rules]}, sort_keys=False,
                          width=1000)


def prometheus_adapter_config_map(rules: Sequence[Mapping[str, Any]], *, name: str,
                                  namespace: str, labels: Mapping[str, str] | None = None,
                                  key: str = "config.yaml") -> Manifest:
    """A ConfigMap with the adapter's configuration file, for an adapter deployed by hand that
    mounts it. It holds only these rules: add the adapter's other rules if it serves more."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, namespace, labels),
        "data": {key: prometheus_adapter_config(rules)},
    }


def autoscaler(target: ScaleTarget, settings: PoolAutoscaling,
               scope: MetricScope) -> list[Manifest]:
    """What a pool's construct emits: nothing when off, a ScaledObject (keda) or an HPA (hpa).
    The adapter rules of all HPA pools go out together (`prometheus_adapter_*`)."""
    if settings.mode == "keda":
        return [scaled_object(target, settings, scope)]
    if settings.mode == "hpa":
        return [horizontal_pod_autoscaler(target, settings)]
    return []
