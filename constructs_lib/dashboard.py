"""GrafanaDashboard: a Grafana dashboard of one Dynamo 1.x deployment, as a ConfigMap that
Grafana's dashboard sidecar loads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from ._render import dashboards as _dashboards
from ._render.k8s import KubeObject, emit
from ._render.metrics import MetricScope
from .rules.names import NamedObject
from .rules.subjects import RuleSubject, take_part

if TYPE_CHECKING:
    from .frontend import FrontendDeployment


@dataclass(frozen=True, kw_only=True)
class GrafanaDashboardProps:
    frontend: FrontendDeployment
    """The frontend of the deployment to show: its namespace, Dynamo namespace, served model
    and router scope every query."""
    name: str | None = None
    """The ConfigMap's name (its data key is `<name>.json`). Default: the frontend's full name
    and `-dashboard`."""
    namespace: str = "monitoring"
    """A namespace the Grafana sidecar watches. Default: monitoring."""
    labels: Mapping[str, str] = field(default_factory=lambda: dict(
        _dashboards.DEFAULT_SIDECAR_LABELS))
    """The label the sidecar loads ConfigMaps by. Default: grafana_dashboard: "1"."""
    folder: str | None = None
    """The Grafana folder (the `grafana_folder` annotation). Default: none."""
    title: str | None = None
    """Default: `Dynamo <full name>`."""
    disaggregated: bool | None = None
    """Show prefill and decode apart. Default: whether a PrefillWorkerPool of the frontend's
    Dynamo namespace is in the chart when the dashboard is created."""
    dynamo_namespace: str | None = None
    """The workers' Dynamo namespace, which their series are labelled with. Default: the
    frontend's (NVIDIA's operator sets its own, `<namespace>-<graph name>`)."""


class GrafanaDashboard(Construct, RuleSubject):
    """A Grafana dashboard of a Dynamo 1.x deployment (traffic, latency percentiles, queue
    depth per stage, KV cache usage with the KV router, workers per role and the
    prefill/decode balance), generated from the metric catalogue that the end-to-end test
    checks against the pinned runtime's `/metrics`, in a ConfigMap labelled for Grafana's
    dashboard sidecar. Prometheus must scrape the frontend and the workers (their
    ServiceMonitor and PodMonitor)."""

    config_map: KubeObject
    """The ConfigMap."""
    dashboard: dict[str, Any]
    """The dashboard's JSON model."""

    def __init__(self, scope: Construct, id: str, props: GrafanaDashboardProps) -> None:
        super().__init__(scope, id)
        frontend = props.frontend
        disaggregated = props.disaggregated
        if disaggregated is None:
            from .rules.v1 import deployment_of

            disaggregated = bool(deployment_of(frontend).prefill)
        metric_scope = MetricScope(
            namespace=frontend.namespace or frontend.chart.namespace or "default",
            dynamo_namespace=props.dynamo_namespace or frontend.dynamo_namespace,
            model=frontend.served_model_name,
            disaggregated=disaggregated)
        self.dashboard = _dashboards.dashboard(
            props.title or f"Dynamo {frontend.full_name}", metric_scope,
            kv_router=frontend.router.mode == "kv")
        name = props.name or f"{frontend.full_name}-dashboard"
        self.config_map = emit(self, "ConfigMap", _dashboards.dashboard_config_map(
            self.dashboard, name=name, namespace=props.namespace, labels=props.labels,
            folder=props.folder))
        self.locator = take_part(self, self.problems, scope=scope, default_child=self.config_map)

    def named_objects(self) -> list[NamedObject]:
        obj = self.config_map
        return [NamedObject(obj.object_kind, obj.object_name, "name", obj.object_name,
                            self.locator)]
