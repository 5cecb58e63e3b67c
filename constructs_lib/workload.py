"""What every Dynamo workload shares: its props, its labels, and the construct they build on."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from ._render import kplus as _kplus
from ._render.escape_hatches import GPU_RESOURCE, extended_resource, restrict_container
from ._render.k8s import KubeObject, Manifest, emit
from ._render.scheduling import disruption_budget, strategy
from .model.base import MAX_ANNOTATION_BYTES, MAX_REPLICAS, annotation_bytes
from .model.environment import Image
from .model.hardening import (
    DependencyWaitSettings,
    DisruptionBudgetSettings,
    PlacementSettings,
    ResourceDefaults,
    SecuritySettings,
    UpdateStrategy,
)
from .model.naming import MANAGED_BY
from .rdma import NETWORKS_ANNOTATION, RdmaPolicy
from .rules import Locator
from .rules.names import NamedObject
from .rules.subjects import RuleSubject, chart_of, take_part

if TYPE_CHECKING:
    import cdk8s_plus_27 as kplus

    from .dependencies import DependencyStack

DEFAULT_IMAGE = Image(repository="tkeai.tencentcloudcr.com/tke-ai-playbook/dynamo",
                      tag="v0.1.1-20250415")
COMPONENT_LABEL = "app.kubernetes.io/dynamo-component"


@dataclass(frozen=True, kw_only=True)
class DynamoWorkloadProps:
    """What every Dynamo pod of one release shares."""

    release: str
    """The release name: the `app.kubernetes.io/instance` label."""
    full_name: str
    """Prefix of the resource names (the seed chart's `dynamo.fullname`)."""
    dependencies: DependencyStack | None = None
    """The etcd and NATS to use: the pods get its endpoints (and its etcd client certificate),
    and its NetworkPolicies admit them. Default: none; then give `etcd_endpoints` and
    `nats_url`."""
    etcd_endpoints: str | None = None
    """ETCD_ENDPOINTS of the pods, for an etcd no DependencyStack of this app deploys.
    Default: the `dependencies` stack's."""
    nats_url: str | None = None
    """NATS_SERVER of the pods, for a NATS no DependencyStack of this app deploys; needed by
    Dynamo v0.1 and by 1.x runtime planes on NATS. Default: the `dependencies` stack's."""
    etcd_client_tls_secret: str | None = None
    """Secret (kubernetes.io/tls: ca.crt, tls.crt, tls.key) of the client certificate the pods
    present to an etcd with mutual TLS; Dynamo 1.x only. Default: the `dependencies` stack's
    (none when its etcd speaks plain HTTP)."""
    namespace: str | None = None
    """Default: the chart's namespace."""
    app_name: str = "dynamo"
    """The `app.kubernetes.io/name` label. Default: dynamo."""
    image: Image = DEFAULT_IMAGE
    """Default: the seed's Dynamo v0.1.1 image."""
    image_pull_secrets: Sequence[str] = ()
    """Default: none."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to every pod (and to Service selectors). Default: none."""
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    """Default: none."""
    rdma: RdmaPolicy | None = None
    """Default: no RDMA."""
    update_strategy: UpdateStrategy = UpdateStrategy()
    """Default: Recreate."""
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    """Default: a PodDisruptionBudget allowing one disruption, for two or more replicas."""
    resource_defaults: ResourceDefaults = ResourceDefaults()
    """CPU and memory where `resources` leave them out. Default: per GPU, 4 CPUs and 16Gi
    requested, 16 CPUs and 32Gi (plus /dev/shm) limit."""
    placement: PlacementSettings = PlacementSettings()
    """Default: any node; one release pod per node with the host network, spread otherwise."""
    security: SecuritySettings = SecuritySettings()
    """Default: every capability dropped, RuntimeDefault seccomp, no service account token."""
    dependency_wait: DependencyWaitSettings = DependencyWaitSettings()
    """Default: an init container waits up to 600 s for etcd and NATS."""
    debug: bool = False
    """DYN_LOG=debug and NCCL_DEBUG=INFO. Default: false."""

    def __post_init__(self) -> None:
        stack = self.dependencies
        etcd = self.discovers_through_etcd
        if stack is not None:
            given = [name for name in ("etcd_endpoints", "nats_url", "etcd_client_tls_secret")
                     if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} given together with dependencies, which "
                                 "says where etcd and NATS are; give one or the other")
            # Frozen: the stack's addresses become the props the renderers read.
            object.__setattr__(self, "etcd_endpoints", stack.etcd_endpoints if etcd else None)
            object.__setattr__(self, "nats_url", stack.nats_url)
            object.__setattr__(self, "etcd_client_tls_secret",
                               stack.etcd_client_tls_secret if etcd else None)
        elif not etcd:
            given = [name for name in ("etcd_endpoints", "etcd_client_tls_secret")
                     if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} given, but runtime.discovery is "
                                 "kubernetes, which uses no etcd; remove it, or set "
                                 "runtime=RuntimeSettings(discovery='etcd')")
        elif self.etcd_endpoints is None:
            raise ValueError("etcd_endpoints not given: pass dependencies=<a DependencyStack>, "
                             "or the address of an external etcd (and nats_url where NATS is "
                             "used)")

    @property
    def discovers_through_etcd(self) -> bool:
        """The pods find each other through etcd (Dynamo v0.1 always does)."""
        return True

    def selector_labels(self, component: str) -> dict[str, str]:
        """The labels a Deployment selects its pods by; identical to the seed chart's."""
        return {
            "app.kubernetes.io/name": self.app_name,
            "app.kubernetes.io/instance": self.release,
            COMPONENT_LABEL: component,
        }

    def object_labels(self, component: str) -> dict[str, str]:
        return {**self.selector_labels(component), **MANAGED_BY}

    @property
    def release_labels(self) -> dict[str, str]:
        """The labels every Dynamo pod of this release carries, whatever its component."""
        return {"app.kubernetes.io/name": self.app_name, "app.kubernetes.io/instance": self.release}


def check_replicas(replicas: int) -> None:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not (
            0 <= replicas <= MAX_REPLICAS):
        raise ValueError(f"replicas must be a whole number from 0 to {MAX_REPLICAS}, got "
                         f"{replicas!r}")


def check_annotations(props: DynamoWorkloadProps, own: Mapping[str, str]) -> None:
    """The API server refuses a pod template whose annotations take more than 256 KiB."""
    annotations = {**props.pod_annotations, **own}
    if props.rdma is not None:
        annotations[NETWORKS_ANNOTATION] = props.rdma.networks_annotation
    size = annotation_bytes(annotations)
    if size > MAX_ANNOTATION_BYTES:
        raise ValueError(f"the pod annotations take {size} bytes; the API server accepts at "
                         f"most {MAX_ANNOTATION_BYTES}")


class DynamoWorkload(Construct, RuleSubject):
    """A Deployment of Dynamo pods (its default child), with the disruption budget its
    settings call for. The public constructs of both Dynamo generations build on it; a 1.x
    worker pool whose workers span nodes emits a LeaderWorkerSet instead of the Deployment.

    With cdk8s-plus-27 imported before it is created, a workload is a kplus IPodSelector and
    INetworkPolicyPeer (its pods) and IScalable (a kplus HorizontalPodAutoscaler takes over its
    replicas: the Deployment's pods, or a LeaderWorkerSet's groups); `add_container`, `add_env`
    and `mount` take kplus sidecars, environment values and volumes (into every pod template:
    a LeaderWorkerSet's leader and followers alike)."""

    workload_object: KubeObject
    """The object that runs the pods (the default child): the Deployment, or the
    LeaderWorkerSet of a worker pool whose workers span nodes."""
    workload_name: str
    """Its name."""
    disruption_budget: KubeObject | None
    """The PodDisruptionBudget; None for fewer than two replicas or when turned off."""
    component: str
    """The `app.kubernetes.io/dynamo-component` label of its pods."""
    selector_labels: dict[str, str]
    """The labels every pod of the workload carries, and its budget selects them by (the
    Deployment's selector)."""
    locator: Locator
    """How findings about this construct name its props."""

    def __init__(self, scope: Construct, id: str, props: DynamoWorkloadProps) -> None:
        # Before jsii creates the object: it reads the interfaces a class declares then.
        _kplus.declare_interfaces(type(self), DynamoWorkload, self)
        super().__init__(scope, id)
        self._security = props.security
        self._autoscaled = False
        self._autoscaler_max_replicas: int | None = None
        self._autoscaler_min_replicas: int | None = None
        self._dynamo_containers: tuple[str, ...] = ()
        self.release = props.release
        """The release: the `app.kubernetes.io/instance` label of the pods."""
        self.full_name = props.full_name
        """The prefix of the resource names."""
        self.namespace = props.namespace
        """The namespace of the objects (None: the chart's)."""
        self.dependencies = props.dependencies
        """The DependencyStack the pods use; None when given addresses instead."""
        self.etcd_endpoints: str = props.etcd_endpoints or ""
        """ETCD_ENDPOINTS of the pods."""
        self.nats_url: str = props.nats_url or ""
        """NATS_SERVER of the pods."""
        self.rdma = props.rdma
        """The RdmaPolicy applied to the pods; None without RDMA."""
        self.chart = chart_of(self, scope)
        """The chart this workload belongs to; rules compare it with the chart's others."""

    def _emit_deployment(self, props: DynamoWorkloadProps, *, name: str,
                         labels: Mapping[str, str], replicas: int,
                         pod_template: dict[str, Any],
                         autoscaled: tuple[int, int] | None = None) -> None:
        """Emit the Deployment and its disruption budget, and join the rules and the
        dependencies' NetworkPolicies. Subclasses call it last, once their attributes are
        set. `autoscaled`: (min, max) replicas of the autoscaler the subclass emits, which
        owns the count: the Deployment then has no `replicas`."""
        self._emit_workload(props, "Deployment", deployment(
            name, props.namespace, labels, self.selector_labels, replicas, pod_template,
            props.update_strategy), template_paths=(("spec", "template"),), labels=labels,
            replicas=replicas, autoscaled=autoscaled)

    def _emit_workload(self, props: DynamoWorkloadProps, id: str, manifest: Manifest, *,
                       template_paths: Sequence[tuple[str, ...]], labels: Mapping[str, str],
                       replicas: int, autoscaled: tuple[int, int] | None = None) -> None:
        """Emit `manifest` (whose pod templates are at `template_paths`, the first the one
        that speaks for the pods: a LeaderWorkerSet's leader) and the budget of `replicas`
        (pods, or groups), as `_emit_deployment` does; with `autoscaled`, without its
        `replicas`."""
        name = manifest["metadata"]["name"]
        self.workload_name = name
        self._template_paths = tuple(template_paths)
        first = _at(manifest, self._template_paths[0])
        self._dynamo_containers = tuple(c["name"] for c in first["spec"]["containers"])
        if autoscaled is not None:
            del manifest["spec"]["replicas"]
            self._autoscaled = True
            self._autoscaler_min_replicas, self._autoscaler_max_replicas = autoscaled
            replicas = autoscaled[1]  # the budget protects the pods the pool may run
        self.workload_object = emit(self, id, manifest)
        budget = disruption_budget(name, props.namespace, labels, self.selector_labels,
                                   replicas, props.disruption_budget)
        self.disruption_budget = emit(self, "DisruptionBudget", budget) if budget else None
        self.locator = take_part(self, self.problems, default_child=self.workload_object)
        if props.dependencies is not None:
            props.dependencies.admit(self)

    @property
    def deployment(self) -> KubeObject:
        """The Deployment. A worker pool whose workers span nodes has none (its pods belong to
        its `leader_worker_set`): asking it raises AttributeError, saying so."""
        self._only_a_deployment("deployment")
        return self.workload_object

    @property
    def deployment_name(self) -> str:
        """The Deployment's name (AttributeError without one, as `deployment`)."""
        self._only_a_deployment("deployment_name")
        return self.workload_name

    def _only_a_deployment(self, attribute: str) -> None:
        kind = self.workload_object.object_kind
        if kind != "Deployment":
            raise AttributeError(
                f"{self.node.path}: {attribute}: its pods run as a {kind} "
                f"({self.workload_name}), not a Deployment; use workload_object and "
                "workload_name, which name either")

    # -- what the emitted workload says --------------------------------------------------------

    @property
    def pod_templates(self) -> list[dict[str, Any]]:
        """Every pod template as emitted: the Deployment's, or a LeaderWorkerSet's leader and
        follower templates."""
        return [_at(self.workload_object.manifest, path) for path in self._template_paths]

    @property
    def pod_template(self) -> dict[str, Any]:
        """The pod template as emitted (a LeaderWorkerSet's: its leader's)."""
        return self.pod_templates[0]

    @property
    def pods_per_replica(self) -> int:
        """Pods of one replica: 1, or the size of a LeaderWorkerSet's groups."""
        spec = self.workload_object.manifest["spec"]
        return int(spec.get("leaderWorkerTemplate", {}).get("size", 1))

    def template_of_rank(self, rank: int) -> dict[str, Any]:
        """The pod template of the pod of `rank` in a replica (0: the leader)."""
        templates = self.pod_templates
        return templates[0] if rank == 0 else templates[-1]

    @property
    def pod_labels(self) -> dict[str, str]:
        """The labels every pod of the Deployment carries."""
        return dict(self.pod_template["metadata"]["labels"])

    @property
    def host_network(self) -> bool:
        """The pods run in the node's network namespace."""
        return bool(self.pod_template["spec"].get("hostNetwork", False))

    @property
    def replicas(self) -> int | None:
        """The Deployment's replicas (a LeaderWorkerSet's groups); None when an autoscaler
        owns the count."""
        value = self.workload_object.manifest["spec"].get("replicas")
        return None if value is None else int(value)

    @property
    def autoscaler_max_replicas(self) -> int | None:
        """The most replicas the autoscaler that owns the count may set: as set, or else the
        `max_replicas` of the kplus HorizontalPodAutoscaler targeting this workload; None
        without one."""
        if self._autoscaler_max_replicas is None and self._autoscaled:
            found = [int(hpa.max_replicas) for hpa in _kplus.autoscalers_of(self)]
            if found:
                self._autoscaler_max_replicas = max(found)
        return self._autoscaler_max_replicas

    @autoscaler_max_replicas.setter
    def autoscaler_max_replicas(self, value: int | None) -> None:
        self._autoscaler_max_replicas = value

    @property
    def autoscaler_min_replicas(self) -> int | None:
        """The fewest replicas the autoscaler that owns the count keeps: its own, or else the
        `min_replicas` of the kplus HorizontalPodAutoscaler targeting this workload (kplus's
        default 1); None without an autoscaler."""
        if self._autoscaler_min_replicas is None and self._autoscaled:
            found = [int(hpa.min_replicas) for hpa in _kplus.autoscalers_of(self)]
            if found:
                self._autoscaler_min_replicas = min(found)
        return self._autoscaler_min_replicas

    @property
    def autoscaler_summary(self) -> str | None:
        """The autoscaler that owns the replicas, in a few words (for the placement plan);
        None without one."""
        return "HorizontalPodAutoscaler (cdk8s-plus-27)" if self._autoscaled else None

    def autoscaler_max_field(self) -> str | None:
        """The prop that sets the autoscaler's maximum, as findings cite it; None when the
        autoscaler is not this construct's own (a cdk8s-plus-27 HorizontalPodAutoscaler)."""
        return None

    @property
    def max_replicas(self) -> int:
        """The most replicas (pods of a Deployment, groups of a LeaderWorkerSet) the workload
        runs: its replicas, or its autoscaler's maximum."""
        if self.replicas is not None:
            return self.replicas
        return self.autoscaler_max_replicas or 0

    @property
    def gpus_per_pod(self) -> int:
        """The `nvidia.com/gpu` of each pod: the sum over its containers."""
        containers = self.pod_template["spec"]["containers"]
        return sum(extended_resource(c, GPU_RESOURCE) for c in containers)

    @property
    def host_ports(self) -> tuple[int, ...]:
        """The ports each pod (a LeaderWorkerSet's leader) binds on its node (none outside
        the host network)."""
        return self.host_ports_of(0)

    def host_ports_of(self, rank: int) -> tuple[int, ...]:
        """The ports the pod of `rank` in a replica binds on its node."""
        template = self.template_of_rank(rank)
        if not template["spec"].get("hostNetwork", False):
            return ()
        return tuple(port["containerPort"] for c in template["spec"]["containers"]
                     for port in c.get("ports", []))

    @property
    def needs_nats(self) -> bool:
        """The pods use NATS (Dynamo v0.1 always: its prefill queue and events)."""
        return True

    @property
    def nats_use(self) -> str:
        """What the pods use NATS for, to say why it is needed."""
        return "Dynamo v0.1's prefill queue and events"

    @property
    def needs_etcd(self) -> bool:
        """The pods find each other through etcd (Dynamo v0.1 always)."""
        return True

    @property
    def uses_rdma(self) -> bool:
        """The pods use TKE RDMA."""
        return self.rdma is not None

    def gpu_work(self) -> dict[str, int]:
        """What the GPUs of one pod do, e.g. {"decode": 4, "prefill": 4}."""
        return {}

    def connects_to(self, stack: DependencyStack) -> bool:
        """Whether the pods use `stack`'s etcd or NATS."""
        if self.dependencies is stack:
            return True
        return ((stack.etcd is not None and self.etcd_endpoints == stack.etcd_endpoints)
                or (stack.nats is not None and self.nats_url == stack.nats_url))

    def named_objects(self) -> list[NamedObject]:
        """Every object this workload emits, named after `full_name`."""
        return [NamedObject(o.object_kind, o.object_name, "full_name", self.full_name,
                            self.locator) for o in self._objects()]

    def _objects(self) -> list[KubeObject]:
        return [o for o in (self.workload_object, self.disruption_budget) if o is not None]

    # -- cdk8s-plus-27 interfaces ----------------------------------------------------------------
    # Declared by the class once cdk8s_plus_27 is imported (see _render/kplus.py); kplus calls
    # them through jsii.

    def to_pod_selector_config(self) -> kplus.PodSelectorConfig:
        """kplus IPodSelector: the Deployment's pods, by its selector labels, in its namespace
        (a `kplus.NetworkPolicy(selector=workload)` applies to exactly these pods)."""
        return _kplus.pod_selector_config(self.selector_labels, self._effective_namespace)

    def to_network_policy_peer_config(self) -> kplus.NetworkPolicyPeerConfig:
        """kplus INetworkPolicyPeer: the Deployment's pods as the peer of a NetworkPolicy rule
        (`policy.add_ingress_rule(workload, ...)`)."""
        return _kplus.network_policy_peer_config(self.selector_labels, self._effective_namespace)

    def to_pod_selector(self) -> DynamoWorkload:
        """kplus INetworkPolicyPeer: the workload itself selects its pods."""
        return self

    @property
    def has_autoscaler(self) -> bool:
        """kplus IScalable: an autoscaler owns the workload's replicas."""
        return self._autoscaled

    def mark_has_autoscaler(self) -> None:
        """kplus IScalable (`kplus.HorizontalPodAutoscaler(target=workload)` calls it): the
        Deployment (or LeaderWorkerSet, through its scale subresource: whole groups) leaves
        `replicas` to the autoscaler, and the placement plan counts the autoscaler's
        `max_replicas` replicas."""
        if self._autoscaled:
            return
        self._autoscaled = True
        if "replicas" in self.workload_object.manifest["spec"]:
            self.workload_object.remove(("spec", "replicas"))

    def to_scaling_target(self) -> kplus.ScalingTarget:
        """kplus IScalable: the Deployment (or LeaderWorkerSet) as the autoscaler's
        `scaleTargetRef`."""
        return _kplus.scaling_target(self.workload_object.manifest, self.pod_template)

    @property
    def _effective_namespace(self) -> str | None:
        return self.namespace or self.chart.namespace

    # -- composing with cdk8s-plus-27 --------------------------------------------------------

    def add_container(self, container: kplus.ContainerProps) -> None:
        """Add a sidecar container to the pods (every pod template: a LeaderWorkerSet's leader
        and followers alike): `container` as cdk8s-plus-27 renders it (its defaults included:
        image pull policy Always, CPU and memory when not given, non-root and a read-only root
        filesystem), with the Dynamo containers' restrictions (no privilege escalation,
        capabilities dropped); the volumes it mounts join the pod.

        Raises ValueError, naming this construct and what collides, when the name or a port is
        already used by a container of the pod, a volume name is already the pod's for another
        volume, or the container asks to be privileged, to escalate privileges or for
        capabilities."""
        rendered, volumes = _kplus.container(container)
        where = f"{self.node.path}: add_container {rendered['name']}"
        for template in self.pod_templates:
            spec = template["spec"]
            present = [c["name"] for c in [*spec.get("initContainers", []), *spec["containers"]]]
            if rendered["name"] in present:
                raise ValueError(f"{where}: the pod has a container named {rendered['name']} "
                                 f"already (its containers: {', '.join(present)}); name the "
                                 "sidecar differently")
            for port in rendered.get("ports", []):
                for other in spec["containers"]:
                    for used in other.get("ports", []):
                        if (used["containerPort"] == port["containerPort"]
                                or (port.get("name") and used.get("name") == port.get("name"))):
                            raise ValueError(
                                f"{where}: port {_port(port)} collides with port {_port(used)} "
                                f"of container {other['name']}; the containers of a pod share "
                                "its network (and a Service names ports by name), so use "
                                "another")
        security = rendered.get("securityContext", {})
        asked = [what for what, given in (
            ("privileged", security.get("privileged")),
            ("allow_privilege_escalation", security.get("allowPrivilegeEscalation")),
            ("capabilities to add", security.get("capabilities", {}).get("add")))
            if given]
        if asked:
            raise ValueError(f"{where}: security_context asks for {' and '.join(asked)}, but "
                             "the pods of this workload run without; remove it from the sidecar")
        restrict_container(rendered, drop_all_capabilities=self._security.drop_all_capabilities)
        self._add_volumes(volumes, where)
        for at, template in zip(self._template_paths, self.pod_templates, strict=True):
            count = len(template["spec"]["containers"])
            self.workload_object.patch((*at, "spec", "containers", count),
                                       _copy(rendered))

    def add_env(self, name: str, value: str | kplus.EnvValue) -> None:
        """Set the environment variable `name` in the Dynamo containers (the containers this
        construct emits, in every pod template; not its init containers, nor sidecars added
        with `add_container`): a plain string, or a cdk8s-plus-27 EnvValue
        (`EnvValue.from_secret_value(...)`, `from_config_map(...)`, `from_field_ref(...)`,
        ...).

        Raises ValueError, naming this construct and the container, when a Dynamo container
        sets `name` already: the variables the library sets (ETCD_ENDPOINTS, NATS_SERVER, the
        RDMA and debug settings, ...) are not overridden this way."""
        entry: Manifest = ({"name": name, "value": value} if isinstance(value, str)
                           else _kplus.env_var(name, value))
        targets: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
        for at, template in zip(self._template_paths, self.pod_templates, strict=True):
            for index, container in enumerate(template["spec"]["containers"]):
                if container["name"] in self._dynamo_containers:
                    targets.append(((*at, "spec", "containers", index, "env"), container))
        for _, container in targets:
            if any(e["name"] == name for e in container.get("env", [])):
                raise ValueError(f"{self.node.path}: add_env {name}: container "
                                 f"{container['name']} sets {name} already; the library's "
                                 "variables cannot be overridden, and each is set once")
        for path, container in targets:
            env = container.get("env")
            if env is None:
                self.workload_object.patch(path, [dict(entry)])
            else:
                self.workload_object.patch((*path, len(env)), dict(entry))

    def mount(self, path: str, volume: kplus.Volume, *, read_only: bool = False,
              sub_path: str | None = None) -> None:
        """Mount a cdk8s-plus-27 Volume (`Volume.from_secret(...)`, `from_config_map(...)`,
        ...) at `path` in the Dynamo container (the first container, which runs Dynamo) of
        every pod template, and add the volume to the pods. `read_only` and `sub_path` as in
        `kplus.VolumeMount`.

        Raises ValueError, naming this construct and what collides, when that container mounts
        something at `path` already, or the volume's name is already the pod's for another
        volume."""
        mount, rendered = _kplus.volume_mount(path, volume, read_only=read_only,
                                              sub_path=sub_path)
        where = f"{self.node.path}: mount {path}"
        targets: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
        for at, template in zip(self._template_paths, self.pod_templates, strict=True):
            containers = template["spec"]["containers"]
            index = next(i for i, c in enumerate(containers)
                         if c["name"] == self._dynamo_containers[0])
            container = containers[index]
            for used in container.get("volumeMounts", []):
                if used["mountPath"] == mount["mountPath"]:
                    raise ValueError(f"{where}: container {container['name']} mounts volume "
                                     f"{used['name']} at {used['mountPath']} already; mount "
                                     "this volume elsewhere")
            targets.append(((*at, "spec", "containers", index, "volumeMounts"), container))
        self._add_volumes([rendered], where)
        for at_mounts, container in targets:
            mounts = container.get("volumeMounts")
            if mounts is None:
                self.workload_object.patch(at_mounts, [dict(mount)])
            else:
                self.workload_object.patch((*at_mounts, len(mounts)), dict(mount))

    def _add_volumes(self, volumes: Sequence[Manifest], where: str) -> None:
        """Add `volumes` to every pod template; one a pod has already, identical, is
        shared."""
        for template in self.pod_templates:
            present = {v["name"]: v for v in template["spec"].get("volumes", [])}
            for volume in volumes:
                if volume["name"] in present and present[volume["name"]] != volume:
                    other = _volume_source(present[volume["name"]])
                    raise ValueError(f"{where}: the pod has a different volume named "
                                     f"{volume['name']} already ({other}); give the kplus "
                                     "Volume another name")
        for path, template in zip(self._template_paths, self.pod_templates, strict=True):
            spec = template["spec"]
            names = {v["name"] for v in spec.get("volumes", [])}
            for volume in volumes:
                if volume["name"] in names:
                    continue
                at: tuple[str | int, ...] = (*path, "spec", "volumes")
                if "volumes" not in spec:
                    self.workload_object.patch(at, [_copy(volume)])
                else:
                    self.workload_object.patch((*at, len(spec["volumes"])), _copy(volume))
                names.add(volume["name"])


def _at(manifest: Manifest, path: Sequence[str]) -> dict[str, Any]:
    node: Any = manifest
    for part in path:
        node = node[part]
    template: dict[str, Any] = node
    return template


def _copy(value: Manifest) -> Manifest:
    """A deep copy: each pod template gets its own (the manifests are edited in place)."""
    copied: Manifest = copy.deepcopy(value)
    return copied


def _port(port: Mapping[str, Any]) -> str:
    return f"{port['containerPort']}" + (f" ({port['name']})" if port.get("name") else "")


def _volume_source(volume: Mapping[str, Any]) -> str:
    kind = next((k for k in volume if k != "name"), "")
    return f"{kind} {volume[kind]}" if kind else "no source"


def deployment(name: str, namespace: str | None, labels: Mapping[str, str],
               selector: Mapping[str, str], replicas: int,
               pod_template: dict[str, Any],
               update_strategy: UpdateStrategy = UpdateStrategy()) -> dict[str, Any]:
    """A GPU Deployment: `Recreate` by default, because a rolling update needs GPUs a full
    cluster lacks."""
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "strategy": strategy(update_strategy),
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": pod_template,
        },
    }
