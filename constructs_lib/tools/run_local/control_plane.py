"""The part of a cluster's control plane that Dynamo's `kubernetes` discovery backend talks to,
played by run-local for an environment whose pods use it (standard library only).

An environment with `runtime.discovery: kubernetes` has no etcd: its frontend and workers find
each other through the Kubernetes API, as the pods of a ServiceAccount (docs/dynamo-1x-runtime.md,
section 6). What the cluster does for them, run-local does here, decided from the synthesized
manifests alone (:func:`plan`):

- **API server**: the stand-in of kube_api.py, on 127.0.0.1 over TLS (a CA of the run's own,
  made with openssl). It authenticates each pod by a token of its own (the pod's ServiceAccount,
  as a bound token names it) and authorizes every call by the manifests' Roles and RoleBindings
  (:class:`.kube_api.Rbac`): what they do not grant is refused with a 403, as RBAC would, and
  reported, so that a run passes only when the emitted Role is enough. It serves only the
  resources those Roles grant: EndpointSlices and pods from its own knowledge, a custom resource
  from its CustomResourceDefinition in the manifests (objects pruned and validated under its
  schema, kube_schema.py), DynamoWorkerMetadata without validation when its CRD is left to
  NVIDIA's chart.
- **kubelet**: each process's pod (pods.py) is created in the stand-in; its containers get the
  pod's identity and the API server's address (K1, K2 of translate.py) and its ServiceAccount
  token volume, in a mount namespace of the pod's own (K3, mountns.py). Its readiness is
  probed as the kubelet probes it, with the synthesized startup and readiness probes (R6): ready
  once the startup probe has passed and while the readiness probe passes (every `interval`,
  not the manifests' period, which is tuned for a real engine's minutes of loading).
- **EndpointSlice controller**: one EndpointSlice per Service with a selector, carrying the
  Service's labels (so the discovery Service's slice has `nvidia.com/dynamo-discovery-enabled`,
  which the runtime selects slices by), an endpoint per running pod the selector matches, whose
  `ready` follows that pod's readiness; `terminating` once run-local stops the pods.
- **garbage collector**: an object none of whose owners exists is deleted (the DynamoWorker-
  Metadata of a pod that is gone, or one owned by a UID no pod has: the runtime's owner
  reference must name its pod's UID, K1).

The API server's addresses and ports in a slice are the pod's (127.0.0.1) and the port the
Service targets, as declared: the runtime reads only the slice's labels and each endpoint's
`targetRef` and `ready` (section 6), and dials what the DynamoWorkerMetadata says.

What the cluster would refuse before a pod ran is refused here before anything starts
(:attr:`Plan.problems`); what this machine cannot do (no mount namespace, no openssl) raises
:class:`ControlPlaneUnavailable` with why and what would make it work.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import groups, mountns, pods, tls
from .kube_api import (
    ENDPOINT_SLICES,
    PODS,
    ApiCall,
    Identity,
    KubeApiStandIn,
    Object,
    Rbac,
    Resource,
)
from .kube_schema import StructuralSchema
from .processes import LOOPBACK, ManagedProcess, PortAllocator, probe
from .translate import LocalCommand

DISCOVERY_BACKEND_ENV = "DYN_DISCOVERY_BACKEND"
DISCOVERY_BACKEND_FLAG = "--discovery-backend"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
# Resources the stand-in knows without a CRD: what the EndpointSlice controller and the kubelet
# write (and what container-mode discovery would watch).
BUILT_IN = {(r.group, r.plural): r for r in (ENDPOINT_SLICES, PODS)}
# The runtime's custom resource, as constructs_lib/_render/discovery.py emits its CRD (repeated
# here because that module loads cdk8s; tests/e2e/test_run_local_kubernetes.py holds them equal).
WORKER_METADATA_GROUP = "nvidia.com"
WORKER_METADATA_VERSION = "v1alpha1"
WORKER_METADATA_KIND = "DynamoWorkerMetadata"
WORKER_METADATA_PLURAL = "dynamoworkermetadatas"
WORKER_METADATA = (WORKER_METADATA_GROUP, WORKER_METADATA_PLURAL)


class ControlPlaneUnavailable(RuntimeError):
    """This machine cannot provide what the control plane needs, and what would."""


def uses_kubernetes_discovery(container: Mapping[str, Any]) -> bool:
    """The container runs Dynamo with the kubernetes discovery backend."""
    env = {item.get("name"): item.get("value") for item in container.get("env") or []}
    args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    flagged = [args[i + 1] for i, a in enumerate(args[:-1]) if a == DISCOVERY_BACKEND_FLAG]
    flagged += [a.partition("=")[2] for a in args if a.startswith(DISCOVERY_BACKEND_FLAG + "=")]
    return env.get(DISCOVERY_BACKEND_ENV) == "kubernetes" or "kubernetes" in flagged


def _workloads(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [d for d in documents if d.get("kind") in ("Deployment", "StatefulSet", groups.KIND)]


def _containers(pod: pods.LocalPod) -> list[dict[str, Any]]:
    return list(pod.spec.get("containers") or [])


def token_mounted(pod: pods.LocalPod, documents: Iterable[Mapping[str, Any]]) -> bool:
    """automountServiceAccountToken: the pod's, else its ServiceAccount's, else true."""
    if pod.automount_token is not None:
        return pod.automount_token
    for document in documents:
        if document.get("kind") == "ServiceAccount" and \
                document["metadata"]["name"] == pod.service_account and \
                document["metadata"].get("namespace", "default") == pod.namespace:
            return bool(document.get("automountServiceAccountToken", True))
    return True


@dataclass(frozen=True)
class Plan:
    """What run-local plays of the control plane for these manifests."""

    documents: list[dict[str, Any]]
    rbac: Rbac
    resources: list[Resource]
    """What the stand-in serves: what the Roles bound to the pods' ServiceAccounts grant."""
    services: list[dict[str, Any]]
    """Services with a selector: each gets an EndpointSlice."""
    notes: list[str] = field(default_factory=list)
    """What the run-local report says about the plan (a CRD left to NVIDIA's chart, a granted
    resource the stand-in does not serve)."""
    problems: list[str] = field(default_factory=list)
    """What the cluster would refuse, or the runtime could not work with, before a pod runs."""
    unchecked: list[str] = field(default_factory=list)
    """Rules of the CRDs' schemas that the stand-in does not evaluate."""
    mounts_tokens: bool = True
    """Some pod mounts its ServiceAccount token (K3): the control plane needs mount
    namespaces."""


def resource_of_crd(crd: Mapping[str, Any]) -> tuple[Resource, StructuralSchema]:
    spec = crd["spec"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    version = next((v for v in served if v.get("storage")), served[0])
    schema = StructuralSchema.of(crd, version["name"])
    return Resource(spec["group"], version["name"], spec["names"]["plural"],
                    spec["names"]["kind"], validate=schema.errors, prune=schema.prune), schema


def plan(documents: Sequence[Mapping[str, Any]]) -> Plan | None:
    """The control plane for `documents` (a synthesized environment's manifests), or None when
    no pod uses kubernetes discovery."""
    docs = [dict(d) for d in documents]
    users = [pod for pod in (pods.pod_of(w, 0, uid="-") for w in _workloads(docs))
             if any(uses_kubernetes_discovery(c) for c in _containers(pod))]
    if not users:
        return None
    problems: list[str] = []
    accounts = {(d["metadata"].get("namespace", "default"), d["metadata"]["name"])
                for d in docs if d.get("kind") == "ServiceAccount"}
    for pod in users:
        if not token_mounted(pod, docs):
            problems.append(
                f"{pod.workload}: its pods use kubernetes discovery but mount no ServiceAccount "
                "token (automountServiceAccountToken false): the runtime could not reach the "
                "API server")
        if pod.service_account != "default" and \
                (pod.namespace, pod.service_account) not in accounts:
            problems.append(
                f"{pod.workload}: its ServiceAccount {pod.service_account} is not in the "
                "manifests: the cluster would not create its pods")
    rbac = Rbac(docs)
    granted: set[tuple[str, str]] = set()
    for pod in users:
        identity = Identity.service_account(pod.namespace, pod.service_account)
        granted |= {(g, r) for g, r, _ in rbac.granted(identity, pod.namespace)}
    crds = {(d["spec"]["group"], d["spec"]["names"]["plural"]): d for d in docs
            if d.get("kind") == "CustomResourceDefinition"}
    known = {*BUILT_IN, *crds, WORKER_METADATA}
    wanted = sorted({key for g, r in granted for key in known
                     if g in ("*", key[0]) and r in ("*", key[1])}
                    | {(g, r) for g, r in granted if "*" not in (g, r)})
    resources: list[Resource] = []
    notes: list[str] = []
    unchecked: list[str] = []
    for key in wanted:
        group, plural = key
        if key in crds:
            resource, schema = resource_of_crd(crds[key])
            resources.append(resource)
            unchecked += [f"CRD {crds[key]['metadata']['name']}: {u}" for u in schema.unchecked]
        elif key in BUILT_IN:
            resources.append(BUILT_IN[key])
        elif key == WORKER_METADATA:
            resources.append(Resource(group, WORKER_METADATA_VERSION, plural,
                                      WORKER_METADATA_KIND))
            notes.append(f"no CRD {plural}.{group} in the manifests (NVIDIA's CRD "
                         "chart installs it in the cluster): its objects are not validated")
        else:
            notes.append(f"the Roles grant {plural}.{group or 'core'}, which the stand-in does "
                         "not serve: a call to it is answered 404 and reported")
    services = [d for d in docs if d.get("kind") == "Service"
                and (d.get("spec") or {}).get("selector")]
    return Plan(docs, rbac, resources, services, notes, problems, unchecked,
                mounts_tokens=any(token_mounted(pod, docs) for pod in users))


def _target_port(service_port: Mapping[str, Any], pod: pods.LocalPod) -> int | None:
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in _containers(pod):
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


@dataclass(frozen=True)
class Endpoint:
    """A pod as an EndpointSlice lists it."""

    pod: pods.LocalPod
    ready: bool
    terminating: bool = False
    serving: bool | None = None
    """Whether its readiness probe passes (`ready` is that and not terminating); default
    `ready`."""


def selected(service: Mapping[str, Any], pod: pods.LocalPod) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and pod.namespace == service["metadata"].get("namespace", "default") \
        and all(pod.labels.get(k) == v for k, v in selector.items())


def endpoint_slice(service: Mapping[str, Any], endpoints: Sequence[Endpoint],
                   name: str | None = None) -> Object:
    """What the EndpointSlice controller writes for `service`: its labels and the controller's
    own, an endpoint per pod of `endpoints` its selector matches (the others are left out), and
    the ports it targets, resolved on those pods."""
    meta = service["metadata"]
    chosen = [e for e in endpoints if selected(service, e.pod)]
    ports = []
    for port in service["spec"].get("ports") or []:
        number = next((n for e in chosen if (n := _target_port(port, e.pod)) is not None), None)
        if number is not None:
            ports.append({"name": port.get("name", ""), "port": number,
                          "protocol": port.get("protocol", "TCP")})
    labels = {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"],
              MANAGED_BY_LABEL: CONTROLLER}
    if service["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    return {
        "metadata": {
            "name": name or f"{meta['name']}-{pods.generated_suffix(meta['name'])}",
            "namespace": meta.get("namespace", "default"), "labels": labels,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                 "uid": meta.get("uid", ""), "controller": True,
                                 "blockOwnerDeletion": True}] if meta.get("uid") else []},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [LOOPBACK],
                       "conditions": {"ready": e.ready and not e.terminating,
                                      "serving": e.ready if e.serving is None else e.serving,
                                      "terminating": e.terminating},
                       "nodeName": "localhost",
                       "targetRef": {"kind": "Pod", "name": e.pod.name,
                                     "namespace": e.pod.namespace, "uid": e.pod.uid}}
                      for e in chosen],
        "ports": ports,
    }


@dataclass
class _Probed:
    """A pod the kubelet part runs: its process and probes, and what they said."""

    pod: pods.LocalPod
    process: str
    managed: ManagedProcess
    startup_url: str | None
    readiness_url: str | None
    started_at: float
    started: bool = False
    ready: bool = False
    terminating: bool = False
    gone: bool = False
    ready_after: float | None = None
    """Seconds from the process's start to its first ready."""


@dataclass
class Report:
    lines: list[str]
    failures: list[str]


class ControlPlane:
    """The stand-in API server, the kubelet's part, the EndpointSlice controller and the
    garbage collector for one local run (see the module docstring). Start it from the thread
    that starts the processes, before any of them; :meth:`stop` after they stopped."""

    def __init__(self, plan: Plan, workdir: Path, ports: PortAllocator,
                 interval: float = 0.1) -> None:
        self.plan = plan
        self.workdir = Path(workdir)
        self.ports = ports
        self.interval = interval
        self.api: KubeApiStandIn | None = None
        self.mounts: mountns.PodMountNamespaces | None = None
        self.slices: dict[str, str] = {}
        """Service name -> the name of its EndpointSlice."""
        self._ca = ""
        self._pods: dict[str, _Probed] = {}
        self._admitted: dict[str, pods.LocalPod] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._prober: threading.Thread | None = None
        self._exit = contextlib.ExitStack()
        self._early_collections: list[tuple[Object, str]] = []
        """Objects the garbage collector deleted while the pod they name as owner ran."""
        self._errors: dict[str, float] = {}

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Raises :class:`ControlPlaneUnavailable` (having started nothing) when this machine
        cannot run it."""
        try:
            if self.plan.mounts_tokens:
                self.mounts = self._exit.enter_context(mountns.PodMountNamespaces())
        except mountns.MountNamespaceUnavailable as exc:
            raise ControlPlaneUnavailable(
                "kubernetes discovery: the runtime reads its ServiceAccount token from "
                f"{mountns.SERVICE_ACCOUNT_DIR}, a path no variable moves, which run-local "
                f"provides in a private mount namespace per pod, and it cannot make one here "
                f"({exc}): run as root, or as a user where unprivileged user namespaces are "
                "allowed and without --host-network") from exc
        try:
            self._start_api()
        except BaseException:
            self._exit.close()
            raise
        return self

    def _start_api(self) -> None:
        if tls.OPENSSL is None:
            raise ControlPlaneUnavailable(
                "kubernetes discovery: the stand-in API server speaks TLS, as in-cluster "
                "clients require, and run-local makes its certificate with openssl, which is "
                "not installed (Debian: apt-get install openssl)")
        try:
            ca = tls.certificate_authority(self.workdir / "ca", "run-local-kubernetes-ca",
                                           key="ec")
            server = tls.tls_secret(ca, self.workdir / "apiserver", "kube-apiserver",
                                    usages=["serverAuth"], key="ec",
                                    dns_names=["kubernetes", "kubernetes.default",
                                               "kubernetes.default.svc", "localhost"],
                                    ip_addresses=[LOOPBACK])
        except subprocess.CalledProcessError as exc:
            said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
            raise ControlPlaneUnavailable(
                f"kubernetes discovery: openssl could not make the stand-in API server's "
                f"certificate ({' '.join(exc.cmd[1:3])}: {said[-1] if said else exc}): an "
                "openssl with P-256 keys (OpenSSL 1.1 or later) would") from exc
        self._ca = (ca / "ca.crt").read_text()
        self.api = KubeApiStandIn(tokens={}, cert_file=str(server / "tls.crt"),
                                  key_file=str(server / "tls.key"),
                                  resources=self.plan.resources, authorize=self.plan.rbac,
                                  host=LOOPBACK, port=self.ports.allocate())
        self.api.start()
        self._exit.callback(self.api.stop)
        self._sync()
        self._prober = threading.Thread(target=self._probe_loop, name="run-local-kubelet",
                                        daemon=True)
        self._prober.start()

    @property
    def address(self) -> tuple[str, int]:
        assert self.api is not None, "the control plane is not started"
        return self.api.host, self.api.port

    def terminating(self) -> None:
        """The pods are being deleted: their endpoints go not ready and terminating, as the
        controller marks them before the kubelet stops the containers."""
        with self._lock:
            for probed in self._pods.values():
                probed.terminating = True
        self._sync()

    def stop(self) -> None:
        """After the processes stopped: the pods are deleted and their garbage collected; then
        the API server stops and the calling thread leaves the mount namespaces. Safe to call
        more than once."""
        self._stopping.set()
        if self._prober is not None:
            self._prober.join(timeout=5)
            self._prober = None
        if self.api is not None:
            self._observe_reporting()
        self._exit.close()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the kubelet's part ----------------------------------------------------------------

    def admit(self, pod: pods.LocalPod) -> mountns.TokenVolume | None:
        """Create `pod` in the API server; its token volume when it mounts one (K3)."""
        assert self.api is not None, "the control plane is not started"
        self.api.put(PODS, pod.manifest())
        with self._lock:
            self._admitted[pod.name] = pod
        if not token_mounted(pod, self.plan.documents):
            return None
        token = secrets.token_urlsafe(32)
        self.api.tokens[token] = Identity.service_account(pod.namespace, pod.service_account,
                                                          pod.name)
        return mountns.TokenVolume(token, self._ca, pod.namespace)

    @contextlib.contextmanager
    def pod_namespace(self, volume: mountns.TokenVolume | None) -> Iterator[None]:
        """The calling thread in the pod's mount namespace (K3) while the body starts its
        processes; nothing changes for a pod without a token volume."""
        if volume is None:
            yield
            return
        if self.mounts is None:
            raise ValueError("a pod with a token volume, but the plan mounts no tokens")
        with self.mounts.pod(volume):
            yield

    def running(self, pod: pods.LocalPod, command: LocalCommand,
                process: ManagedProcess) -> None:
        """`pod`'s container runs as `process`: from now on its probes decide its endpoint."""
        with self._lock:
            self._pods[pod.name] = _Probed(pod, command.name, process, command.startup_url,
                                           command.readiness_url, time.monotonic())
        self._sync()

    def _probe_loop(self) -> None:
        while not self._stopping.wait(self.interval):
            self._observe_reporting()

    def _observe_reporting(self) -> None:
        try:
            self._observe()
        except Exception as exc:
            # One failed round must not stop the probing; the report fails the run with it.
            with self._lock:
                self._errors.setdefault(f"{type(exc).__name__}: {exc}", time.monotonic())

    def _observe(self) -> None:
        changed = False
        with self._lock:
            probed = [p for p in self._pods.values() if not p.gone]
        for item in probed:
            if not item.managed.running():
                item.gone = True
                changed = True
                continue
            if not item.started:
                item.started = item.startup_url is None or probe(item.startup_url)[0]
            ready = item.started and (item.readiness_url is None or
                                      probe(item.readiness_url)[0])
            if ready != item.ready:
                item.ready, changed = ready, True
                if ready and item.ready_after is None:
                    item.ready_after = time.monotonic() - item.started_at
        if changed:
            self._sync()
        assert self.api is not None
        collected = self.api.collect_garbage()
        with self._lock:
            for obj, why in self.api.collected[len(self.api.collected) - len(collected):]:
                # Owned by a pod that still runs, under another UID: the runtime's owner
                # reference is wrong, and the cluster would delete the object as it stands.
                owners = {o.get("name") for o in obj["metadata"].get("ownerReferences") or []}
                if owners & set(self._admitted):
                    self._early_collections.append((obj, why))

    # -- the EndpointSlice controller ------------------------------------------------------

    def _sync(self) -> None:
        assert self.api is not None
        with self._lock:
            for probed in self._pods.values():
                if probed.gone and probed.pod.name in self._admitted:
                    del self._admitted[probed.pod.name]
                    with contextlib.suppress(KeyError):
                        self.api.delete(PODS, probed.pod.namespace, probed.pod.name)
            endpoints = [Endpoint(p.pod, p.ready, p.terminating) for p in self._pods.values()
                         if not p.gone]
            for service in self.plan.services:
                wanted = endpoint_slice(service, endpoints, self.slices.get(
                    service["metadata"]["name"]))
                name = service["metadata"]["name"]
                self.slices[name] = wanted["metadata"]["name"]
                current = [s for s in self.api.objects(ENDPOINT_SLICES)
                           if s["metadata"]["name"] == self.slices[name]]
                if not current or _differs(current[0], wanted):
                    self.api.put(ENDPOINT_SLICES, wanted)

    # -- what it saw -----------------------------------------------------------------------

    def report(self) -> Report:
        """What the run-local report says of the control plane, and what fails the run."""
        assert self.api is not None
        calls = list(self.api.calls)
        by_pod = {p.pod.name: p.process for p in self._pods.values()}
        lines = [f"Kubernetes API: a stand-in API server in run-local on "
                 f"{LOOPBACK}:{self.api.port} (TLS, a token per pod), with the EndpointSlice "
                 "controller and the garbage collector; "
                 + (f"serving {_resources(self.plan.resources)}" if self.plan.resources
                    else "serving nothing (no Role grants anything)")]
        lines += [f"  {note}" for note in self.plan.notes]
        failures: list[str] = []
        for user, made in _by_user(calls).items():
            lines.append("  " + self._account_line(user, made, by_pod))
        failures += _failed_calls(calls, by_pod)
        for service, name in sorted(self.slices.items()):
            lines.append("  " + self._slice_line(service, name))
        lines += ["  " + line for line in self._object_lines(calls, by_pod)]
        for obj, why in self._early_collections:
            meta = obj["metadata"]
            failures.append(f"{obj.get('kind')} {meta['name']} was deleted by the garbage "
                            f"collector while the pod it names as owner ran: {why}")
        failures += [f"the kubelet and controller part failed: {error}" for error in self._errors]
        for text in self.plan.unchecked:
            lines.append(f"  not evaluated: {text}")
        return Report(lines, failures)

    def _account_line(self, user: str, made: list[ApiCall], by_pod: Mapping[str, str]) -> str:
        namespace, _, account = user.removeprefix("system:serviceaccount:").partition(":")
        identity = Identity.service_account(namespace, account)
        granted = self.plan.rbac.granted(identity, namespace)
        roles = sorted({f"{role['kind']} {role['metadata']['name']}"
                        for role, _ in self.plan.rbac.rules(identity, namespace)})
        used = {(c.group, c.resource, verb) for c in made if c.allowed for verb in c.verbs}
        refused = [c for c in made if not c.allowed]
        processes = sorted({by_pod.get(c.pod, c.pod) for c in made})
        text = (f"ServiceAccount {account}: {len(made)} calls by {', '.join(processes)}, "
                + (f"{len(refused)} refused (not granted by {', '.join(roles) or 'any Role'})"
                   if refused else f"each allowed by {', '.join(roles)}")
                + f"; used {_verbs(used)}")
        unused = granted - used
        return text + (f"; granted and not used: {_verbs(unused)}" if unused else "")

    def _slice_line(self, service: str, name: str) -> str:
        with self._lock:
            probed = [p for p in self._pods.values() if selected(
                next(s for s in self.plan.services if s["metadata"]["name"] == service), p.pod)]
        listed = ", ".join(
            f"{p.process} " + (f"ready {p.ready_after:.1f} s after it started"
                               if p.ready_after is not None else "never ready")
            for p in probed) or "no pods"
        return f"EndpointSlice {name} of Service {service}: {listed}, as its readiness probe said"

    def _object_lines(self, calls: list[ApiCall], by_pod: Mapping[str, str]) -> list[str]:
        lines = []
        applies: dict[tuple[str, str, str], list[ApiCall]] = {}
        for call in calls:
            if call.method == "PATCH" and call.allowed:
                applies.setdefault((call.group, call.resource, call.name), []).append(call)
        resources = {(r.group, r.plural): r for r in self.plan.resources}
        collected = {obj["metadata"]["name"] for obj, _ in self.api.collected} if self.api \
            else set()
        for (group, plural, name), made in sorted(applies.items()):
            resource = resources.get((group, plural))
            kind = resource.kind if resource else plural
            checked = "valid under its CRD" if resource and resource.validate else \
                "not validated (no CRD in the manifests)"
            ok = sum(1 for c in made if 200 <= c.status < 300)
            owner = by_pod.get(made[0].pod, made[0].pod)
            text = (f"{kind} {name}: {ok} of {len(made)} applies by {owner} accepted, "
                    f"{checked}")
            if name in collected and \
                    name not in {o["metadata"]["name"] for o, _ in self._early_collections}:
                text += "; deleted with its pod by the garbage collector"
            lines.append(text)
        return lines


def _differs(current: Object, wanted: Object) -> bool:
    keys = ("addressType", "endpoints", "ports")
    return any(current.get(k) != wanted.get(k) for k in keys) or \
        current["metadata"].get("labels") != wanted["metadata"].get("labels")


def _resources(resources: Sequence[Resource]) -> str:
    return ", ".join(f"{r.plural}.{r.group or 'core'}" for r in resources)


def _verbs(items: Iterable[tuple[str, str, str]]) -> str:
    grouped: dict[tuple[str, str], set[str]] = {}
    for group, resource, verb in items:
        grouped.setdefault((group, resource), set()).add(verb)
    return "; ".join(f"{', '.join(sorted(verbs))} {resource}.{group or 'core'}"
                     for (group, resource), verbs in sorted(grouped.items())) or "nothing"


def _by_user(calls: Sequence[ApiCall]) -> dict[str, list[ApiCall]]:
    found: dict[str, list[ApiCall]] = {}
    for call in calls:
        found.setdefault(call.user or "<no token>", []).append(call)
    return found


def _failed_calls(calls: Sequence[ApiCall], by_pod: Mapping[str, str]) -> list[str]:
    """One line per distinct failed call (refused, unknown, invalid) and per field an apply
    wrote that its resource drops."""
    counted: dict[str, int] = {}
    for call in calls:
        who = by_pod.get(call.pod, call.pod or call.user or "a client without a token")
        if not 200 <= call.status < 300:
            if call.status == 403:
                why = f"refused: {call.message}; the Roles do not grant it"
            elif call.status == 404:
                why = "answered 404: the stand-in serves only what the Roles grant"
            else:
                why = f"answered {call.status}: {call.message}"
            counted[f"{who}: {call.method} {call.path} {why}"] = \
                counted.get(f"{who}: {call.method} {call.path} {why}", 0) + 1
        for warning in call.warnings:
            line = (f"{who}: {call.method} {call.path}: its CRD drops a field the runtime "
                    f"wrote ({warning}), which the object then lacks in the cluster")
            counted[line] = counted.get(line, 0) + 1
    return [line + (f" ({count} times)" if count > 1 else "") for line, count in counted.items()]
