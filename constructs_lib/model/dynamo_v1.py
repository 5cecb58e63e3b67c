"""Dynamo 1.x in its own vocabulary: a frontend that routes, decode and prefill worker pools
of vLLM engines, the model they serve, and the runtime planes they talk over.

These settings are what the 1.x constructs take as props and what an environment file with
`dynamo: 1.x` says (`EnvironmentV1`). Defaults follow what NVIDIA's operator sets for runtime
1.5 and later where it has an opinion (probe timings, termination grace, canary health checks),
and say why where this library differs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .autoscaling import DecodeAutoscaling, PrefillAutoscaling
from .base import (
    Annotations,
    Count,
    DnsLabel,
    Labels,
    Port,
    PositiveCount,
    Replicas,
    StrictModel,
)
from .dynamo_graph import DynamoGraphSettings, Output
from .engine import VllmEngineArgs
from .environment import (
    DependencySettings,
    EnvironmentBase,
    EtcdSettings,
    Generation,
    Image,
    ModelVolume,
    NatsSettings,
    ResourceList,
    ServiceMonitorSettings,
)
from .hardening import DisruptionBudgetSettings, UpdateStrategy

RouterMode = Literal["round-robin", "random", "power-of-two", "kv", "direct", "least-loaded",
                     "device-aware-weighted"]
V1_IMAGE = Image(repository="nvcr.io/nvidia/ai-dynamo/vllm-runtime", tag="1.6.1")
"""NVIDIA's Dynamo 1.6.1 image with vLLM."""


class RouterSettings(StrictModel):
    """How the frontend picks a worker for each request."""

    mode: RouterMode = "round-robin"
    """round-robin, random, power-of-two, least-loaded, device-aware-weighted, direct, or kv:
    to the worker that already holds most of the prompt's KV cache (the workers then publish
    KV events, see `kv_events`). Default: round-robin."""
    kv_events: bool = True
    """With mode kv: route on the KV events the workers publish. false makes the router
    estimate each worker's cache from its own routing decisions instead
    (`--no-router-kv-events`), and the workers publish none. Default: true."""


class PodResources(StrictModel):
    """CPU, memory and ephemeral storage of a pod's main container (GPUs are set apart)."""

    requests: ResourceList = ResourceList()
    """Default: none set here (see each pool's default)."""
    limits: ResourceList = ResourceList()
    """Default: none set here (see each pool's default)."""


class RuntimeProbes(StrictModel):
    """When the kubelet treats a Dynamo 1.x pod as started, ready and alive. Every pod serves
    `/live` and `/health` (workers on their system port, the frontend on its HTTP port)."""

    enabled: bool = True
    """Default: true."""
    startup_timeout_seconds: int = Field(7200, ge=60)
    """How long a pod may take to start serving (a worker: load its weights) before it is
    restarted. Default: 7200, as NVIDIA's operator gives workers."""
    liveness_period_seconds: int = Field(5, ge=1)
    """Default: 5, as the operator."""
    liveness_timeout_seconds: int = Field(4, ge=1)
    """Default: 4, as the operator."""
    liveness_failure_threshold: int = Field(3, ge=1)
    """Failed liveness checks in a row before a restart; `/live` stays up while the process is
    not wedged, so a busy worker passes it. Default: 3, as the operator."""
    readiness_period_seconds: int = Field(10, ge=1)
    """Default: 10."""
    termination_grace_period_seconds: int = Field(60, ge=0)
    """Time for in-flight requests to finish (or migrate) when a pod stops. Default: 60, as
    the operator."""


class FrontendV1Settings(StrictModel):
    """`python3 -m dynamo.frontend`: the OpenAI-compatible HTTP server and router."""

    replicas: Replicas = 1
    http_port: Port = 8000
    """Default: 8000."""
    router: RouterSettings = RouterSettings()
    migration_limit: Count = 3
    """How many times a request is resumed on another worker when its worker dies mid-stream
    (`--migration-limit`; Dynamo's default 0 fails the request). Default: 3."""
    resources: PodResources = PodResources(
        requests=ResourceList(cpu="2", memory="4Gi"), limits=ResourceList(memory="4Gi"))
    """The frontend has no GPU. Default: 2 CPUs and 4Gi."""
    labels: Labels = {}
    """Extra pod labels. Default: none."""
    annotations: Annotations = {}
    """Extra pod annotations. Default: none."""
    probes: RuntimeProbes = RuntimeProbes(startup_timeout_seconds=600)
    """Default: as RuntimeProbes, with ten minutes to start (it loads no weights); ready only
    once a worker serves the model."""
    update_strategy: UpdateStrategy = UpdateStrategy()
    """Default: Recreate."""
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    """Default: with two or more replicas, one pod at a time may be disrupted."""


class ModelSettings(StrictModel):
    """The model the workers load and the frontend serves."""

    path: str = Field(min_length=1)
    """Where the workers load it from: a folder in the model volume (e.g.
    /data/Qwen/Qwen3-0.6B), passed as `--model`. Required."""
    served_name: str | None = Field(None, min_length=1)
    """The name clients ask for (`--served-model-name`). Default: the path."""
    volume: ModelVolume = ModelVolume()
    """The existing PersistentVolumeClaim that holds the weights, mounted read-only in the
    workers. Default: claim `ai-model` at /data."""

    @property
    def name(self) -> str:
        """The name clients ask for."""
        return self.served_name or self.path


class KvTransferSettings(StrictModel):
    """How prefill workers hand the KV cache to decode workers (vLLM's `--kv-transfer-config`,
    written with `kv_role: kv_both` on both sides)."""

    connector: str = Field("NixlConnector", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    """vLLM's KV connector. Default: NixlConnector (NIXL over UCX: RDMA when available)."""


class KvEventsSettings(StrictModel):
    """The KV events each worker publishes for the KV router (vLLM's `--kv-events-config`,
    ZMQ publisher)."""

    port: Port = 20080
    """The port each worker publishes on. Default: 20080."""


class RuntimeSettings(StrictModel):
    """How the frontend and the workers of one deployment find and talk to each other."""

    dynamo_namespace: DnsLabel | None = None
    """DYN_NAMESPACE: the logical namespace the components discover each other in. Default: the
    deployment's full name."""
    discovery: Literal["etcd", "kubernetes"] = "etcd"
    """DYN_DISCOVERY_BACKEND: how the frontend finds the workers. etcd: the release's own, or
    the one `dependencies.etcd` names. kubernetes: the Kubernetes API, with no etcd at all; each
    worker writes a DynamoWorkerMetadata object (its endpoints and model) and counts once the
    EndpointSlice of the release's discovery Service marks its pod ready. The release then gets
    a ServiceAccount, a Role and a RoleBinding for that, and the cluster must have the
    `dynamoworkermetadatas.nvidia.com` CRD (NVIDIA's CRD chart, or `install_discovery_crd`).
    Default: etcd."""
    install_discovery_crd: bool = False
    """With discovery kubernetes: emit the `dynamoworkermetadatas.nvidia.com`
    CustomResourceDefinition too. It is cluster-wide: applying it needs cluster-admin, and
    deleting this release's manifests would delete it, and every release's DynamoWorkerMetadata,
    with them. Leave it false where NVIDIA's CRD chart (or another release) installs it.
    Default: false."""
    request_plane: Literal["tcp", "nats"] = "tcp"
    """DYN_REQUEST_PLANE: how requests reach a worker. tcp needs no NATS. Default: tcp."""
    event_plane: Literal["zmq", "nats"] = "zmq"
    """DYN_EVENT_PLANE: how KV and load events travel. zmq needs no NATS. Default: zmq."""
    system_port: int = Field(9090, ge=1024, le=32767)
    """DYN_SYSTEM_PORT: each worker's /live, /health and /metrics. Dynamo parses it as a signed
    16-bit number, hence at most 32767. Default: 9090, as NVIDIA's operator uses."""
    health_checks: bool = True
    """DYN_HEALTH_CHECK_ENABLED: canary requests that find a hung engine and fail /health. The
    operator turns them on from runtime 1.5. Default: true."""

    @property
    def needs_nats(self) -> bool:
        return self.request_plane == "nats" or self.event_plane == "nats"

    @property
    def needs_etcd(self) -> bool:
        return self.discovery == "etcd"


def nodes_per_worker(gpus: int, gpus_per_node: int | None) -> int:
    """Pods (nodes) one worker of `gpus` spans: 1 when it fits a node (or the node size is not
    known), else its GPUs over a node's, rounded up (a rule refuses a remainder)."""
    if gpus_per_node is None or gpus <= gpus_per_node:
        return 1
    return -(-gpus // gpus_per_node)


class WorkerPoolSettings(StrictModel):
    """A pool of `python3 -m dynamo.vllm` workers of one role: a pod per worker."""

    replicas: Replicas = 1
    """Workers (pods, or groups of pods of a worker that spans nodes). Leave it out when
    `autoscaling` is on: the autoscaler sets the count, between its `min_replicas` and
    `max_replicas`. Default: 1."""
    gpus: PositiveCount = 1
    """`nvidia.com/gpu` per worker; tensor x pipeline (x data) parallelism must use them all.
    A worker with more GPUs than a node of `nodes` has spans whole nodes: a LeaderWorkerSet
    group of a pod per node (`gpus` must then be a multiple of `nodes.gpus_per_node`). Default:
    1."""
    engine: VllmEngineArgs = VllmEngineArgs()
    """This pool's vLLM engine arguments, over the shared `engine` section. Default: none."""
    resources: PodResources = PodResources()
    """CPU and memory. Default: from `resource_defaults`, per GPU."""
    labels: Labels = {}
    """Extra pod labels. Default: none."""
    annotations: Annotations = {}
    """Extra pod annotations. Default: none."""
    probes: RuntimeProbes = RuntimeProbes()
    """Default: two hours to load the model, the operator's liveness timing."""
    update_strategy: UpdateStrategy = UpdateStrategy()
    """Default: Recreate (a rolling update needs free GPUs)."""
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    """Default: with two or more replicas, one pod at a time may be disrupted."""


class DecodePoolSettings(WorkerPoolSettings):
    """The decode workers (in an aggregated deployment, the workers that do both phases)."""

    autoscaling: DecodeAutoscaling = DecodeAutoscaling()
    """How the pool scales: off (fixed `replicas`), a KEDA ScaledObject or an HPA on the
    frontend's inter-token latency or the KV router's KV cache usage. Default: off."""


class PrefillPoolSettings(WorkerPoolSettings):
    """The prefill workers of disaggregated serving."""

    autoscaling: PrefillAutoscaling = PrefillAutoscaling()
    """How the pool scales: off (fixed `replicas`), a KEDA ScaledObject or an HPA on the
    frontend's prefill dispatch queue or time to first token. Default: off."""


class DashboardSettings(StrictModel):
    """A Grafana dashboard of the deployment (traffic, latency percentiles, queues, KV cache,
    workers per role), as a ConfigMap that Grafana's dashboard sidecar loads (the Grafana and
    kube-prometheus-stack Helm charts run one). Every query reads a metric the pinned Dynamo
    runtime exports, from the frontend's and workers' /metrics: Prometheus must scrape them
    (`service_monitor`)."""

    enabled: bool = False
    """Default: off."""
    namespace: DnsLabel = "monitoring"
    """The namespace of the ConfigMap: one the sidecar watches (its `searchNamespace`; by
    default Grafana's own). Default: monitoring."""
    labels: Labels = {"grafana_dashboard": "1"}
    """The labels of the ConfigMap: the sidecar loads the ConfigMaps that carry its `label`
    (with `labelValue`, when it sets one). Default: grafana_dashboard: "1", the charts' own
    default."""
    folder: str | None = Field(None, min_length=1, max_length=253)
    """The Grafana folder, set as the `grafana_folder` annotation (the sidecar's
    `folderAnnotation`, when it is configured with that name). Default: none (the sidecar's
    default folder)."""
    title: str | None = Field(None, min_length=1, max_length=200)
    """Default: `Dynamo <release>` (or the full name override)."""


class MonitoringSettings(StrictModel):
    """Prometheus scraping: the frontend's /metrics (on its HTTP port) through a
    ServiceMonitor, the workers' (on their system port) through a PodMonitor; and a Grafana
    dashboard of what they export."""

    service_monitor: ServiceMonitorSettings = ServiceMonitorSettings()
    """`enabled: true` adds both monitors. Default: off."""
    dashboard: DashboardSettings = DashboardSettings()
    """`enabled: true` adds the Grafana dashboard's ConfigMap. Default: off."""


class DependencySettingsV1(DependencySettings):
    """etcd for discovery through etcd; NATS only when a runtime plane uses it."""

    etcd: EtcdSettings = EtcdSettings()
    """Default: one etcd member with 20Gi of storage; none with `runtime.discovery: kubernetes`,
    where nothing uses etcd (and an etcd setting is refused)."""
    nats: NatsSettings = NatsSettings(enabled=False)
    """Default: not deployed (Dynamo 1.x's tcp request plane and zmq event plane need none)."""


class EnvironmentV1(EnvironmentBase):
    """A deployment of Dynamo 1.x: a frontend and decode (and prefill) worker pools."""

    dynamo: Literal[Generation.V1]
    """1.x."""
    image: Image = V1_IMAGE
    """Default: nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1."""
    model: ModelSettings
    frontend: FrontendV1Settings = FrontendV1Settings()
    engine: VllmEngineArgs = VllmEngineArgs()
    """vLLM engine arguments both pools share (a pool's own win). Default: none."""
    decode: DecodePoolSettings
    """The decode workers; with no prefill pool they run prefill too (aggregated)."""
    prefill: PrefillPoolSettings | None = None
    """The prefill workers; when given, serving is disaggregated. Default: none."""
    kv_transfer: KvTransferSettings = KvTransferSettings()
    """Used with a prefill pool. Default: NixlConnector."""
    kv_events: KvEventsSettings = KvEventsSettings()
    """Used when the router is kv and expects events. Default: port 20080."""
    runtime: RuntimeSettings = RuntimeSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    dependencies: DependencySettingsV1 = DependencySettingsV1()
    output: Output = "manifests"
    """manifests, or dynamo-graph: one DynamoGraphDeployment for NVIDIA's Dynamo operator,
    built from the same pods, without etcd and NATS (`synth --format` overrides it; see the
    README). Default: manifests."""
    dynamo_graph: DynamoGraphSettings = DynamoGraphSettings()
    """Used with `output: dynamo-graph`. Default: the runtime version from the image tag, no
    scaling adapters."""

    @model_validator(mode="before")
    @classmethod
    def _no_etcd_for_kubernetes_discovery(cls, data: Any) -> Any:
        """Kubernetes discovery needs no etcd: unless the file says otherwise (which a rule then
        refuses), none is deployed."""
        if not isinstance(data, dict) or _discovery(data.get("runtime")) != "kubernetes":
            return data
        dependencies = data.get("dependencies")
        if isinstance(dependencies, BaseModel):
            dependencies = _given(dependencies)
        if dependencies is None:
            dependencies = {}
        if not isinstance(dependencies, dict):
            return data
        etcd = dependencies.get("etcd")
        if isinstance(etcd, BaseModel):
            etcd = _given(etcd)
        if etcd is None:
            etcd = {}
        if not isinstance(etcd, dict) or "enabled" in etcd:
            return data
        return {**data, "dependencies": {**dependencies, "etcd": {**etcd, "enabled": False}}}

    @property
    def disaggregated(self) -> bool:
        return self.prefill is not None

    @property
    def publishes_kv_events(self) -> bool:
        """The workers publish KV events: the router routes on them."""
        router = self.frontend.router
        return router.mode == "kv" and router.kv_events


def _discovery(runtime: Any) -> Any:
    if isinstance(runtime, RuntimeSettings):
        return runtime.discovery
    return runtime.get("discovery") if isinstance(runtime, dict) else None


def _given(model: BaseModel) -> dict[str, Any]:
    """The fields a settings object was given, as the file would have written them, so that
    what was set stays told apart from the defaults."""
    return {name: getattr(model, name) for name in model.model_fields_set}
