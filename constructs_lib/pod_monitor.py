"""PodMonitor: asks a Prometheus operator to scrape pods directly, for pods without a Service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from ._render.k8s import KubeObject, emit, metadata
from .model.monitoring import check_relabelings
from .rules.names import NamedObject
from .rules.subjects import RuleSubject, take_part


@dataclass(frozen=True, kw_only=True)
class PodMonitorProps:
    name: str
    """Name of the PodMonitor."""
    namespace: str
    """Where the PodMonitor lives: a namespace the Prometheus operator watches."""
    pod_namespace: str
    """Namespace of the pods to scrape."""
    selector: Mapping[str, str]
    """Labels every scraped pod carries."""
    components: Sequence[str] = ()
    """Values of `app.kubernetes.io/dynamo-component` to scrape. Default: any."""
    port: str
    """Name of the container port to scrape."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the PodMonitor itself (Prometheus may select by them). Default: none."""
    path: str = "/metrics"
    """HTTP path of the metrics. Default: /metrics."""
    interval: str = "15s"
    """How often Prometheus scrapes. Default: 15s."""
    honor_labels: bool = False
    """Keep the scraped metrics' labels when they clash with Prometheus' own. Default: false."""
    relabelings: Sequence[Mapping[str, Any]] = ()
    """Prometheus relabel configs applied before scraping. Default: none."""


class PodMonitor(Construct, RuleSubject):
    """A monitoring.coreos.com/v1 PodMonitor (a typed wrapper; see ServiceMonitor for why)."""

    def __init__(self, scope: Construct, id: str, props: PodMonitorProps) -> None:
        check_relabelings(props.relabelings)
        super().__init__(scope, id)
        selector: dict[str, Any] = {"matchLabels": dict(props.selector)}
        if props.components:
            selector["matchExpressions"] = [{"key": "app.kubernetes.io/dynamo-component",
                                             "operator": "In", "values": list(props.components)}]
        self.api_object: KubeObject = emit(self, "Resource", {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": metadata(props.name, props.namespace, props.labels),
            "spec": {
                "selector": selector,
                "namespaceSelector": {"matchNames": [props.pod_namespace]},
                "podMetricsEndpoints": [{
                    "port": props.port,
                    "path": props.path,
                    "interval": props.interval,
                    "honorLabels": props.honor_labels,
                    "relabelings": [dict(r) for r in props.relabelings],
                }],
            },
        })
        self.locator = take_part(self, self.problems, scope=scope, default_child=self.api_object)

    def named_objects(self) -> list[NamedObject]:
        obj = self.api_object
        return [NamedObject(obj.object_kind, obj.object_name, "name", obj.object_name,
                            self.locator)]
