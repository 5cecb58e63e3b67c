"""Resource names exactly as the seed Helm chart computes them, so a release can be taken over."""

from __future__ import annotations

from dataclasses import dataclass

CHART_NAME = "dynamo"
MANAGED_BY = {"app.kubernetes.io/managed-by": "dynamo-cdk8s"}
"""Set on every object this project writes (the seed's `Helm` value is one Helm adds)."""
_HELM_NAME_LIMIT = 63


def _trunc(value: str) -> str:
    """Helm's `trunc 63 | trimSuffix "-"`."""
    value = value[:_HELM_NAME_LIMIT]
    return value[:-1] if value.endswith("-") else value


def chart_name(name_override: str | None) -> str:
    """`dynamo.name`: the chart name unless overridden; it is the `app.kubernetes.io/name` label."""
    return _trunc(name_override or CHART_NAME)


def full_name(release: str, name_override: str | None, fullname_override: str | None) -> str:
    """`dynamo.fullname`: the prefix of every Dynamo resource name.

    A release name that already contains the chart name is used alone (`dynamo-canary` stays
    `dynamo-canary`), otherwise the two are joined (`r1` becomes `r1-dynamo`).
    """
    if fullname_override:
        return _trunc(fullname_override)
    name = name_override or CHART_NAME
    if name in release:
        return _trunc(release)
    return _trunc(f"{release}-{name}")


# Every name below is public API: renaming one makes `kubectl apply` create a second object
# beside the old one. The constructs and the name rules both read them from here.

FRONTEND_COMPONENT = {True: "single", False: "multinode-frontend"}
PREFILL_COMPONENT = "multinode-prefill"


@dataclass(frozen=True)
class DynamoNames:
    """Names of the Dynamo resources of one release, as the seed chart gives them."""

    full_name: str
    single: bool

    @property
    def frontend_component(self) -> str:
        """The `app.kubernetes.io/dynamo-component` label of the frontend pod."""
        return FRONTEND_COMPONENT[self.single]

    @property
    def frontend_deployment(self) -> str:
        return f"{self.full_name}-{self.frontend_component}"

    @property
    def frontend_service(self) -> str:
        return f"{self.full_name}-{'single' if self.single else 'multinode'}"

    @property
    def configs_config_map(self) -> str:
        return f"{self.full_name}-configs"

    @property
    def graphs_config_map(self) -> str:
        return f"{self.full_name}-graphs"

    @property
    def prefill_deployment(self) -> str:
        return f"{self.full_name}-{PREFILL_COMPONENT}"

    @property
    def prefill_configs_config_map(self) -> str:
        return f"{self.full_name}-prefill-configs"

    @property
    def service_monitor(self) -> str:
        return self.full_name

    @property
    def network_policy(self) -> str:
        """The NetworkPolicy of every Dynamo pod of the release."""
        return self.full_name


@dataclass(frozen=True)
class V1Names:
    """Names of the Dynamo 1.x resources of one release: a Deployment per component."""

    full_name: str

    def deployment(self, component: str) -> str:
        """`<full name>-frontend`, `-decode` or `-prefill`."""
        return f"{self.full_name}-{component}"

    @property
    def frontend_service(self) -> str:
        return self.deployment("frontend")

    @property
    def service_monitor(self) -> str:
        return self.full_name

    @property
    def worker_monitor(self) -> str:
        return f"{self.full_name}-workers"

    @property
    def network_policy(self) -> str:
        """The NetworkPolicy of every Dynamo pod of the release."""
        return self.full_name

    @property
    def discovery(self) -> str:
        """The ServiceAccount, Role, RoleBinding and headless Service of kubernetes discovery."""
        return f"{self.full_name}-discovery"


@dataclass(frozen=True)
class DependencyNames:
    """Names of etcd's and NATS's resources, as the seed's subcharts give them."""

    release: str

    @property
    def etcd(self) -> str:
        """etcd's StatefulSet and client Service."""
        return f"{self.release}-etcd"

    @property
    def etcd_headless(self) -> str:
        return f"{self.etcd}-headless"

    def etcd_service_fqdn(self, namespace: str) -> str:
        """The client Service's fully qualified name, which etcd advertises to clients."""
        return f"{self.etcd}.{namespace}.svc.cluster.local"

    def etcd_member_domain(self, namespace: str) -> str:
        """The headless Service's domain, under which each member has a name of its own."""
        return f"{self.etcd_headless}.{namespace}.svc.cluster.local"

    def etcd_member(self, namespace: str, index: int) -> str:
        """`<etcd>-<index>.<member domain>`: the name a member advertises to clients and peers."""
        return f"{self.etcd}-{index}.{self.etcd_member_domain(namespace)}"

    def etcd_server_dns_names(self, namespace: str, replicas: int) -> tuple[str, ...]:
        """Every name a client or member may dial etcd by, so every name its TLS certificate
        must carry: the client Service, short and qualified, and each member."""
        service = self.etcd
        return (service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
                self.etcd_service_fqdn(namespace),
                *(self.etcd_member(namespace, i) for i in range(replicas)))

    @property
    def nats(self) -> str:
        """NATS's StatefulSet and client Service."""
        return f"{self.release}-nats"

    @property
    def nats_headless(self) -> str:
        return f"{self.nats}-headless"

    @property
    def nats_config_map(self) -> str:
        return f"{self.nats}-config"

    @property
    def nats_store_claim(self) -> str:
        """The JetStream volume claim template of the NATS StatefulSet."""
        return f"{self.nats}-js"
