"""DynamoGraphChart: one Dynamo 1.x environment as a DynamoGraphDeployment for NVIDIA's
operator, built from the chart the same environment composes as plain manifests."""

from __future__ import annotations

import dataclasses

from cdk8s import App, Chart
from constructs import Construct

from . import placement
from ._render import v1 as _v1
from ._render.dynamo_graph import image_has_version
from .chart import DynamoChart
from .dashboard import GrafanaDashboard, GrafanaDashboardProps
from .dynamo_graph import DynamoGraphDeployment, props_from_chart
from .frontend import FrontendDeployment
from .model import AnyEnvironment
from .model.dynamo_graph import Output
from .model.dynamo_v1 import EnvironmentV1
from .network_policy import DynamoNetworkPolicy, of_environment
from .rules import Finding, RuleViolations


class DynamoGraphChart(Chart):
    """The DynamoGraphDeployment of a Dynamo 1.x environment (and the NetworkPolicy of its
    pods): what `output: dynamo-graph` synthesizes. etcd, NATS, the Services, disruption
    budgets and monitors of the plain manifests are not written; the operator provides
    discovery, the frontend's Service and its own PodMonitors. An autoscaled pool's ScaledObject
    or HPA (and its prometheus-adapter rule) is, aimed at its component's scaling adapter, and
    so is the Grafana dashboard, reading the operator's Dynamo namespace.

    The environment is composed as a DynamoChart first, in an App of its own that is never
    synthesized: its rules run as for plain manifests, and the graph's pod templates are that
    chart's. Raises RuleViolations, naming the file's fields, when a rule is broken.
    """

    def __init__(self, scope: Construct, id: str, environment: EnvironmentV1, *,
                 check_rules: bool = True) -> None:
        """`check_rules`: as for DynamoChart."""
        super().__init__(scope, id, namespace=environment.namespace,
                         disable_resource_name_hashes=True)
        self.environment = environment
        """The environment this chart was composed from."""
        self.manifests = DynamoChart(App(), id, environment, check_rules=check_rules)
        """The plain-manifest chart of the same environment (never synthesized): the graph's
        pods, rules and placement plan are its."""
        found = self._findings()
        if check_rules and found:
            raise RuleViolations(found)
        settings = environment.dynamo_graph
        self.graph = DynamoGraphDeployment(self, "Graph", props_from_chart(
            self.manifests, runtime_version=settings.runtime_version,
            scaling_adapters=tuple(settings.scaling_adapters)))
        """The DynamoGraphDeployment."""
        self.dashboard: GrafanaDashboard | None = None
        """The Grafana dashboard, when the file asks for it."""
        dashboard = environment.monitoring.dashboard
        frontend = self.manifests.frontend
        if dashboard.enabled and isinstance(frontend, FrontendDeployment):
            self.dashboard = GrafanaDashboard(self, "Dashboard", GrafanaDashboardProps(
                frontend=frontend, namespace=dashboard.namespace, labels=dashboard.labels,
                folder=dashboard.folder, title=dashboard.title,
                disaggregated=environment.disaggregated,
                dynamo_namespace=f"{environment.namespace}-{self.graph.name}"))
        self.network_policy: DynamoNetworkPolicy | None = of_environment(
            self, environment, [_v1.HTTP_PORT_NAME, _v1.SYSTEM_PORT_NAME])
        """What may connect to the graph's pods (they carry the plain manifests' labels),
        unless the file turns NetworkPolicies off. The workers' system port is open too: the
        operator's PodMonitors scrape it."""

    def _findings(self) -> list[Finding]:
        environment = self.environment
        found = []
        image = environment.image.reference
        if environment.dynamo_graph.runtime_version is None and not image_has_version(image):
            found.append(Finding("dynamo_graph.runtime_version", (
                f"not given, and the tag of the image {image} is no semantic version, which "
                "NVIDIA's operator reads the Dynamo runtime version from; give the image's "
                "Dynamo version, e.g. 1.6.1")))
        components = {"frontend", "decode", *(["prefill"] if environment.prefill else [])}
        for name in environment.dynamo_graph.scaling_adapters:
            if name not in components:
                found.append(Finding("dynamo_graph.scaling_adapters", (
                    f"{name}: the graph has no such component (it has: "
                    f"{', '.join(sorted(components))})")))
        return found

    def problems(self) -> list[Finding]:
        """The findings of the plain-manifest chart, then the graph's own."""
        return [*self.manifests.problems(), *self._findings()]

    def warnings(self) -> list[Finding]:
        """The plain-manifest chart's warnings, and the settings a graph does not use."""
        environment = self.environment
        found = list(self.manifests.warnings())
        if environment.runtime.dynamo_namespace:
            found.append(Finding("runtime.dynamo_namespace", (
                f"{environment.runtime.dynamo_namespace} is not used by a "
                f"DynamoGraphDeployment: the operator sets DYN_NAMESPACE to "
                f"<namespace>-<name>, here {environment.namespace}-{environment.full_name}")))
        if environment.monitoring.service_monitor.enabled:
            found.append(Finding("monitoring.service_monitor.enabled", (
                "true, but a DynamoGraphDeployment is written without the ServiceMonitor and "
                "PodMonitor: the operator's Helm chart installs PodMonitors for its pods")))
        return found

    def plan(self) -> placement.Plan:
        """Where every pod would run: the plain-manifest chart's plan (the same pods), without
        etcd and NATS."""
        plan = self.manifests.plan()
        stack = self.manifests.dependencies
        dependencies = [f"{cluster.stateful_set.object_name}-"
                        for cluster in (stack.etcd, stack.nats) if cluster is not None]
        return dataclasses.replace(plan, other_pods=tuple(
            pod for pod in plan.other_pods if not pod.startswith(tuple(dependencies))))


def compose_chart(scope: Construct, id: str, environment: AnyEnvironment,
                  output: Output | None = None) -> DynamoChart | DynamoGraphChart:
    """The chart an environment synthesizes: a DynamoChart of plain manifests, or with
    `output` dynamo-graph (the file's `output` when none is given) a DynamoGraphChart.

    Raises RuleViolations for a Dynamo v0.1 environment asked for as a graph."""
    wanted = output or getattr(environment, "output", "manifests")
    if wanted == "manifests":
        return DynamoChart(scope, id, environment)
    if not isinstance(environment, EnvironmentV1):
        raise RuleViolations([Finding("dynamo", (
            f"{environment.dynamo.value}: a DynamoGraphDeployment runs Dynamo 1.x, which NVIDIA's "
            "operator deploys; synthesize this file as manifests, or translate it with "
            "`python -m constructs_lib upgrade`"))])
    return DynamoGraphChart(scope, id, environment)
