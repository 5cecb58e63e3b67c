"""DependencyStack: the etcd and NATS that Dynamo needs, or the external ones it should use."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from . import _etcd, _nats
from ._k8s import emit
from .model.environment import EtcdSettings, NatsSettings
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

    def __post_init__(self) -> None:
        if not self.etcd.enabled and not self.etcd.endpoints_override:
            raise ValueError("etcd is disabled but no endpoints_override says which etcd to use")
        if not self.nats.enabled and not self.nats.server_override:
            raise ValueError("nats is disabled but no server_override says which NATS to use")


class DependencyStack(Construct):
    """etcd (service discovery, leases) and NATS with JetStream (the prefill queue and events).

    Either may be replaced by an external endpoint. `etcd_endpoints` and `nats_url` are what
    the Dynamo pods receive as ETCD_ENDPOINTS and NATS_SERVER.
    """

    def __init__(self, scope: Construct, id: str, props: DependencyStackProps) -> None:
        super().__init__(scope, id)
        self.props = props
        names = DependencyNames(props.release)
        self.etcd_service_name = names.etcd
        self.nats_service_name = names.nats

        if props.etcd.enabled:
            etcd = _etcd.manifests(props.release, props.namespace, props.etcd)
            for index, manifest in enumerate(etcd):
                emit(self, f"etcd-{index}", manifest)
        if props.nats.enabled:
            nats = _nats.manifests(props.release, props.namespace, props.nats)
            for index, manifest in enumerate(nats):
                emit(self, f"nats-{index}", manifest)

    @property
    def etcd_endpoints(self) -> str:
        """`host:port` of etcd's client Service, the form Dynamo v0.1 reads."""
        if self.props.etcd.endpoints_override:
            return self.props.etcd.endpoints_override
        return f"{self.etcd_service_name}:{ETCD_CLIENT_PORT}"

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
