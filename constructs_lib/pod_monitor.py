"""PodMonitor: asks a Prometheus operator to scrape pods directly, for pods without a Service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from cdk8s import ApiObject
from constructs import Construct

from ._k8s import emit, metadata


@dataclass(frozen=True, kw_only=True)
class PodMonitorProps:
    name: str
    namespace: str
    """Where the PodMonitor lives: a namespace the Prometheus operator watches."""
    pod_namespace: str
    selector: Mapping[str, str]
    """Labels every scraped pod carries."""
    components: Sequence[str] = ()
    """Values of `app.kubernetes.io/dynamo-component` to scrape. Default: any."""
    port: str
    labels: Mapping[str, str] = field(default_factory=dict)
    path: str = "/metrics"
    interval: str = "15s"
    honor_labels: bool = False
    relabelings: Sequence[Mapping[str, Any]] = ()


class PodMonitor(Construct):
    """A monitoring.coreos.com/v1 PodMonitor (a typed wrapper; see ServiceMonitor for why)."""

    def __init__(self, scope: Construct, id: str, props: PodMonitorProps) -> None:
        super().__init__(scope, id)
        selector: dict[str, Any] = {"matchLabels": dict(props.selector)}
        if props.components:
            selector["matchExpressions"] = [{"key": "app.kubernetes.io/dynamo-component",
                                             "operator": "In", "values": list(props.components)}]
        self.api_object: ApiObject = emit(self, "Resource", {
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
