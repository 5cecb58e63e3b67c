"""The typed description of one deployment environment (one file in `environments/`)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import naming
from .base import (
    Annotations,
    DnsLabel,
    DnsSubdomain,
    Duration,
    GpuCount,
    ImageDigest,
    ImageRepository,
    ImageTag,
    Labels,
    LabelValue,
    MountPath,
    NodeCount,
    Port,
    PositiveCount,
    PositiveGpuCount,
    Quantity,
    Replicas,
    StorageSize,
    StrictModel,
)
from .hardening import (
    DependencyHardening,
    DependencyWaitSettings,
    DisruptionBudgetSettings,
    NetworkPolicySettings,
    PlacementSettings,
    ProbeSettings,
    ResourceDefaults,
    RetentionPeriod,
    SecuritySettings,
    SharedMemorySettings,
    UpdateStrategy,
    odd_member_count,
)
from .monitoring import Relabeling
from .serve_config import Component, ServeConfig

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]


class Mode(StrEnum):
    """How the Dynamo graph is split into Deployments."""

    SINGLE = "single"
    """The whole graph in one pod."""
    MULTINODE = "multinode"
    """Frontend, Processor, Router and the decode worker in one pod; prefill workers in a pool."""


class Generation(StrEnum):
    """Which Dynamo runtime the manifests start."""

    V0_1 = "v0.1"
    """`dynamo serve` of a graph with a configs.yaml (the seed chart's Dynamo v0.1.1)."""
    V1 = "1.x"
    """One process per component: `python3 -m dynamo.frontend`, `python3 -m dynamo.vllm`."""


class Image(StrictModel):
    repository: ImageRepository
    tag: ImageTag | None = None
    """Default: none; then `digest` is required."""
    digest: ImageDigest | None = None
    """Default: none (pinned by tag)."""
    pull_policy: PullPolicy = "IfNotPresent"

    @model_validator(mode="after")
    def _pinned(self) -> Image:
        if not self.tag and not self.digest:
            raise ValueError(
                f"neither tag nor digest given (received repository {self.repository} only); "
                "an untagged image runs whatever :latest is when a node pulls it"
            )
        return self

    @property
    def reference(self) -> str:
        ref = self.repository
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


class ResourceList(StrictModel):
    """CPU, memory and ephemeral storage; GPUs and RDMA devices have typed fields of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=False)

    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(None, alias="ephemeral-storage")

    def render(self) -> dict[str, int | float | str]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Resources(StrictModel):
    gpus: GpuCount = 0
    """`nvidia.com/gpu`, requested and limited alike (extended resources cannot overcommit).
    Default: 0."""
    requests: ResourceList = ResourceList()
    """Default: no CPU or memory request."""
    limits: ResourceList = ResourceList()
    """Default: no CPU or memory limit."""


class ServiceMonitorSettings(StrictModel):
    enabled: bool = False
    namespace: DnsLabel = "kube-system"
    """Where the ServiceMonitor lives (where Prometheus looks). Default: kube-system."""
    interval: Duration = "15s"
    honor_labels: bool = False
    additional_labels: Labels = {}
    relabelings: list[Relabeling] = []


class MetricsSettings(StrictModel):
    """The `metrics` sidecar that exposes the decode workers' load metrics to Prometheus."""

    enabled: bool = False
    port: Port = 9091
    image: Image | None = None
    """Default: the Dynamo image."""
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="128Mi"),
        limits=ResourceList(cpu=1, memory="512Mi"))
    """Default: 100m CPU and 128Mi requested, 1 CPU and 512Mi limit."""
    service_monitor: ServiceMonitorSettings = ServiceMonitorSettings()


def _distinct_components(graph: list[Component]) -> list[Component]:
    repeated = sorted({c.value for c in graph if graph.count(c) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} linked more than once; each component runs once")
    return graph


Graph = Annotated[list[Component], Field(min_length=1), AfterValidator(_distinct_components)]


class FrontendSettings(StrictModel):
    """The pod that serves HTTP: the whole graph (single mode) or all but the prefill pool."""

    replicas: Replicas = 1
    resources: Resources = Resources()
    labels: Labels = {}
    """Extra pod labels. Default: none."""
    annotations: Annotations = {}
    """Extra pod annotations. Default: none."""
    metrics: MetricsSettings = MetricsSettings()
    config: ServeConfig
    graph: Graph = [
        Component.FRONTEND,
        Component.PROCESSOR,
        Component.ROUTER,
        Component.VLLM_WORKER,
        Component.PREFILL_WORKER,
    ]
    """The components `dynamo serve` links, in order. Default: the seed's full chain."""
    probes: ProbeSettings = ProbeSettings()
    """Default: startup within an hour, ready once a completion succeeds, lenient liveness."""
    update_strategy: UpdateStrategy = UpdateStrategy()
    """Default: Recreate."""
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    """Default: with two or more replicas, one pod at a time may be disrupted."""


class PrefillSettings(StrictModel):
    """The prefill worker pool of multi-node mode."""

    replicas: Replicas = 1
    resources: Resources = Resources()
    labels: Labels = {}
    annotations: Annotations = {}
    config: ServeConfig
    probes: ProbeSettings = ProbeSettings()
    """Default: the worker processes must run; see `ProbeSettings`."""
    update_strategy: UpdateStrategy = UpdateStrategy()
    """Default: Recreate."""
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    """Default: with two or more replicas, one pod at a time may be disrupted."""


class ServiceSettings(StrictModel):
    type: ServiceType = "ClusterIP"
    port: Port = 80


class ModelVolume(StrictModel):
    """An existing PersistentVolumeClaim holding the model weights."""

    enabled: bool = True
    claim_name: DnsSubdomain = "ai-model"
    mount_path: MountPath = "/data"


NetworkMode = Literal["tke-route-eni", "tke-bridge"]


class RdmaSettings(StrictModel):
    enabled: bool = True
    network_mode: NetworkMode = "tke-route-eni"
    host_network: bool = True
    """Run the pods in the node's network namespace (only when RDMA is enabled). Default: true."""
    nccl_ib_gid_index: int | None = Field(3, ge=0)
    """NCCL_IB_GID_INDEX: the RoCE v2 GID of TKE's RDMA NICs. None leaves it unset. Default: 3."""
    nccl_ib_hca: str | None = "mlx5"
    """NCCL_IB_HCA: which RDMA devices NCCL uses. Default: mlx5."""
    nccl_socket_ifname: str | None = "eth0"
    """NCCL_SOCKET_IFNAME: the interface for NCCL's bootstrap. Default: eth0."""
    gloo_socket_ifname: str | None = "eth0"
    """GLOO_SOCKET_IFNAME: the interface for torch.distributed's gloo. Default: eth0."""
    vllm_worker_multiproc_method: Literal["spawn", "fork"] | None = "spawn"
    """VLLM_WORKER_MULTIPROC_METHOD: `fork` after CUDA is initialised hangs or fails.
    Default: spawn."""
    ucx_net_devices: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:,-]+$")
    """UCX_NET_DEVICES of Dynamo 1.x workers: the RDMA devices NIXL moves KV cache over (e.g.
    mlx5_0:1). UCX uses every device it finds when unset, which has garbled tokens on hosts
    with several NICs (ai-dynamo/dynamo#12463). Default: unset."""
    ucx_ib_gid_index: int | None = Field(3, ge=0)
    """UCX_IB_GID_INDEX of Dynamo 1.x workers: the RoCE v2 GID, as NCCL_IB_GID_INDEX for NCCL.
    None leaves it unset. Default: 3."""


_HOST_PORT = re.compile(r"^(https?://)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$")
_NATS_URL = re.compile(r"^(nats|tls)://([^:@/]+(:[^@/]*)?@)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?"
                       r"(:[0-9]{1,5})?$")


def _etcd_endpoints(value: str) -> str:
    if not all(_HOST_PORT.match(e) for e in value.split(",")):
        raise ValueError(f"{value!r} is not a list of etcd endpoints host:port[,host:port]")
    return value


def _nats_url(value: str) -> str:
    if not _NATS_URL.match(value):
        raise ValueError(f"{value!r} is not a NATS URL such as nats://nats.shared.svc:4222")
    return value


class EtcdTlsSettings(StrictModel):
    """Mutual TLS for the release's own etcd: clients and members must present a certificate
    signed by the CA, and everything travels over https. The two Secrets must exist before the
    manifests are applied; cert-manager writes both (docs/hardening.md)."""

    server_secret: DnsSubdomain
    """Secret (type kubernetes.io/tls) of etcd's serving and peer certificate, with the keys
    tls.crt, tls.key and ca.crt (the CA that signed the client and member certificates, which
    etcd then trusts). The certificate must carry the DNS names PLAN.md lists and both the
    serverAuth and clientAuth usages: members present it to each other. Required."""
    client_secret: DnsSubdomain
    """Secret (type kubernetes.io/tls) of the client certificate the Dynamo pods present, with
    the keys tls.crt, tls.key and ca.crt (the CA that signed etcd's certificate). Required."""


class EtcdSettings(DependencyHardening):
    enabled: bool = True
    """Deploy etcd with the release. Default: true."""
    endpoints_override: Annotated[str, AfterValidator(_etcd_endpoints)] | None = None
    """Use this etcd instead (host:port[,host:port]). Default: the release's own etcd."""
    replicas: PositiveCount = 1
    """1, 3 or 5. Default: 1."""
    storage_size: StorageSize = "20Gi"
    storage_class: DnsSubdomain | None = None
    image: Image = Image(repository="quay.io/coreos/etcd", tag="v3.5.21")
    resources: Resources = Resources(
        requests=ResourceList.model_validate(
            {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "50Mi"}),
        limits=ResourceList.model_validate(
            {"cpu": "375m", "memory": "384Mi", "ephemeral-storage": "2Gi"}))
    """Default: the seed's etcd sizing (250m/256Mi requested, 375m/384Mi limit)."""
    auto_compaction_retention: RetentionPeriod = "1h"
    """Keep this much key history (periodic compaction); without compaction every lease renewal
    grows the database until etcd refuses writes. 0 turns it off. Default: 1h."""
    tls: EtcdTlsSettings | None = None
    """Mutual TLS on etcd's client and peer ports, with client certificates for the Dynamo
    pods; needs `dynamo: 1.x` (Dynamo v0.1 has no etcd TLS client). Default: none (plain HTTP).
    """

    @field_validator("replicas")
    @classmethod
    def _odd_members(cls, replicas: int, info: ValidationInfo) -> int:
        if info.data.get("enabled", True):
            odd_member_count(replicas, "etcd")
        return replicas


class JetStreamSettings(StrictModel):
    enabled: bool = True
    file_store_enabled: bool = True
    file_store_dir: MountPath = "/data"
    file_store_pvc: bool = True
    """Keep the file store on a PersistentVolumeClaim of file_store_size; false keeps it in an
    emptyDir, lost with the pod. Default: true."""
    file_store_size: StorageSize = "10Gi"
    memory_store_size: Quantity = 0


class NatsSettings(DependencyHardening):
    enabled: bool = True
    server_override: Annotated[str, AfterValidator(_nats_url)] | None = None
    """Use this NATS instead (nats://host:port). Default: the release's own NATS."""
    replicas: PositiveCount = 1
    """1, 3 or 5. Default: 1."""
    image: Image = Image(repository="nats", tag="2.11.0-alpine")
    jetstream: JetStreamSettings = JetStreamSettings()
    storage_class: DnsSubdomain | None = None
    resources: Resources = Resources(
        requests=ResourceList(cpu="250m", memory="512Mi"),
        limits=ResourceList(cpu=2, memory="2Gi"))
    """Default: 250m CPU and 512Mi requested, 2 CPUs and 2Gi limit."""

    @field_validator("replicas")
    @classmethod
    def _odd_members(cls, replicas: int, info: ValidationInfo) -> int:
        if info.data.get("enabled", True):
            odd_member_count(replicas, "JetStream (Dynamo's prefill queue)")
        return replicas


class DependencySettings(StrictModel):
    etcd: EtcdSettings = EtcdSettings()
    nats: NatsSettings = NatsSettings()


def _name_prefix(value: str) -> str:
    # Helm cuts the prefix at 63 characters, so only the characters are checked here; the
    # length of every name made from it is checked with the other cross-field rules.
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value):
        raise ValueError(f"{value!r} is not a name prefix: lower-case letters, digits and '-', "
                         "starting and ending with a letter or digit")
    return value


class NodePool(StrictModel):
    """The GPU nodes the deployment may use; `plan` places every pod on one of them."""

    count: NodeCount
    gpus_per_node: PositiveGpuCount
    gpu_product: LabelValue | None = None
    """The nodes' `nvidia.com/gpu.product` label (e.g. NVIDIA-H20), shown in the plan.
    Default: not stated. It is deliberately not turned into a nodeSelector: the label comes
    from GPU Feature Discovery, which not every TKE node runs, and a selector on a missing label
    leaves every pod Pending."""


class EnvironmentBase(StrictModel):
    """What an environment file says whichever Dynamo it runs: names, the cluster it runs on,
    RDMA, etcd and NATS, and the production settings."""

    release: DnsLabel
    """The release name (the seed's Helm release); it prefixes every resource name."""
    namespace: DnsLabel = "default"
    name_override: DnsLabel | None = None
    fullname_override: Annotated[str, AfterValidator(_name_prefix)] | None = None
    """Replaces the `<release>-dynamo` prefix of the Dynamo resource names. Default: none."""
    image_pull_secrets: list[DnsSubdomain] = []
    pod_labels: Labels = {}
    pod_annotations: Annotations = {}
    service: ServiceSettings = ServiceSettings()
    rdma: RdmaSettings = RdmaSettings()
    dependencies: DependencySettings = DependencySettings()
    nodes: NodePool | None = None
    """The GPU node pool. Default: none declared; the plan then says how many nodes of
    8 GPUs the deployment needs, and nothing is refused for lack of room."""
    shared_memory: SharedMemorySettings = SharedMemorySettings()
    """Default: 2Gi of /dev/shm per GPU."""
    resource_defaults: ResourceDefaults = ResourceDefaults()
    """CPU and memory of Dynamo containers that do not set them. Default: per GPU, 4 CPUs and
    16Gi requested, 16 CPUs and 32Gi (plus /dev/shm) limit."""
    placement: PlacementSettings = PlacementSettings()
    """Default: any node; one pod per node with the host network; spread otherwise."""
    security: SecuritySettings = SecuritySettings()
    """Default: no capabilities (but IPC_LOCK for RDMA), RuntimeDefault seccomp, no API token."""
    dependency_wait: DependencyWaitSettings = DependencyWaitSettings()
    """Default: wait up to 600 s for etcd (and NATS, when used) before starting Dynamo."""
    network_policy: NetworkPolicySettings = NetworkPolicySettings()
    """Default: NetworkPolicies on; see `NetworkPolicySettings` for host-network pods."""
    debug: bool = False
    """Verbose logs: DYN_LOG=debug and NCCL_DEBUG=INFO in the Dynamo containers. Default: false."""

    @model_validator(mode="after")
    def _follows_the_rules(self) -> EnvironmentBase:
        # The file's own rules run once every field is valid, and report all they find
        # together; the constructs' rules run when the chart is composed.
        from .rules import RuleViolations, problems

        found = problems(self)
        if found:
            raise RuleViolations(found)
        return self

    @property
    def name(self) -> str:
        """`app.kubernetes.io/name` of the Dynamo pods."""
        return naming.chart_name(self.name_override)

    @property
    def full_name(self) -> str:
        """Prefix of every Dynamo resource name."""
        return naming.full_name(self.release, self.name_override, self.fullname_override)

    @property
    def dependency_names(self) -> naming.DependencyNames:
        return naming.DependencyNames(self.release)


class Environment(EnvironmentBase):
    """A deployment of Dynamo v0.1 (`dynamo serve` of a graph, as the seed Helm chart deploys
    it) and its dependencies."""

    dynamo: Literal[Generation.V0_1] = Generation.V0_1
    """v0.1 (the default when the key is left out); `1.x` files follow the Dynamo 1.x format."""
    image: Image = Image(repository="tkeai.tencentcloudcr.com/tke-ai-playbook/dynamo",
                         tag="v0.1.1-20250415")
    model_volume: ModelVolume = ModelVolume()
    mode: Mode
    frontend: FrontendSettings
    prefill: PrefillSettings | None = None
    """Required in multinode mode; not allowed in single mode."""

    @property
    def names(self) -> naming.DynamoNames:
        """The names of the Dynamo resources, as the constructs give them."""
        return naming.DynamoNames(self.full_name, single=self.mode is Mode.SINGLE)
