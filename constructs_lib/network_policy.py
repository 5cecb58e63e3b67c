"""DynamoNetworkPolicy: what may connect to the Dynamo pods of a release."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constructs import Construct

from ._render.k8s import KubeObject, emit, metadata
from .model.naming import MANAGED_BY
from .rules.names import NamedObject
from .rules.subjects import RuleSubject, take_part

if TYPE_CHECKING:
    from .model.environment import EnvironmentBase


@dataclass(frozen=True, kw_only=True)
class DynamoNetworkPolicyProps:
    release: str
    """The `app.kubernetes.io/instance` label of the pods."""
    name: str
    """The NetworkPolicy's name, e.g. the release's full name."""
    namespace: str | None = None
    """Default: the chart's namespace."""
    app_name: str = "dynamo"
    """The `app.kubernetes.io/name` label of the pods. Default: dynamo."""
    public_ports: Sequence[int | str] = field(default_factory=tuple)
    """Ports any source may reach: the OpenAI API, the metrics port. Default: none."""

    def __post_init__(self) -> None:
        if not self.release:
            raise ValueError("release must name the pods' app.kubernetes.io/instance")


class DynamoNetworkPolicy(Construct, RuleSubject):
    """One NetworkPolicy for every Dynamo pod of a release: the public ports are open to all,
    every other port only to the release's own Dynamo pods. The components reach each other on
    ports chosen at run time (response streams, NIXL and UCX side channels), so no narrower rule
    between them would hold.

    Pods in the host network are outside any NetworkPolicy; with TKE's host-network RDMA this
    policy has no effect on them.
    """

    def __init__(self, scope: Construct, id: str, props: DynamoNetworkPolicyProps) -> None:
        super().__init__(scope, id)
        self.props = props
        selector = {"app.kubernetes.io/name": props.app_name,
                    "app.kubernetes.io/instance": props.release}
        ingress: list[dict[str, object]] = [{"from": [{"podSelector": {"matchLabels": selector}}]}]
        if props.public_ports:
            ingress.append({"ports": [{"port": port, "protocol": "TCP"}
                                      for port in props.public_ports]})
        self.policy: KubeObject = emit(self, "NetworkPolicy", {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(props.name, props.namespace, {**selector, **MANAGED_BY}),
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        })
        self.locator = take_part(self, self.problems, scope=scope, default_child=self.policy)

    def named_objects(self) -> list[NamedObject]:
        obj = self.policy
        return [NamedObject(obj.object_kind, obj.object_name, "name", obj.object_name,
                            self.locator)]


def of_environment(scope: Construct, environment: EnvironmentBase,
                   public_ports: Sequence[int | str]) -> DynamoNetworkPolicy | None:
    """The `NetworkPolicy` of an environment's Dynamo pods, unless the file turns
    NetworkPolicies off."""
    if not environment.network_policy.enabled:
        return None
    return DynamoNetworkPolicy(scope, "NetworkPolicy", DynamoNetworkPolicyProps(
        release=environment.release, name=environment.full_name,
        namespace=environment.namespace, app_name=environment.name,
        public_ports=public_ports))
