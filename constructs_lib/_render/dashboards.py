"""A Grafana dashboard of one Dynamo 1.x deployment, generated from the metric catalogue.

Traffic, latency percentiles (time to first token, inter-token, end to end), queue depth per
stage of the frontend's pipeline, KV cache usage, workers per role and the prefill/decode
balance. Every query comes from metrics.py, so every series it reads is one the end-to-end test
found on the pinned runtime. The dashboard picks its Prometheus data source from a `datasource`
variable, and ships as a ConfigMap in the format of Grafana's dashboard sidecar (the
kube-prometheus-stack and Grafana Helm charts: a label, by default `grafana_dashboard: "1"`,
and one `<name>.json` key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import metrics
from .k8s import Manifest, metadata
from .metrics import MetricScope, Query, Role

RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
QUANTILES = (0.5, 0.95, 0.99)
SCHEMA_VERSION = 39
DEFAULT_SIDECAR_LABELS: Mapping[str, str] = {"grafana_dashboard": "1"}


@dataclass
class _Layout:
    """Places panels left to right in rows of GRID_WIDTH and numbers them from 1."""

    panels: list[dict[str, Any]] = field(default_factory=list)
    x: int = 0
    y: int = 0
    row_height: int = 0

    def _next_id(self) -> int:
        return len(self.panels) + 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"id": self._next_id(), "type": "row", "title": title,
                            "collapsed": False, "panels": [],
                            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self.y}})
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_height
            self.x, self.row_height = 0, 0

    def add(self, panel: dict[str, Any], width: int, height: int = 8) -> None:
        if self.x + width > GRID_WIDTH:
            self._newline()
        panel["id"] = self._next_id()
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)


def _targets(queries: Sequence[Query]) -> list[dict[str, Any]]:
    return [{"refId": chr(ord("A") + index), "datasource": DATASOURCE, "expr": query.expr,
             "legendFormat": query.legend, "range": True}
            for index, query in enumerate(queries)]


def _timeseries(title: str, description: str, queries: Sequence[Query],
                unit: str | None = None, maximum: float | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit or queries[0].unit, "min": 0,
                                "custom": {"drawStyle": "line", "lineWidth": 1,
                                           "fillOpacity": 10, "showPoints": "never"}}
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": _targets(queries),
    }


def _stat(title: str, description: str, queries: Sequence[Query]) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": queries[0].unit, "decimals": 0}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "none", "textMode": "value_and_name",
                    "orientation": "horizontal"},
        "targets": [dict(target, range=False, instant=True) for target in _targets(queries)],
    }


def _percentiles(metric: metrics.Metric, scope: MetricScope) -> list[Query]:
    return [metrics.quantile(metric, scope, q, RATE) for q in QUANTILES]


def default_uid(scope: MetricScope, title: str) -> str:
    digest = hashlib.sha256(f"{scope.namespace}/{scope.model}/{title}".encode()).hexdigest()
    return f"dynamo-{digest[:16]}"


def dashboard(title: str, scope: MetricScope, *, uid: str | None = None,
              kv_router: bool = True, refresh: str = "30s",
              time_from: str = "now-6h") -> dict[str, Any]:
    """The dashboard of the deployment `scope` describes.

    `kv_router`: the frontend routes with the KV router, so the KV cache panels have data (the
    router exports them; other router modes do not). `uid` defaults to a digest of the
    namespace, model and title, stable across regenerations.
    """
    roles: tuple[Role, ...] = ("prefill", "decode") if scope.disaggregated else ("decode",)
    layout = _Layout()

    layout.row("Traffic")
    layout.add(_timeseries("Request rate", "Requests the frontend finished per second, by "
                           "status.", [metrics.request_rate(scope, RATE)]), 8)
    layout.add(_timeseries("Output tokens per second", "Tokens generated per second.",
                           [metrics.output_token_rate(scope, RATE)]), 8)
    layout.add(_timeseries("Requests in flight", "Requests in flight to the engines, and those "
                           "still waiting for their first token.",
                           [metrics.inflight_requests(scope), metrics.queued_requests(scope)]), 8)

    layout.row("Latency")
    layout.add(_timeseries("Time to first token", "p50, p95 and p99 as the client sees them: "
                           "queueing, prefill and KV transfer.",
                           _percentiles(metrics.TIME_TO_FIRST_TOKEN, scope)), 8)
    layout.add(_timeseries("Inter-token latency", "p50, p95 and p99 time between two streamed "
                           "tokens: the decode workers' step time.",
                           _percentiles(metrics.INTER_TOKEN_LATENCY, scope)), 8)
    layout.add(_timeseries("Request duration", "p50, p95 and p99 end-to-end duration.",
                           _percentiles(metrics.REQUEST_DURATION, scope)), 8)

    layout.row("Queues")
    layout.add(_timeseries("Queue depth per stage", "Requests in each stage of the frontend's "
                           "pipeline: preprocess, route, dispatch (sent to a worker, no answer "
                           "yet), by phase.", [metrics.stage_depths(scope)]), 12)
    layout.add(_timeseries("Dispatch queue per role", "Requests sent to each role's workers "
                           "that have not answered yet (the prefill autoscaling signal).",
                           [metrics.dispatch_queue(scope, role) for role in roles]), 12)

    if kv_router:
        layout.row("KV cache (KV router's view)")
        layout.add(_timeseries("KV cache usage", "Average fraction of the decode workers' KV "
                               "cache held by the sequences routed to them.",
                               [metrics.kv_cache_usage(scope)], maximum=1), 8)
        layout.add(_timeseries("KV cache usage per decode worker", "Per worker and "
                               "data-parallel rank.", [metrics.kv_cache_usage_per_worker(scope)],
                               maximum=1), 8)
        layout.add(_timeseries("Prompt tokens queued per prefill worker", "Prompt tokens "
                               "routed to each worker and not yet prefilled.",
                               [metrics.active_prefill_tokens(scope)]), 8)

    layout.row("Workers")
    counts = [metrics.worker_count(scope, role) for role in roles]
    layout.add(_stat("Workers per role", "Worker pods Prometheus scrapes now.", counts), 6)
    layout.add(_timeseries("Workers per role over time", "Worker pods Prometheus scrapes.",
                           counts), 6)
    layout.add(_timeseries("Prefill/decode balance", "Requests in flight per worker of each "
                           "role: the role that is busier per worker is the one short of pods.",
                           [metrics.inflight_per_worker(scope, role) for role in roles]), 12)
    layout.add(_timeseries("Worker request rate", "Requests each role's workers handle per "
                           "second.", [metrics.worker_request_rate(scope, role, RATE)
                                       for role in roles]), 12)
    layout.add(_timeseries("Worker request duration p95", "How long a worker of each role "
                           "takes per request.",
                           [metrics.worker_duration_quantile(scope, role, 0.95, RATE)
                            for role in roles]), 12)

    return {
        "uid": uid or default_uid(scope, title),
        "title": title,
        "description": f"Dynamo 1.x serving {scope.model} in namespace {scope.namespace} "
                       "(generated by dynamo-cdk8s).",
        "tags": ["dynamo", "llm-inference"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [{
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "options": [],
            "regex": "",
        }]},
        "panels": layout.panels,
    }


def targets(board: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(panel, target) for every query of a dashboard."""
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def dashboard_config_map(board: Mapping[str, Any], *, name: str, namespace: str,
                         labels: Mapping[str, str] | None = None,
                         folder: str | None = None,
                         folder_annotation: str = "grafana_folder") -> Manifest:
    """The dashboard as a ConfigMap Grafana's sidecar loads: `labels` must include the label
    the sidecar watches (default `grafana_dashboard: "1"`), and the ConfigMap must be in a
    namespace it watches. `folder` sets the sidecar's folder annotation when given."""
    annotations = {folder_annotation: folder} if folder else None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, namespace,
                             dict(DEFAULT_SIDECAR_LABELS if labels is None else labels),
                             annotations),
        "data": {f"{name}.json": json.dumps(board, indent=2, sort_keys=True) + "\n"},
    }
