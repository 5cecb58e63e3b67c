"""KubernetesDiscovery: what Dynamo 1.x's `kubernetes` discovery backend needs without NVIDIA's
operator, so that a deployment needs no etcd."""

from __future__ import annotations

from dataclasses import dataclass

from cdk8s import JsonPatch
from constructs import Construct

from ._render import discovery as _discovery
from ._render.k8s import KubeObject, emit
from .model.naming import MANAGED_BY, V1Names
from .rules.names import NamedObject
from .rules.subjects import RuleSubject, chart_of, take_part

COMPONENT = "discovery"


@dataclass(frozen=True, kw_only=True)
class KubernetesDiscoveryProps:
    release: str
    """The `app.kubernetes.io/instance` label of the worker pods the Service selects."""
    full_name: str
    """Prefix of the names: every object is `<full_name>-discovery`."""
    namespace: str | None = None
    """Namespace of the objects and of the pods that use them (a pod can only run as a
    ServiceAccount of its own namespace). Default: the chart's, or `default` when the chart has
    none (the RoleBinding must name the ServiceAccount's namespace)."""
    app_name: str = "dynamo"
    """The `app.kubernetes.io/name` label of the worker pods. Default: dynamo."""
    worker_port: int = 9090
    """The Service's port, which targets the workers' `system` container port. Headless, it
    routes nothing; it makes the EndpointSlices list the port. Default: 9090, the runtime's
    system port."""
    install_crd: bool = False
    """Emit the `dynamoworkermetadatas.nvidia.com` CustomResourceDefinition too. It is
    cluster-scoped: applying it needs cluster-admin, one copy serves every release of the
    cluster, and deleting these manifests deletes it with every DynamoWorkerMetadata of every
    namespace. Default: false (NVIDIA's CRD chart, or another release, installs it)."""

    def __post_init__(self) -> None:
        if not self.release:
            raise ValueError("release must name the worker pods' app.kubernetes.io/instance")
        if isinstance(self.worker_port, bool) or not 1 <= self.worker_port <= 65535:
            raise ValueError(f"worker_port must be a port from 1 to 65535, got "
                             f"{self.worker_port!r}")


class KubernetesDiscovery(Construct, RuleSubject):
    """The ServiceAccount (its default child) that the Dynamo 1.x pods of a release run as, a
    Role with exactly the calls the runtime makes (list and watch EndpointSlices; create, list,
    patch and watch DynamoWorkerMetadata), its RoleBinding, and a headless Service over the
    worker pods, whose EndpointSlices tell the frontend which workers are ready. With
    `install_crd`, the DynamoWorkerMetadata CRD as well.

    Give it to the FrontendDeployment and the worker pools as `kubernetes_discovery`, with
    `runtime.discovery` kubernetes: they then run as its ServiceAccount, with the token mounted,
    and the workers carry the label its Service selects.
    """

    def __init__(self, scope: Construct, id: str, props: KubernetesDiscoveryProps) -> None:
        super().__init__(scope, id)
        chart = chart_of(self, scope)
        self.release: str = props.release
        """The release whose worker pods the Service selects."""
        self.full_name: str = props.full_name
        """The prefix of the names."""
        self.namespace: str = props.namespace or chart.namespace or "default"
        """Namespace of the objects, and of the pods that may use them."""
        name = V1Names(props.full_name).discovery
        self.service_account_name: str = name
        """The ServiceAccount's name (the Role, RoleBinding and Service share it)."""
        labels = {"app.kubernetes.io/name": props.app_name,
                  "app.kubernetes.io/instance": props.release,
                  "app.kubernetes.io/dynamo-component": COMPONENT, **MANAGED_BY}
        self.worker_selector: dict[str, str] = {
            "app.kubernetes.io/name": props.app_name,
            "app.kubernetes.io/instance": props.release, **_discovery.DISCOVERY_LABELS}
        """The labels the Service selects worker pods by; a worker pool given this construct
        adds the discovery label to its pods."""
        self.service_account: KubeObject = emit(self, "ServiceAccount", _discovery.service_account(
            name, self.namespace, labels))
        """The ServiceAccount of the frontend and worker pods."""
        self.role: KubeObject = emit(self, "Role", _discovery.role(name, self.namespace, labels))
        """What the runtime may do in the namespace."""
        self.role_binding: KubeObject = emit(self, "RoleBinding", _discovery.role_binding(
            name, self.namespace, labels, name))
        """Grants the Role to the ServiceAccount."""
        self.service: KubeObject = emit(self, "Service", _discovery.service(
            name, self.namespace, labels, self.worker_selector, props.worker_port))
        """The headless Service whose EndpointSlices mark the ready workers."""
        self.custom_resource_definition: KubeObject | None = None
        """The DynamoWorkerMetadata CRD; None unless `install_crd`."""
        if props.install_crd:
            # No release labels: every release that installs it writes the same object.
            crd = emit(self, "CustomResourceDefinition",
                       _discovery.custom_resource_definition(MANAGED_BY))
            if chart.namespace:
                # cdk8s gives every object of a chart the chart's namespace; a CRD has none.
                crd.add_json_patch(JsonPatch.remove("/metadata/namespace"))
            self.custom_resource_definition = crd
        self.locator = take_part(self, self.problems, scope=scope,
                                 default_child=self.service_account)

    @property
    def cluster_prerequisites(self) -> list[str]:
        """What must exist in the cluster beyond what this construct emits."""
        needs = ["Whoever applies the manifests holds the Role's permissions (Kubernetes "
                 "refuses to grant what the granter lacks), on "
                 f"{_discovery.CRD_NAME} too.",
                 "Pods reach the Kubernetes API server (egress to it, when a NetworkPolicy "
                 "restricts egress in the namespace)."]
        if self.custom_resource_definition is None:
            needs.insert(0, f"The CustomResourceDefinition {_discovery.CRD_NAME} (kind "
                            f"{_discovery.KIND}, {_discovery.GROUP}/{_discovery.VERSION}, "
                            "namespaced), from NVIDIA's Dynamo CRD chart, or from "
                            "`install_discovery_crd: true` of one release of the cluster.")
        return needs

    def named_objects(self) -> list[NamedObject]:
        """Every object it emits: named after `full_name`, but the CRD, whose name is fixed
        (`install_crd` decides only that it is emitted)."""
        named = [NamedObject(o.object_kind, o.object_name, "full_name", self.full_name,
                             self.locator)
                 for o in (self.service_account, self.role, self.role_binding, self.service)]
        crd = self.custom_resource_definition
        if crd is not None:
            named.append(NamedObject(crd.object_kind, crd.object_name, "install_crd",
                                     crd.object_name, self.locator))
        return named
