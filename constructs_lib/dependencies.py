"""DependencyStack: the etcd and NATS that Dynamo needs, or the external ones it should use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from constructs import Construct

from ._render import etcd as _etcd
from ._render import nats as _nats
from ._render.dependency_pods import Clients
from ._render.k8s import KubeObject, Manifest, emit
from .model.environment import EtcdSettings, NatsSettings
from .model.hardening import NetworkPolicySettings
from .model.naming import DependencyNames
from .rules import Finding, Stage, tagged
from .rules import dependencies as _rules
from .rules.names import NamedObject
from .rules.subjects import RuleSubject, chart_of, take_part

if TYPE_CHECKING:
    from .workload import DynamoWorkload

ETCD_CLIENT_PORT = 2379
NATS_CLIENT_PORT = 4222


@dataclass(frozen=True, kw_only=True)
class DependencyStackProps:
    release: str
    """Prefix of the resource names (`<release>-etcd`, `<release>-nats`), as the seed's
    subcharts name them."""
    namespace: str
    """Namespace of the etcd and NATS objects (their Service addresses include it)."""
    etcd: EtcdSettings = EtcdSettings()
    """Default: one etcd member with 20Gi of storage."""
    nats: NatsSettings = NatsSettings()
    """Default: one NATS server with JetStream on a 10Gi volume."""
    client_pod_labels: Mapping[str, str] | None = None
    """Labels of the pods that may connect (the NetworkPolicies admit them, the dependencies'
    own members, and every workload given this stack as its `dependencies`). Default:
    `app.kubernetes.io/instance: <release>` and `app.kubernetes.io/name: dynamo`, the Dynamo
    pods of this release."""
    clients_use_host_network: bool = False
    """The clients run in the host network (TKE RDMA), where no pod selector matches them: the
    client ports then admit `network_policy.allowed_cidrs`, or every source when it is empty.
    A workload in the host network that is given this stack as its `dependencies` sets this
    itself. Default: false."""
    network_policy: NetworkPolicySettings = NetworkPolicySettings()
    """Default: NetworkPolicies on, no extra sources."""


class DependencyCluster(Construct):
    """etcd's or NATS's objects: its StatefulSet (the default child), the client and headless
    Services, and when called for its NetworkPolicy, PodDisruptionBudget and configuration."""

    def __init__(self, scope: Construct, id: str, manifests: dict[str, Manifest]) -> None:
        super().__init__(scope, id)
        objects = {role: emit(self, role, manifest) for role, manifest in manifests.items()}
        self.objects: tuple[KubeObject, ...] = tuple(objects.values())
        """Every object of the cluster, in the order they were created."""
        self.stateful_set: KubeObject = objects["StatefulSet"]
        """The StatefulSet of the members."""
        self.service: KubeObject = objects["Service"]
        """The client Service, the address the Dynamo pods receive."""
        self.headless_service: KubeObject = objects["HeadlessService"]
        """The headless Service that gives each member a DNS name."""
        self.network_policy: KubeObject | None = objects.get("NetworkPolicy")
        """Who may connect; None when NetworkPolicies are off."""
        self.disruption_budget: KubeObject | None = objects.get("DisruptionBudget")
        """One member at a time; None with a single member."""
        self.config_map: KubeObject | None = objects.get("Config")
        """NATS's configuration file; None for etcd."""
        self.node.default_child = self.stateful_set


class DependencyStack(Construct, RuleSubject):
    """etcd (service discovery, leases) and NATS with JetStream (the v0.1 prefill queue and
    events; optional for Dynamo 1.x).

    Either may be replaced by an external endpoint. `etcd_endpoints` and `nats_url` are what
    the Dynamo pods receive as ETCD_ENDPOINTS and NATS_SERVER; with `etcd.tls`, etcd speaks
    https with client certificates only, and `etcd_client_tls_secret` names the Secret of the
    certificate the pods present. Give the stack to a workload as its `dependencies` and the
    stack's NetworkPolicies admit that workload's pods, in the host network too.
    """

    def __init__(self, scope: Construct, id: str, props: DependencyStackProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self.release = props.release
        """The release whose etcd and NATS these are."""
        self.namespace = props.namespace
        """Namespace of the etcd and NATS objects."""
        names = DependencyNames(props.release)
        self.etcd_service_name = names.etcd
        """Name of etcd's client Service (when the stack deploys etcd)."""
        self.nats_service_name = names.nats
        """Name of NATS's client Service (when the stack deploys NATS)."""
        self._admitted: list[Mapping[str, str]] = [self.client_pod_labels]
        self._host_network_clients = props.clients_use_host_network
        self._clients: list[DynamoWorkload] = []
        clients = self._client_rules()
        self.etcd: DependencyCluster | None = None
        """etcd's objects; None when an external etcd is used."""
        self.nats: DependencyCluster | None = None
        """NATS's objects; None when an external NATS is used or none is deployed."""
        if props.etcd.enabled:
            self.etcd = DependencyCluster(self, "Etcd", _etcd.manifests(
                props.release, props.namespace, props.etcd, clients))
        if props.nats.enabled:
            self.nats = DependencyCluster(self, "Nats", _nats.manifests(
                props.release, props.namespace, props.nats, clients))
        self._chart = chart_of(self, scope)
        self.locator = take_part(self, self.problems)

    @property
    def client_pod_labels(self) -> dict[str, str]:
        """The labels the NetworkPolicies admit besides the workloads given this stack."""
        if self._props.client_pod_labels is not None:
            return dict(self._props.client_pod_labels)
        return {"app.kubernetes.io/instance": self._props.release,
                "app.kubernetes.io/name": "dynamo"}

    @property
    def etcd_settings(self) -> EtcdSettings:
        """etcd as configured (deployed or replaced by `endpoints_override`)."""
        return self._props.etcd

    @property
    def nats_settings(self) -> NatsSettings:
        """NATS as configured (deployed, replaced by `server_override`, or off)."""
        return self._props.nats

    @property
    def etcd_tls(self) -> bool:
        """The Dynamo pods reach an etcd of this stack that asks for client certificates."""
        return self._props.etcd.tls is not None

    @property
    def etcd_client_tls_secret(self) -> str | None:
        """The Secret (ca.crt, tls.crt, tls.key) of the certificate the Dynamo pods present to
        etcd; None when etcd speaks plain HTTP."""
        tls = self._props.etcd.tls
        return tls.client_secret if tls is not None else None

    @property
    def etcd_tls_dns_names(self) -> tuple[str, ...]:
        """With TLS, every name etcd's server certificate must carry; empty otherwise."""
        etcd = self._props.etcd
        if etcd.tls is None or not etcd.enabled:
            return ()
        return DependencyNames(self.release).etcd_server_dns_names(self.namespace, etcd.replicas)

    @property
    def etcd_endpoints(self) -> str:
        """`host:port` of etcd's client Service, the form Dynamo v0.1 reads; with TLS,
        `https://host:port`, which only Dynamo 1.x reads; the override when one is given."""
        if self._props.etcd.endpoints_override:
            return self._props.etcd.endpoints_override
        scheme = "https://" if self.etcd_tls else ""
        return f"{scheme}{self.etcd_service_name}:{ETCD_CLIENT_PORT}"

    @property
    def etcd_url(self) -> str:
        """etcd's client endpoints with their scheme, the form Dynamo 1.x reads."""
        return ",".join(
            e if "://" in e else f"http://{e}" for e in self.etcd_endpoints.split(",")
        )

    @property
    def nats_url(self) -> str:
        """`nats://host:port` of the NATS client Service (or the external server)."""
        if self._props.nats.server_override:
            return self._props.nats.server_override
        return f"nats://{self.nats_service_name}:{NATS_CLIENT_PORT}"

    @property
    def has_nats(self) -> bool:
        """The stack deploys NATS or names an external one."""
        nats = self._props.nats
        return nats.enabled or bool(nats.server_override)

    @property
    def clients(self) -> Sequence[DynamoWorkload]:
        """The workloads that were given this stack as their `dependencies`."""
        return tuple(self._clients)

    def admit(self, client: DynamoWorkload) -> None:
        """Let `client`'s pods through the NetworkPolicies of etcd and NATS (a workload given
        this stack as its `dependencies` calls this itself)."""
        self._clients.append(client)
        labels = client.pod_labels
        changed = False
        if not any(_selects(selector, labels) for selector in self._admitted):
            self._admitted.append(dict(client.selector_labels))
            changed = True
        if client.host_network and not self._host_network_clients:
            self._host_network_clients = True
            changed = True
        if changed:
            self._update_network_policies()

    def admits(self, client: DynamoWorkload) -> bool:
        """Whether the NetworkPolicies let `client`'s pods reach etcd's and NATS's client
        ports (always true when there are no NetworkPolicies)."""
        if not self._props.network_policy.enabled:
            return True
        if client.host_network:
            return self._host_network_clients
        return any(_selects(selector, client.pod_labels) for selector in self._admitted)

    def findings(self) -> list[Finding]:
        return [*tagged(_rules.dependencies_are_reachable, Stage.SETTING,
                        _rules.dependencies_are_reachable(self, self._chart)),
                *tagged(_rules.etcd_tls_applies_to_the_own_etcd, Stage.SETTING,
                        _rules.etcd_tls_applies_to_the_own_etcd(self)),
                *tagged(_rules.clients_are_admitted, Stage.SETTING,
                        _rules.clients_are_admitted(self, self._chart))]

    def named_objects(self) -> list[NamedObject]:
        """Every object of the stack, named after `release`: the Services, StatefulSets and
        configuration first, then the policies and budgets."""
        clusters = [c for c in (self.etcd, self.nats) if c is not None]
        first = [o for c in clusters for o in (c.service, c.headless_service, c.stateful_set,
                                                 c.config_map) if o is not None]
        then = [o for c in clusters for o in (c.network_policy, c.disruption_budget)
                if o is not None]
        return [NamedObject(o.object_kind, o.object_name, "release", self.release,
                            self.locator, dependency=True) for o in (*first, *then)]

    def _client_rules(self) -> Clients:
        policy = self._props.network_policy
        return Clients(pod_selectors=tuple(self._admitted),
                       host_network=self._host_network_clients,
                       allowed_cidrs=tuple(policy.allowed_cidrs),
                       network_policy=policy.enabled)

    def _update_network_policies(self) -> None:
        clients = self._client_rules()
        props = self._props
        updated = {
            "etcd": _etcd.network_policy(props.release, props.namespace, clients),
            "nats": _nats.network_policy(props.release, props.namespace, props.nats, clients),
        }
        for name, cluster in (("etcd", self.etcd), ("nats", self.nats)):
            manifest = updated[name]
            if cluster is not None and cluster.network_policy is not None and manifest:
                cluster.network_policy.patch(("spec", "ingress"), manifest["spec"]["ingress"])


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


