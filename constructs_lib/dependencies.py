"""DependencyStack: the etcd and NATS that Dynamo needs, or the external ones it should use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from constructs import Construct

from ._render import etcd as _etcd
from ._render import nats as _nats
from ._render.dependency_pods import Clients
from ._render.k8s import emit
from .model.environment import EtcdSettings, NatsSettings
from .model.hardening import NetworkPolicySettings
from .model.naming import DependencyNames

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
    """Labels of the pods that may connect (the NetworkPolicies admit only them and the
    dependencies' own members). Default: `app.kubernetes.io/instance: <release>` and
    `app.kubernetes.io/name: dynamo`, the Dynamo pods of this release."""
    clients_use_host_network: bool = False
    """The clients run in the host network (TKE RDMA), where no pod selector matches them: the
    client ports then admit `network_policy.allowed_cidrs`, or every source when it is empty.
    Default: false."""
    network_policy: NetworkPolicySettings = NetworkPolicySettings()
    """Default: NetworkPolicies on, no extra sources."""

    def __post_init__(self) -> None:
        if not self.etcd.enabled and not self.etcd.endpoints_override:
            raise ValueError("etcd is disabled but no endpoints_override says which etcd to use")
        if not self.nats.enabled and not self.nats.server_override:
            raise ValueError("nats is disabled but no server_override says which NATS to use")
        if self.etcd.tls is not None and (not self.etcd.enabled or self.etcd.endpoints_override):
            raise ValueError("etcd.tls applies to the stack's own etcd, but etcd is disabled or "
                             "replaced by endpoints_override")


class DependencyStack(Construct):
    """etcd (service discovery, leases) and NATS with JetStream (the prefill queue and events).

    Either may be replaced by an external endpoint. `etcd_endpoints` and `nats_url` are what
    the Dynamo pods receive as ETCD_ENDPOINTS and NATS_SERVER; with `etcd.tls`, etcd speaks
    https with client certificates only, and `etcd_client_tls_secret` names the Secret of the
    certificate the pods present.
    """

    def __init__(self, scope: Construct, id: str, props: DependencyStackProps) -> None:
        super().__init__(scope, id)
        self.props = props
        names = DependencyNames(props.release)
        self.etcd_service_name = names.etcd
        self.nats_service_name = names.nats

        clients = Clients(
            pod_labels=self.client_pod_labels,
            host_network=props.clients_use_host_network,
            allowed_cidrs=tuple(props.network_policy.allowed_cidrs),
            network_policy=props.network_policy.enabled,
        )
        if props.etcd.enabled:
            for index, manifest in enumerate(
                    _etcd.manifests(props.release, props.namespace, props.etcd, clients)):
                emit(self, f"etcd-{index}", manifest)
        if props.nats.enabled:
            for index, manifest in enumerate(
                    _nats.manifests(props.release, props.namespace, props.nats, clients)):
                emit(self, f"nats-{index}", manifest)

    @property
    def client_pod_labels(self) -> dict[str, str]:
        if self.props.client_pod_labels is not None:
            return dict(self.props.client_pod_labels)
        return {"app.kubernetes.io/instance": self.props.release,
                "app.kubernetes.io/name": "dynamo"}

    @property
    def etcd_tls(self) -> bool:
        """The Dynamo pods reach an etcd of this stack that asks for client certificates."""
        return self.props.etcd.tls is not None

    @property
    def etcd_client_tls_secret(self) -> str | None:
        """The Secret (ca.crt, tls.crt, tls.key) of the certificate the Dynamo pods present to
        etcd; None when etcd speaks plain HTTP."""
        tls = self.props.etcd.tls
        return tls.client_secret if tls is not None else None

    @property
    def etcd_endpoints(self) -> str:
        """`host:port` of etcd's client Service, the form Dynamo v0.1 reads; with TLS,
        `https://host:port`, which only Dynamo 1.x reads."""
        if self.props.etcd.endpoints_override:
            return self.props.etcd.endpoints_override
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
        if self.props.nats.server_override:
            return self.props.nats.server_override
        return f"nats://{self.nats_service_name}:{NATS_CLIENT_PORT}"
