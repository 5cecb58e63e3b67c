"""What the workloads need from cdk8s-plus-27, in one place, imported only when an app uses it.

Loading cdk8s-plus-27 costs every process that imports it a quarter of a second (jsii loads its
assembly), so nothing here imports it at module level: an app that composes the constructs with
kplus has imported it already, and an app that does not never pays for it.

- Interfaces. jsii reads the interfaces a Python class declares (`jsii.implements`) when each
  object is created, and registers the object's methods that implement them then. So the
  workload base class declares IScalable, IPodSelector and INetworkPolicyPeer the first time a
  workload is created after cdk8s_plus_27 was imported (`declare_interfaces`). A workload created
  before that is no kplus interface: kplus fails with "... is not a function". Importing kplus
  after workloads were created warns, naming them (`_LateImportWarning`).
- Rendering. kplus keeps its renderers internal (`Container._toKube`), so containers, volumes and
  environment values are rendered through a detached `kplus.Pod` in a scratch App that is never
  synthesized, and read back from the scratch chart's JSON (a few milliseconds a call).
- Ingress. `IngressBackend.from_service` takes only a `kplus.Service`; `ingress_backend` builds
  one in a scratch App with the name and ports of the Service the frontend emitted, so the
  Ingress names it, and the emitted Service stays exactly as it was.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import math
import sys
import warnings
import weakref
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import cdk8s
import jsii
from constructs import Construct

from ..model.base import quantity_value

if TYPE_CHECKING:
    import cdk8s_plus_27 as kplus

MODULE = "cdk8s_plus_27"

Manifest = dict[str, Any]


def loaded() -> ModuleType | None:
    """cdk8s_plus_27, when the app has imported it; None otherwise (it is not imported here)."""
    return sys.modules.get(MODULE)


# -- interfaces ------------------------------------------------------------------------------

def declare_interfaces(cls: type[Construct], base: type[Construct], instance: Construct) -> bool:
    """Make `cls` (a subclass of `base`) declare kplus's IScalable, IPodSelector and
    INetworkPolicyPeer when cdk8s_plus_27 is loaded; call it before the object is created in
    jsii. Returns whether the object about to be created implements them."""
    kplus = loaded()
    if kplus is None:
        _LateImportWarning.watch(instance)
        return False
    interfaces = (kplus.IScalable, kplus.IPodSelector, kplus.INetworkPolicyPeer)
    # The base first, so that every subclass inherits the declaration; then `cls`, when it
    # declares interfaces of its own (jsii.implements on a subclass) and so hides the base's.
    for target in (base, cls):
        if kplus.IScalable not in getattr(target, "__jsii_ifaces__", ()):
            jsii.implements(*interfaces)(target)
    return True


class _LateImportWarning(importlib.abc.MetaPathFinder):
    """Warns once when cdk8s_plus_27 is imported after workloads were created without its
    interfaces, then steps aside (it finds no module itself)."""

    def __init__(self) -> None:
        self.created: weakref.WeakSet[Construct] = weakref.WeakSet()

    @classmethod
    def watch(cls, workload: Construct) -> None:
        global _late_import_warning
        if _late_import_warning is None:
            _late_import_warning = cls()
            sys.meta_path.insert(0, _late_import_warning)
        _late_import_warning.created.add(workload)

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        global _late_import_warning
        if fullname != MODULE:
            return None
        sys.meta_path.remove(self)
        _late_import_warning = None
        created = sorted(w.node.path for w in self.created)
        if created:
            more = f" and {len(created) - 3} more" if len(created) > 3 else ""
            warnings.warn(
                f"cdk8s_plus_27 imported after {len(created)} Dynamo workload(s) were created "
                f"({', '.join(created[:3])}{more}): those are no kplus IPodSelector, "
                "INetworkPolicyPeer or IScalable (kplus fails with '... is not a function' when "
                "given one); import cdk8s_plus_27 before creating the constructs", stacklevel=2)
        return None


_late_import_warning: _LateImportWarning | None = None


def pod_selector_config(labels: Mapping[str, str],
                        namespace: str | None) -> kplus.PodSelectorConfig:
    """Pods carrying all `labels`, in `namespace` (as kplus's own workloads select theirs)."""
    import cdk8s_plus_27 as kplus

    return kplus.PodSelectorConfig(
        label_selector=kplus.LabelSelector.of(labels=dict(labels)),
        namespaces=kplus.NamespaceSelectorConfig(names=[namespace]) if namespace else None)


def network_policy_peer_config(labels: Mapping[str, str],
                               namespace: str | None) -> kplus.NetworkPolicyPeerConfig:
    import cdk8s_plus_27 as kplus

    return kplus.NetworkPolicyPeerConfig(pod_selector=pod_selector_config(labels, namespace))


def scaling_target(workload: Manifest, pod_template: Manifest) -> kplus.ScalingTarget:
    """A Deployment (or a LeaderWorkerSet, whose scale subresource counts groups) as an
    autoscaler's target: its name, its replicas (None once an autoscaler owns the count) and
    the CPU and memory of `pod_template`'s containers (a LeaderWorkerSet's leader, whose pods
    its scale subresource selects), which kplus checks when the autoscaler has no metrics of
    its own."""
    import cdk8s_plus_27 as kplus

    containers = [_scaling_container(c) for c in pod_template["spec"]["containers"]]
    return kplus.ScalingTarget(api_version=workload["apiVersion"], kind=workload["kind"],
                               name=workload["metadata"]["name"], containers=containers,
                               replicas=workload["spec"].get("replicas"))


def _scaling_container(container: Manifest) -> kplus.Container:
    import cdk8s_plus_27 as kplus

    resources = container.get("resources", {})

    def amount(kind: str, key: str) -> float | None:
        value = resources.get(key, {}).get(kind)
        return None if value is None else quantity_value(value)

    def cpu(key: str) -> Any:
        value = amount("cpu", key)
        return None if value is None else kplus.Cpu.millis(math.ceil(value * 1000))

    def memory(key: str) -> Any:
        value = amount("memory", key)
        return None if value is None else cdk8s.Size.mebibytes(math.ceil(value / 2**20))

    return kplus.Container(
        name=container["name"], image=container["image"],
        resources=kplus.ContainerResources(
            cpu=kplus.CpuResources(request=cpu("requests"), limit=cpu("limits")),
            memory=kplus.MemoryResources(request=memory("requests"), limit=memory("limits"))))


def autoscalers_of(target: Construct) -> list[Any]:
    """The kplus HorizontalPodAutoscalers of the app that target `target`."""
    kplus = loaded()
    if kplus is None:
        return []
    return [c for c in target.node.root.node.find_all()
            if isinstance(c, kplus.HorizontalPodAutoscaler) and c.target is target]


# -- rendering through a scratch pod ---------------------------------------------------------

def _render_pod(containers: Sequence[Any]) -> Manifest:
    """The pod spec kplus renders for `containers` (ContainerProps), with the volumes they
    mount, in a scratch App that is never synthesized."""
    import cdk8s_plus_27 as kplus

    scratch = cdk8s.Chart(cdk8s.App(), "scratch")
    kplus.Pod(scratch, "pod", containers=list(containers))
    [pod] = scratch.to_json()
    spec: Manifest = pod["spec"]
    return spec


def container(props: kplus.ContainerProps) -> tuple[Manifest, list[Manifest]]:
    """A container as kplus renders it (its defaults included), and the volumes it mounts."""
    spec = _render_pod([props])
    return spec["containers"][0], list(spec.get("volumes", []))


def env_var(name: str, value: kplus.EnvValue) -> Manifest:
    """One `env` entry: `value` or `valueFrom`, as kplus renders it."""
    import cdk8s_plus_27 as kplus

    spec = _render_pod([kplus.ContainerProps(name="scratch", image="scratch",
                                             env_variables={name: value})])
    entry: Manifest = spec["containers"][0]["env"][0]
    return entry


def volume_mount(path: str, volume: kplus.Volume, *, read_only: bool,
                 sub_path: str | None) -> tuple[Manifest, Manifest]:
    """A volume mount at `path` and the volume it mounts, as kplus renders them."""
    import cdk8s_plus_27 as kplus

    mount = kplus.VolumeMount(path=path, volume=volume, read_only=read_only, sub_path=sub_path)
    spec = _render_pod([kplus.ContainerProps(name="scratch", image="scratch",
                                             volume_mounts=[mount])])
    return spec["containers"][0]["volumeMounts"][0], spec["volumes"][0]


# -- ingress ---------------------------------------------------------------------------------

def ingress_backend(service: Manifest, port: int | None) -> kplus.IngressBackend:
    """A kplus IngressBackend routing to `service` (a Service manifest) on `port`, by default
    its first port. kplus takes only its own Service here, so a stand-in with the same name and
    ports is made in a scratch App, which is never synthesized."""
    import cdk8s_plus_27 as kplus

    ports = service["spec"]["ports"]
    scratch = cdk8s.Chart(cdk8s.App(), "scratch")
    meta = service["metadata"]
    stand_in = kplus.Service(
        scratch, "service",
        metadata=cdk8s.ApiObjectMetadata(name=meta["name"], namespace=meta.get("namespace")),
        ports=[kplus.ServicePort(port=p["port"], name=p.get("name")) for p in ports])
    return kplus.IngressBackend.from_service(
        stand_in, port=ports[0]["port"] if port is None else port)
