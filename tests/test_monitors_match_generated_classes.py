"""The typed ServiceMonitor and PodMonitor wrappers write what the classes `cdk8s import`
generated from the prometheus-operator CRDs (imports/) write for the same settings.

The wrappers are used because they add no jsii assembly to every synth; this keeps them honest
against the CRD-derived classes, and shows imports/ works for apps that want the full API.
"""

from __future__ import annotations

import cdk8s

from constructs_lib import PodMonitor, PodMonitorProps, ServiceMonitor, ServiceMonitorProps
from imports.com.coreos import monitoring
from tests.support.builders import chart, synth

LABELS = {"app.kubernetes.io/name": "dynamo", "app.kubernetes.io/instance": "r1"}


def test_service_monitor_matches_the_generated_class() -> None:
    ours, theirs = chart(), chart()
    ServiceMonitor(ours, "monitor", ServiceMonitorProps(
        name="r1-dynamo", namespace="kube-system", service_namespace="ns", selector=LABELS,
        port="metrics", labels={"prometheus": "main"}, interval="30s", honor_labels=True))
    monitoring.ServiceMonitor(
        theirs, "monitor",
        metadata=cdk8s.ApiObjectMetadata(name="r1-dynamo", namespace="kube-system",
                                         labels={"prometheus": "main"}),
        spec=monitoring.ServiceMonitorSpec(
            selector=monitoring.ServiceMonitorSpecSelector(match_labels=LABELS),
            namespace_selector=monitoring.ServiceMonitorSpecNamespaceSelector(match_names=["ns"]),
            endpoints=[monitoring.ServiceMonitorSpecEndpoints(
                port="metrics", path="/metrics", interval="30s", honor_labels=True,
                relabelings=[])]))
    assert synth(ours) == synth(theirs)


def test_pod_monitor_matches_the_generated_class() -> None:
    ours, theirs = chart(), chart()
    PodMonitor(ours, "monitor", PodMonitorProps(
        name="r1-dynamo-workers", namespace="kube-system", pod_namespace="ns", selector=LABELS,
        components=["decode", "prefill"], port="system"))
    monitoring.PodMonitor(
        theirs, "monitor",
        metadata=cdk8s.ApiObjectMetadata(name="r1-dynamo-workers", namespace="kube-system"),
        spec=monitoring.PodMonitorSpec(
            selector=monitoring.PodMonitorSpecSelector(
                match_labels=LABELS,
                match_expressions=[monitoring.PodMonitorSpecSelectorMatchExpressions(
                    key="app.kubernetes.io/dynamo-component", operator="In",
                    values=["decode", "prefill"])]),
            namespace_selector=monitoring.PodMonitorSpecNamespaceSelector(match_names=["ns"]),
            pod_metrics_endpoints=[monitoring.PodMonitorSpecPodMetricsEndpoints(
                port="system", path="/metrics", interval="15s", honor_labels=False,
                relabelings=[])]))
    assert synth(ours) == synth(theirs)
