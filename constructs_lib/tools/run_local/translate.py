"""Turn a synthesized Kubernetes container into a command that runs on 127.0.0.1.

Input: a container dict as it appears in the synthesized YAML (``command``, ``args``,
``env``, ``ports``, probes). Output: a :class:`LocalCommand` (argv, complete env, the
local port of each container port, probe URLs) and, in ``notes``, every rule applied.

The rules, and why each is needed (measured with ai-dynamo 1.6.1, no GPU):

Every container
  R1  Service host names (``<release>-etcd:2379``, also FQDN forms such as
      ``<release>-etcd.ns.svc.cluster.local:2379``) in env values and args become
      ``127.0.0.1:<local port>`` of the process started for that Service. There is no
      cluster DNS locally.
  R2  Every declared container port gets a distinct free local port in 20000-32767:
      several pods use the same port (9090, 8000) and would collide on one host, and
      Dynamo parses ``DYN_SYSTEM_PORT`` as a signed 16-bit number. A declared port that
      no rule below rewrites is an error for Dynamo containers (it would still be bound
      on its original number).
  R3  ``fieldRef`` env values of the pod's place resolve to local stand-ins (pod IP and host
      IP = 127.0.0.1, as for ``DYN_TCP_RPC_HOST`` / ``DYN_EVENT_PLANE_HOST`` of RDMA workers;
      ``spec.nodeName`` = localhost); those of its identity follow K1; other ``valueFrom``
      sources are rejected.
  R4  After translation no argv or env value may still contain ``0.0.0.0`` or ``[::]``.
  R5  ``$(VAR)`` references in command, args and env values are expanded from the
      container env (env values from the variables defined before them), as the kubelet does.
  R6  Probes: ``httpGet`` (HTTP, the path as written, e.g. the frontend's
      ``/v1/models/<served name>/ready``) and ``tcpSocket`` become URLs on the local port;
      startup, liveness and readiness probes are waited for in that order. ``exec`` and
      ``grpc`` probes, and ``httpGet`` over HTTPS, are refused (nothing runs them locally).
  L1  A pod of a LeaderWorkerSet group (``group``): the set's controller (LWS 0.6 and
      later) puts ``LWS_LEADER_ADDRESS``, ``LWS_GROUP_SIZE`` and ``LWS_WORKER_INDEX`` first in
      every container's env, replacing variables of those names, so R5 expands them in the
      arguments and in later env values. Locally the leader's address is 127.0.0.1 (in the
      cluster, the leader pod's name under the set's headless Service), the group size the
      set's ``size`` and the index the pod's rank (0: the leader).

Everything a translation refuses (a manifest it cannot run) raises :class:`CannotRunLocally`.

The pod (what the kubelet and the control plane give a pod; run-local plays both for an
environment whose pods use Dynamo's kubernetes discovery, see control_plane.py)
  K1  The downward API's pod identity: ``fieldRef`` ``metadata.name``, ``metadata.namespace``
      and ``metadata.uid`` (kubernetes discovery's ``POD_NAME``, ``POD_NAMESPACE``,
      ``POD_UID``) resolve to the :class:`PodIdentity` the caller gives: the name its
      controller would give the pod, the workload's namespace, a UID (pods.py). The stand-in
      API server and the EndpointSlice controller know the pod by the same three, which must
      agree: the runtime names its DynamoWorkerMetadata after ``POD_NAME``, owns it by
      ``POD_UID`` (the garbage collector deletes it when no such pod exists) and counts it only
      while an EndpointSlice endpoint whose ``targetRef`` is that pod is ready. Without an
      identity, the pod is the process's ``pod_name`` in ``default``, with a UID derived from
      the name.
  K2  With a control plane (``LocalContext.kubernetes_api``), every container gets the
      kubelet's ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``, the stand-in API
      server's 127.0.0.1 and port, before its own env (its own values of those names win, and
      R5 can expand them, as in the cluster): the two variables kube-rs 2.0.1's in-cluster
      configuration reads. No ``KUBECONFIG`` reaches a process (only ``PASSTHROUGH_ENV`` of
      processes.py is passed on) and ``HOME`` is the work directory's (D3), so a kubeconfig of
      this machine, which kube-rs would prefer to the in-cluster configuration, is never read.
  K3  The ServiceAccount token volume (a pod whose ``automountServiceAccountToken``, or its
      ServiceAccount's, is not false): ``token``, ``ca.crt`` and ``namespace`` at
      ``/var/run/secrets/kubernetes.io/serviceaccount``, the path kube-rs reads them from
      (fixed in its code: no variable moves it; ``KUBE_RS_DEBUG_OVERRIDE_URL`` changes only the
      URL). A token of the pod's own, the stand-in's CA, the pod's namespace. Not an env or
      argv rule: the stack starts the process in a private mount namespace of its own holding
      those files, leaving the machine's file system as it is (mountns.py).

Dynamo containers (``python3 -m dynamo.*``)
  D1  ``python3``/``python`` becomes the Dynamo venv's interpreter (the image's python
      has Dynamo; locally the dedicated venv does).
  D2  The request and event planes stay as the manifest says (``DYN_REQUEST_PLANE``,
      ``DYN_EVENT_PLANE``, ``--request-plane``, ``--event-plane``: tcp and zmq for the
      1.x Deployments, NATS only where the manifest sets it). The bind and advertise
      addresses are 127.0.0.1 (``LOOPBACK_ENV``: the pod IP locally): the system (health)
      server, TCP request plane, TCP response stream, event plane and mock bootstrap
      server. The zmq event plane still binds its PUB sockets on 0.0.0.0 whatever
      ``DYN_EVENT_PLANE_HOST`` says, so the run happens in a private network namespace
      that holds only ``lo`` (:mod:`.netns`). Fallback where no such namespace can be made
      (``LocalContext.private_network`` false): ``DYN_EVENT_PLANE=nats`` (and
      ``--event-plane nats``) with ``NATS_SERVER`` pointing at a loopback nats-server that
      run-local starts itself when the environment deploys none. That differs from the
      cluster; the run says so.
  D3  ``HF_HUB_OFFLINE=1`` (nothing may be downloaded) and ``HOME=<workdir>/home`` (the
      frontend caches model cards under ``~/.cache/dynamo``; keep that out of the user's
      home). ``DYN_SDK_DISABLE_ANSI_LOGGING=1`` keeps the log files plain text.
  D4  ``DYN_SYSTEM_PORT`` is rewritten per R2 (the worker's ``system`` port).

Frontend (``-m dynamo.frontend``)
  F1  ``--http-port`` / ``DYN_HTTP_PORT`` rewritten per R2; when neither is given the
      frontend's default 8000 is made explicit with ``--http-port``.
  F2  ``--http-host 127.0.0.1`` / ``DYN_HTTP_HOST=127.0.0.1`` (default is 0.0.0.0).
  F3  ``--model-path`` (if given) points at the tiny model folder. Every other flag
      (``--router-mode``, ``--no-router-kv-events``, ``--migration-limit``, ...) is kept.

vLLM worker (``-m dynamo.vllm``) becomes the mock engine (``-m dynamo.mocker``)
  W1  ``--model X`` -> ``--model-path <tiny model folder>``: the mocker needs only a
      tokenizer and config.json, and cannot download.
  W2  ``--served-model-name N`` -> ``--model-name N`` (first name if several): the name
      clients use in requests.
  W3  Flags the mocker accepts with the same meaning are kept (``MOCKER_FLAGS``): role
      (``--disaggregation-mode``), block size (the KV router hashes with it), scheduler
      limits, prefix caching, data parallelism, planes. All other vLLM engine flags (tensor
      parallelism, ``--kv-transfer-config``, GPU memory, ...) are dropped: the mocker
      rejects unknown flags. Each dropped flag is listed in ``notes``. A flag's values
      are the following tokens that do not start with ``--``; vLLM's ``--a_b`` spelling
      is read as ``--a-b``.
  W4  ``--speedup-ratio 0`` unless given: no simulated compute delay.
  W5  KV events as vLLM 0.31 + dynamo.vllm 1.6.1 publish them: only with
      ``--kv-events-config`` (JSON or the dotted ``--kv-events-config.key value`` form)
      whose ``enable_kv_cache_events`` is true, publisher zmq (the default), prefix caching
      on. The mocker takes no ``--kv-events-config``; its equivalent is
      ``--zmq-kv-events-ports P``: the mock engine binds a ZMQ PUB at P in vLLM's wire
      format and a relay subscribes at 127.0.0.1:P and republishes on the event plane,
      the path vLLM's engine and dynamo.vllm's relay take in the pod. P is a free local
      port for the endpoint's port (one per data-parallel rank, consecutive, as vLLM
      offsets them); ``replay_endpoint`` likewise becomes ``--zmq-replay-ports``; the
      other keys (``topic``: the relay subscribes to every topic) have no mocker
      equivalent. The mock sink binds 0.0.0.0: without a private namespace (D2 fallback)
      the flag is dropped and the mocker publishes on the event plane directly, its
      default. A mock decode worker publishes no KV events whatever it is given (the
      mocker's rule; the 1.x decode Deployments set none, and the KV router expects none
      from decode workers).
  W6  An aggregated or prefill worker that publishes no KV events by W5's test gets
      ``--no-enable-prefix-caching``: the mocker publishes KV events by default and this
      is its only switch to stop (its card then says so, as vLLM's does, and a KV router
      reports the worker in ``dynamo_component_router_kv_event_source_mismatch_workers``).
      It also stops the mock engine's prefix reuse, which only changes simulated timing.
  W7  Multi-node ranks (vLLM's mp executor across the pods of a LeaderWorkerSet group, L1).
      Seen from Dynamo a group is one worker: its leader (``--node-rank 0``) registers,
      serves the request plane, publishes the KV events and answers the probes, while the
      headless ranks (``--headless``) only run vLLM's engine processes for it (dynamo.vllm
      1.6.1 returns before starting the Dynamo runtime). So the leader becomes one mocker
      and ``--nnodes``, ``--node-rank``, ``--master-addr``, ``--master-port`` and
      ``--distributed-executor-backend`` are dropped; the mocker has no multi-node notion to
      give them to (``--num-workers`` starts that many separately registered workers, which
      is what a group is not; ``--ais-tp-size`` only feeds its AIS latency model, unused with
      W4). The master port (a declared container port) stays unbound: the mock engine opens
      no torch rendezvous, and no follower runs to join one. Refused: a headless rank or one
      other than 0 (a mocker in its place would register a second worker for the same
      engine; the followers are checked instead, see groups.py), ``--nnodes``
      that is not the group's size, and ``--nnodes`` above 1 outside a group (its other ranks
      have nowhere to run).

etcd (``etcd ...``) and NATS (``nats-server ...``)
  E1  etcd URL flags (``--listen-client-urls``, ``--advertise-client-urls``,
      ``--listen-peer-urls``, ``--initial-advertise-peer-urls``, ``--initial-cluster``,
      ``--listen-metrics-urls``), as flags or ``ETCD_*`` env, point at 127.0.0.1 and the
      local ports of 2379/2380 (by the port in the original URL); ``--data-dir`` goes
      under the work directory.
  N1  ``nats-server``: the config file (the ConfigMap's text, written to the work
      directory) is kept, with its ``store_dir`` pointed at the work directory;
      command-line flags override the rest: ``-a 127.0.0.1 -p <client> -m <monitor>
      -P <pidfile> -js`` (and ``-sd <dir>`` when the file has no ``store_dir``).
      Cluster/leafnode blocks in the config are not rewritten: the caller's loopback
      check catches them. Started only when the manifests deploy NATS, or for D2's
      fallback (:data:`FALLBACK_NATS`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .processes import LOOPBACK, PortAllocator

# D2/D3: environment set on every Dynamo process, whatever the manifest says. The planes
# themselves are not here: they stay as the manifest says (D2).
LOOPBACK_ENV: dict[str, str] = {
    "DYN_SYSTEM_HOST": LOOPBACK,  # worker /live, /health, /metrics server
    "DYN_TCP_RPC_HOST": LOOPBACK,  # TCP request plane server (workers)
    "DYN_TCP_RESPONSE_STREAM_HOST": LOOPBACK,  # response stream server (frontend)
    "DYN_EVENT_PLANE_HOST": LOOPBACK,  # advertised event-plane address
    "DYN_HTTP_RPC_HOST": LOOPBACK,  # mocker prefill bootstrap address, if enabled
    "HF_HUB_OFFLINE": "1",
    "DYN_SDK_DISABLE_ANSI_LOGGING": "1",
}

# D2 fallback / N1: the nats-server run-local starts when it has no private network namespace
# and the environment deploys no NATS (a container as the translation reads it).
FALLBACK_NATS: dict[str, Any] = {
    "name": "nats",
    "command": ["nats-server"],
    "ports": [{"name": "client", "containerPort": 4222},
              {"name": "monitor", "containerPort": 8222}],
}

# W5: vLLM's KV-event settings (KVEventsConfig, vLLM 0.31) and defaults.
KV_EVENTS_FLAG = "--kv-events-config"
KV_EVENTS_DEFAULT_ENDPOINT = "tcp://*:5557"

# W3: vLLM flags that the mocker accepts with the same meaning (checked against
# ``python -m dynamo.mocker --help`` and its argument validation, ai-dynamo 1.6.1).
MOCKER_FLAGS = frozenset(
    {
        "--disaggregation-mode", "--is-prefill-worker", "--is-decode-worker", "--endpoint",
        "--block-size", "--max-model-len", "--max-num-seqs", "--max-num-batched-tokens",
        "--enable-prefix-caching", "--no-enable-prefix-caching", "--enable-chunked-prefill",
        "--no-enable-chunked-prefill", "--data-parallel-size", "--kv-cache-dtype",
        "--discovery-backend", "--request-plane", "--response-plane", "--event-plane",
        "--speedup-ratio",  # mocker-only, honoured if a manifest already sets it
    }
)  # fmt: skip

ETCD_URL_FLAGS = (
    "--listen-client-urls",
    "--advertise-client-urls",
    "--listen-peer-urls",
    "--initial-advertise-peer-urls",
    "--initial-cluster",
    "--listen-metrics-urls",
)

NATS_CONFIG_FLAGS = ("-c", "--config")
# Flags that N1 sets itself (each takes a value): dropped from the manifest's command.
NATS_LOCAL_FLAGS = (
    "-a", "--addr", "--net", "-p", "--port", "-m", "--http_port", "-sd", "--store_dir",
    "-P", "--pid",
)  # fmt: skip

MAX_LOCAL_PORT = 32767


class CannotRunLocally(ValueError):
    """A container the translation cannot run on 127.0.0.1, and why."""


# L1: what a LeaderWorkerSet's controller puts in every container of a group's pods.
LWS_LEADER_ADDRESS = "LWS_LEADER_ADDRESS"
LWS_GROUP_SIZE = "LWS_GROUP_SIZE"
LWS_WORKER_INDEX = "LWS_WORKER_INDEX"

# W7: vLLM's multi-node flags (the mp executor), each dropped for the mocker. ``--headless``
# takes no value; the others one.
RANK_FLAGS = ("--nnodes", "--node-rank", "--master-addr", "--master-port", "--headless",
              "--distributed-executor-backend")


@dataclass(frozen=True)
class GroupPod:
    """A pod of a LeaderWorkerSet group (L1, W7)."""

    size: int
    """Pods per group: the set's ``leaderWorkerTemplate.size``."""
    index: int = 0
    """The pod's rank in its group; 0 is the leader."""


@dataclass(frozen=True)
class PodIdentity:
    """Who a pod is (K1): what the downward API gives its containers."""

    name: str
    namespace: str = "default"
    uid: str = ""
    """Empty: derived from the namespace and name (:meth:`resolved`)."""

    def resolved(self) -> PodIdentity:
        if self.uid:
            return self
        return PodIdentity(self.name, self.namespace,
                           str(uuid.uuid5(uuid.NAMESPACE_URL,
                                          f"run-local:pod/{self.namespace}/{self.name}")))


@dataclass
class LocalContext:
    """What a translation needs to know about the local run.

    ``services`` maps a Kubernetes Service ``(name, port)`` to the local port of the process
    that serves it; register the etcd and NATS processes before translating the Dynamo
    containers (see :meth:`expose`).
    """

    python: str
    model_dir: Path
    workdir: Path
    ports: PortAllocator = field(default_factory=PortAllocator)
    services: dict[tuple[str, int], int] = field(default_factory=dict)
    private_network: bool = True
    """The processes run in a network namespace of their own holding only ``lo`` (D2); when
    false, D2's fallback applies and ``nats_url`` must name a loopback NATS."""
    nats_url: str | None = None
    kubernetes_api: tuple[str, int] | None = None
    """The stand-in API server's address, when run-local plays the control plane (K2)."""

    def expose(self, service: str, port: int, local_port: int) -> None:
        self.services[(service, port)] = local_port


@dataclass
class LocalCommand:
    name: str
    kind: str  # "frontend" | "worker" | "etcd" | "nats"
    argv: list[str]
    env: dict[str, str]
    ports: dict[int, int]  # container port -> local port
    named_ports: dict[str, int]  # container port name -> local port
    liveness_url: str | None
    readiness_url: str | None
    notes: list[str]
    startup_url: str | None = None
    pod: PodIdentity | None = None
    """The pod the container runs in (K1)."""

    @property
    def probe_urls(self) -> list[str]:
        """The probes in the order the kubelet runs them: startup, liveness, readiness."""
        urls = (self.startup_url, self.liveness_url, self.readiness_url)
        return [url for url in urls if url]

    def url(self, port_name: str, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.named_ports[port_name]}{path}"


# --------------------------------------------------------------------------- helpers


def _split_flags(args: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Group ``args`` into (flag, values); ``--f=v`` gives (``--f``, [v]).

    A flag's values are the following tokens that do not start with ``--``. Tokens
    before the first flag are returned under the flag ``""``.
    """
    groups: list[tuple[str, list[str]]] = []
    for token in args:
        if token.startswith("--"):
            flag, eq, value = token.partition("=")
            groups.append((flag, [value] if eq else []))
        elif groups:
            groups[-1][1].append(token)
        else:
            groups.append(("", [token]))
    return groups


def _join_flags(groups: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    out: list[str] = []
    for flag, values in groups:
        if flag:
            out.append(flag)
        out.extend(values)
    return out


# R3: the pod's place.
PLACE_FIELDS = {"status.podIP": LOOPBACK, "status.hostIP": LOOPBACK, "spec.nodeName": "localhost"}
# K2: what the kubelet tells every container about the API server.
KUBERNETES_SERVICE_HOST = "KUBERNETES_SERVICE_HOST"
KUBERNETES_SERVICE_PORT = "KUBERNETES_SERVICE_PORT"


def _identity_fields(pod: PodIdentity) -> dict[str, str]:
    """K1: the downward API's fields of the pod's identity."""
    return {"metadata.name": pod.name, "metadata.namespace": pod.namespace,
            "metadata.uid": pod.uid}


def _env_dict(container: Mapping[str, Any], pod: PodIdentity, ctx: LocalContext,
              notes: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    if ctx.kubernetes_api is not None:  # K2
        host, port = ctx.kubernetes_api
        env = {KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: str(port)}
        notes.append(f"K2 env {KUBERNETES_SERVICE_HOST}={host}, {KUBERNETES_SERVICE_PORT}={port}")
    identity = _identity_fields(pod)
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            # R5: a value may refer to variables defined before it, as in Kubernetes.
            env[name] = _expand(str(item["value"]), env)
        elif "valueFrom" in item:
            ref = item["valueFrom"].get("fieldRef", {}).get("fieldPath") or ""
            rule = "K1" if ref in identity else "R3"
            local = identity.get(ref, PLACE_FIELDS.get(ref))
            if local is None:
                raise CannotRunLocally(f"env {name}: unsupported valueFrom {item['valueFrom']}")
            env[name] = local
            notes.append(f"{rule} env {name} from {ref} -> {local}")
        else:
            env[name] = ""
    if container.get("envFrom"):
        raise CannotRunLocally("envFrom is not supported by the local translation")
    return env


_ANY_ADDRESS = re.compile(r"(?<![\d.])0\.0\.0\.0(?![\d.])|\[::\]")
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _expand(text: str, env: Mapping[str, str]) -> str:
    """R5: Kubernetes ``$(VAR)`` expansion in command and args (``$$`` is a literal ``$``;
    an unknown variable stays as written, as the kubelet does)."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(repl, text)


def _substitute_services(text: str, ctx: LocalContext) -> str:
    """R1: ``svc[.ns.svc.cluster.local]:port`` -> ``127.0.0.1:local``."""
    for (service, port), local in ctx.services.items():
        pattern = rf"(?<![\w.-]){re.escape(service)}(?:\.[A-Za-z0-9.-]+)?:{port}(?!\d)"
        text = re.sub(pattern, f"{LOOPBACK}:{local}", text)
    return text


def _allocate_ports(
    container: Mapping[str, Any], ctx: LocalContext
) -> tuple[dict[int, int], dict[str, int]]:
    ports: dict[int, int] = {}
    named: dict[str, int] = {}
    for item in container.get("ports") or []:
        number = int(item["containerPort"])
        if number not in ports:
            local = ctx.ports.allocate()
            if local > MAX_LOCAL_PORT:
                raise ValueError(f"local port {local} above {MAX_LOCAL_PORT}")
            ports[number] = local
        if item.get("name"):
            named[item["name"]] = ports[number]
    return ports, named


def _probe_url(container: Mapping[str, Any], probe: str, ports: Mapping[int, int]) -> str | None:
    """R6: the local URL of a probe (``tcp://host:port`` for a tcpSocket probe)."""
    spec = container.get(probe)
    if not spec:
        return None
    kinds = [kind for kind in ("httpGet", "tcpSocket", "exec", "grpc") if kind in spec]
    if kinds not in (["httpGet"], ["tcpSocket"]):
        raise CannotRunLocally(
            f"{probe}: only httpGet and tcpSocket probes run locally, got {kinds}")
    action = spec[kinds[0]]
    if str(action.get("scheme", "HTTP")).upper() != "HTTP":
        raise CannotRunLocally(f"{probe}: scheme {action['scheme']} is not supported locally")
    port = action["port"]
    if isinstance(port, str) and not port.isdigit():
        by_name = {p.get("name"): int(p["containerPort"]) for p in container.get("ports") or []}
        if port not in by_name:
            raise CannotRunLocally(f"{probe}: no container port named {port!r}")
        port = by_name[port]
    if int(port) not in ports:
        raise CannotRunLocally(f"{probe}: port {port} is not a declared container port")
    if kinds == ["tcpSocket"]:
        return f"tcp://{LOOPBACK}:{ports[int(port)]}"
    return f"http://{LOOPBACK}:{ports[int(port)]}{action.get('path', '/')}"


def _module(argv: Sequence[str]) -> str | None:
    for i, token in enumerate(argv[:-1]):
        if token == "-m":
            return argv[i + 1]
    return None


def _kind(argv: Sequence[str]) -> str:
    module = _module(argv)
    if module == "dynamo.frontend":
        return "frontend"
    if module in ("dynamo.vllm", "dynamo.mocker"):
        return "worker"
    program = os.path.basename(argv[0]) if argv else ""
    if program == "etcd":
        return "etcd"
    if program == "nats-server":
        return "nats"
    raise CannotRunLocally(f"don't know how to run {argv!r} locally")


# --------------------------------------------------------------------------- entry point


def translate_container(
    name: str,
    container: Mapping[str, Any],
    ctx: LocalContext,
    nats_config_text: str | None = None,
    pod_name: str | None = None,
    group: GroupPod | None = None,
    pod: PodIdentity | None = None,
) -> LocalCommand:
    """Translate one container.

    ``name`` names the local process (log file, data directories); ``pod`` is the pod the
    container runs in (K1), or else ``pod_name`` names it in ``default`` (default ``name``; a
    StatefulSet's first pod is ``<statefulset>-0``); ``nats_config_text`` is the NATS config
    file (from its ConfigMap), written localized to ``<workdir>/<name>.conf``; ``group``: the
    container is in a pod of a LeaderWorkerSet group (L1, W7).
    """
    notes: list[str] = []
    if group is not None:
        container = with_group_env(container, group, notes)
    identity = (pod or PodIdentity(pod_name or name)).resolved()
    env = _env_dict(container, identity, ctx, notes)
    raw = [str(x) for x in (container.get("command") or []) + (container.get("args") or [])]
    argv = [_expand(x, env) for x in raw]  # R5
    kind = _kind(argv)
    ports, named = _allocate_ports(container, ctx)
    consumed: set[int] = set()

    def local_port(value: str, what: str) -> str:
        number = int(value)
        if number not in ports:
            # The port is not declared in the container: give it one anyway.
            ports[number] = ctx.ports.allocate()
            notes.append(f"R2 {what} {number} is not a declared container port")
        consumed.add(number)
        notes.append(f"R2 {what} {number} -> {ports[number]}")
        return str(ports[number])

    def unbound(number: int) -> None:
        """A declared port a rule leaves without a listener (W7's master port)."""
        if number in ports:
            consumed.add(number)

    if kind in ("frontend", "worker"):
        argv, env = _translate_dynamo(kind, argv, env, ctx, notes, local_port,
                                      group=group, unbound=unbound)
    elif kind == "etcd":
        argv, env = _translate_etcd(name, argv, env, ctx, ports, notes, consumed)
    else:
        argv = _translate_nats(argv, ctx, name, ports, nats_config_text, notes, consumed)

    # R1 on whatever is left (args and env values).
    argv = [_substitute_services(a, ctx) for a in argv]
    env = {k: _substitute_services(v, ctx) for k, v in env.items()}

    unconsumed = sorted(set(ports) - consumed)
    if unconsumed:
        message = f"container ports {unconsumed} are not rewritten by any rule"
        if kind in ("frontend", "worker"):
            raise CannotRunLocally(f"{name}: {message}")
        notes.append(f"R2 {message} (not started locally)")
    leftovers = [x for x in [*argv, *env.values()] if _ANY_ADDRESS.search(x)]
    if leftovers:  # R4
        raise CannotRunLocally(f"{name}: still binds 0.0.0.0 after translation: {leftovers}")

    return LocalCommand(
        name=name,
        kind=kind,
        argv=argv,
        env=env,
        ports=ports,
        named_ports=named,
        liveness_url=_probe_url(container, "livenessProbe", ports),
        readiness_url=_probe_url(container, "readinessProbe", ports),
        notes=notes,
        startup_url=_probe_url(container, "startupProbe", ports),
        pod=identity,
    )


def _translate_dynamo(
    kind: str,
    argv: list[str],
    env: dict[str, str],
    ctx: LocalContext,
    notes: list[str],
    local_port: Callable[[str, str], str],
    group: GroupPod | None = None,
    unbound: Callable[[int], None] = lambda _: None,
) -> tuple[list[str], dict[str, str]]:
    try:
        m_index = argv.index("-m")
    except ValueError as exc:
        raise CannotRunLocally(f"expected 'python3 -m dynamo.X', got {argv!r}") from exc
    prefix, module, rest = argv[:m_index], argv[m_index + 1], argv[m_index + 2 :]
    if os.path.basename(prefix[0]) in ("python", "python3"):  # D1
        prefix = [ctx.python, *prefix[1:]]
        notes.append(f"D1 {argv[0]} -> {ctx.python}")
    groups = _split_flags(rest)

    if kind == "frontend":
        groups = _translate_frontend(groups, env, ctx, local_port)
    else:
        if module == "dynamo.vllm":
            module = "dynamo.mocker"
            notes.append("W dynamo.vllm -> dynamo.mocker")
        groups = _translate_ranks(groups, group, notes, unbound)
        groups = _translate_worker(groups, ctx, notes)

    if "DYN_SYSTEM_PORT" in env:  # D4
        env["DYN_SYSTEM_PORT"] = local_port(env["DYN_SYSTEM_PORT"], "DYN_SYSTEM_PORT")
    home = Path(ctx.workdir) / "home"
    home.mkdir(parents=True, exist_ok=True)
    forced = {**LOOPBACK_ENV, "HOME": str(home)}
    if not ctx.private_network:  # D2 fallback
        if ctx.nats_url is None:
            raise ValueError("no private network namespace and no NATS for the fallback")
        forced["DYN_EVENT_PLANE"] = "nats"
        if "NATS_SERVER" not in env:
            forced["NATS_SERVER"] = ctx.nats_url
        for i, (flag, values) in enumerate(groups):
            if flag == "--event-plane" and values != ["nats"]:
                groups[i] = (flag, ["nats"])
                notes.append(f"D2 fallback --event-plane {' '.join(values)} -> nats")
    for key, value in forced.items():  # D2, D3
        if env.get(key) != value:
            notes.append(f"D2 env {key}={value}" + (f" (was {env[key]!r})" if key in env else ""))
        env[key] = value
    return [*prefix, "-m", module, *_join_flags(groups)], env


def _translate_frontend(
    groups: list[tuple[str, list[str]]],
    env: dict[str, str],
    ctx: LocalContext,
    local_port: Callable[[str, str], str],
) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    has_port = False
    for flag, values in groups:
        if flag == "--http-port":  # F1
            values, has_port = [local_port(values[0], "--http-port")], True
        elif flag == "--http-host":  # F2
            values = [LOOPBACK]
        elif flag == "--model-path":  # F3
            values = [str(ctx.model_dir)]
        out.append((flag, values))
    if "DYN_HTTP_PORT" in env:  # F1
        env["DYN_HTTP_PORT"] = local_port(env["DYN_HTTP_PORT"], "DYN_HTTP_PORT")
        has_port = True
    if not has_port:
        out.append(("--http-port", [local_port("8000", "default http port")]))
    if not any(flag == "--http-host" for flag, _ in out):
        out.append(("--http-host", [LOOPBACK]))
    env["DYN_HTTP_HOST"] = LOOPBACK  # F2
    return out


def with_group_env(
    container: Mapping[str, Any], group: GroupPod, notes: list[str] | None = None
) -> dict[str, Any]:
    """L1: the container with the LeaderWorkerSet controller's variables first in its env."""
    controller = {LWS_LEADER_ADDRESS: LOOPBACK, LWS_GROUP_SIZE: str(group.size),
                  LWS_WORKER_INDEX: str(group.index)}
    kept = [item for item in container.get("env") or [] if item["name"] not in controller]
    if notes is not None:
        notes.append("L1 env " + ", ".join(f"{k}={v}" for k, v in controller.items()))
    return {**container,
            "env": [*({"name": k, "value": v} for k, v in controller.items()), *kept]}


def _translate_ranks(
    groups: list[tuple[str, list[str]]],
    group: GroupPod | None,
    notes: list[str],
    unbound: Callable[[int], None],
) -> list[tuple[str, list[str]]]:
    """W7: a group's leader becomes one mock worker; any other rank is refused."""
    found = {flag: values for flag, values in groups if flag in RANK_FLAGS}
    if not found and group is None:
        return groups
    size = group.size if group is not None else 1
    nodes_text = (found.get("--nnodes") or ["1"])[0]
    rank_text = (found.get("--node-rank") or ["0"])[0]
    if not nodes_text.isdigit():
        raise CannotRunLocally(f"--nnodes {nodes_text}: not a number")
    if not rank_text.isdigit():
        raise CannotRunLocally(
            f"--node-rank {rank_text}: not a number ($({LWS_WORKER_INDEX}) outside a "
            "LeaderWorkerSet group stays unexpanded)")
    nodes, rank = int(nodes_text), int(rank_text)
    if group is None and nodes > 1:
        raise CannotRunLocally(
            f"--nnodes {nodes} outside a LeaderWorkerSet group: its other {nodes - 1} ranks "
            "would have nowhere to run")
    if nodes != size:
        raise CannotRunLocally(
            f"--nnodes {nodes}, but its LeaderWorkerSet's groups have {size} pods: the engine "
            "would wait for ranks that never come, or leave pods out")
    if "--headless" in found or rank != 0:
        what = "a headless rank (--headless)" if "--headless" in found else f"rank {rank}"
        raise CannotRunLocally(
            f"{what} of a multi-node engine runs no Dynamo runtime (it neither registers nor "
            "serves; dynamo.vllm returns before starting one): only its group's leader, rank "
            "0, runs locally, as one mock worker for the whole group")
    master = found.get("--master-port")
    if master and master[0].isdigit():
        unbound(int(master[0]))
    if found:
        shown = " ".join(f"{flag} {' '.join(values)}".strip() for flag, values in found.items())
        notes.append(f"W7 dropped {shown}: the group ({size} pods) runs as its leader, one "
                     "mock worker" + (f"; port {master[0]} stays unbound (no torch "
                                      "rendezvous)" if master else ""))
    return [(flag, values) for flag, values in groups if flag not in RANK_FLAGS]


def _translate_worker(
    groups: list[tuple[str, list[str]]], ctx: LocalContext, notes: list[str]
) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    kv_events: dict[str, Any] | None = None
    for raw_flag, values in groups:
        flag = "--" + raw_flag[2:].replace("_", "-") if raw_flag else raw_flag  # W3 spelling
        if flag == "--model" or flag == "--model-path":  # W1
            out.append(("--model-path", [str(ctx.model_dir)]))
        elif flag in ("--served-model-name", "--model-name"):  # W2
            if len(values) > 1:
                notes.append(f"W2 --served-model-name: kept {values[0]!r} of {values}")
            out.append(("--model-name", values[:1]))
        elif flag == KV_EVENTS_FLAG:  # W5
            kv_events = _kv_events_json(values)
        elif flag.startswith(KV_EVENTS_FLAG + "."):  # W5, dotted form
            key = flag[len(KV_EVENTS_FLAG) + 1 :].replace("-", "_")
            kv_events = {**(kv_events or {}), key: _dotted_value(values)}
        elif flag in MOCKER_FLAGS:  # W3
            out.append((flag, values))
        else:
            notes.append(f"W3 dropped {' '.join([raw_flag, *values])}")
    if not any(flag == "--speedup-ratio" for flag, _ in out):  # W4
        out.append(("--speedup-ratio", ["0"]))
    return _translate_kv_events(out, kv_events, ctx, notes)


def _kv_events_json(values: Sequence[str]) -> dict[str, Any]:
    if len(values) != 1:
        raise CannotRunLocally(f"{KV_EVENTS_FLAG} takes one JSON value, got {list(values)}")
    try:
        parsed = json.loads(values[0])
    except ValueError as exc:
        raise CannotRunLocally(f"{KV_EVENTS_FLAG}: not JSON: {values[0]!r}") from exc
    if not isinstance(parsed, dict):
        raise CannotRunLocally(f"{KV_EVENTS_FLAG}: not a JSON object: {values[0]!r}")
    return parsed


def _dotted_value(values: Sequence[str]) -> Any:
    text = values[0] if values else "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _flag_value(groups: Sequence[tuple[str, Sequence[str]]], flag: str) -> str | None:
    found = [values[0] for f, values in groups if f == flag and values]
    return found[-1] if found else None


def _zmq_port(endpoint: str, what: str) -> int:
    """The port of a ZMQ ``tcp://host:port`` endpoint."""
    scheme, _, address = endpoint.partition("://")
    host, _, port = address.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        raise CannotRunLocally(f"{KV_EVENTS_FLAG} {what} {endpoint!r}: expected tcp://host:port")
    return int(port)


def _translate_kv_events(
    groups: list[tuple[str, list[str]]],
    config: Mapping[str, Any] | None,
    ctx: LocalContext,
    notes: list[str],
) -> list[tuple[str, list[str]]]:
    """W5 and W6: the mocker publishes KV events when, and as, vLLM would."""
    mode = _flag_value(groups, "--disaggregation-mode") or "agg"
    if any(flag == "--is-prefill-worker" for flag, _ in groups):
        mode = "prefill"
    if any(flag == "--is-decode-worker" for flag, _ in groups):
        mode = "decode"
    prefix_flags = [f for f, _ in groups if f in ("--enable-prefix-caching",
                                                   "--no-enable-prefix-caching")]
    prefix_caching = not prefix_flags or prefix_flags[-1] == "--enable-prefix-caching"
    enabled = config is not None and config.get("enable_kv_cache_events") in (True, "true")
    publisher = None if config is None else config.get("publisher", "zmq")
    publishes = enabled and publisher == "zmq" and prefix_caching
    shown = "none" if config is None else json.dumps(config, separators=(",", ":"))
    if config is not None and not publishes:
        why = ("enable_kv_cache_events is not true" if not enabled
               else f"publisher {publisher!r}" if publisher != "zmq"
               else "prefix caching is off")
        notes.append(f"W5 {KV_EVENTS_FLAG} {shown}: vLLM publishes no KV events ({why})")
    if mode == "decode":
        if publishes:
            notes.append(f"W5 {KV_EVENTS_FLAG} dropped: a mock decode worker publishes none")
        return groups
    if not publishes:  # W6
        kept = [(f, v) for f, v in groups if f not in ("--enable-prefix-caching",
                                                       "--no-enable-prefix-caching")]
        notes.append("W6 --no-enable-prefix-caching: no KV events, as vLLM with "
                     f"{KV_EVENTS_FLAG} {shown}")
        return [*kept, ("--no-enable-prefix-caching", [])]
    assert config is not None
    if not ctx.private_network:
        notes.append(f"W5 {KV_EVENTS_FLAG} {shown}: the mocker publishes on the event plane "
                     "directly (its ZMQ sink would bind 0.0.0.0 outside a private namespace)")
        return groups
    ranks = int(_flag_value(groups, "--data-parallel-size") or "1")
    out = list(groups)
    for key, flag in (("endpoint", "--zmq-kv-events-ports"),
                      ("replay_endpoint", "--zmq-replay-ports")):
        endpoint = config.get("endpoint", KV_EVENTS_DEFAULT_ENDPOINT) if key == "endpoint" \
            else config.get(key)
        if not endpoint:
            continue
        _zmq_port(str(endpoint), key)  # validated; the local port replaces it
        local = ctx.ports.allocate_consecutive(ranks)
        if local + ranks - 1 > MAX_LOCAL_PORT:
            raise ValueError(f"local port {local} above {MAX_LOCAL_PORT}")
        out.append((flag, [str(local)]))
        notes.append(f"W5 {KV_EVENTS_FLAG} {key} {endpoint} -> {flag} {local}"
                     + (f" (+{ranks - 1} for the data-parallel ranks)" if ranks > 1 else ""))
    ignored = sorted(set(config) - {"enable_kv_cache_events", "publisher", "endpoint",
                                    "replay_endpoint"})
    if ignored:
        notes.append(f"W5 {KV_EVENTS_FLAG} keys without a mocker equivalent: {ignored}")
    return out


def _translate_etcd(
    name: str,
    argv: list[str],
    env: dict[str, str],
    ctx: LocalContext,
    ports: dict[int, int],
    notes: list[str],
    consumed: set[int],
) -> tuple[list[str], dict[str, str]]:
    data_dir = Path(ctx.workdir) / f"{name}-data"

    own_name = next(
        (v[0] for f, v in _split_flags(argv[1:]) if f == "--name" and v), env.get("ETCD_NAME")
    )

    def rewrite_url(url: str) -> str:
        parsed = urlsplit(url)
        if parsed.port is None:
            raise CannotRunLocally(f"etcd URL without port: {url!r}")
        if parsed.port not in ports:
            ports[parsed.port] = ctx.ports.allocate()
        consumed.add(parsed.port)
        return f"{parsed.scheme}://{LOOPBACK}:{ports[parsed.port]}"

    def rewrite_urls(flag: str, value: str) -> str:
        if flag != "--initial-cluster":
            return ",".join(rewrite_url(url) for url in value.split(","))
        # name=url,...: only this member runs locally, under its own --name.
        members = [part.partition("=") for part in value.split(",")]
        mine = [m for m in members if m[0] == own_name] or members[:1]
        name = own_name or mine[0][0]
        if len(members) > 1 or mine[0][0] != name:
            notes.append(f"E1 initial cluster reduced to this member ({name})")
        return f"{name}={rewrite_url(mine[0][2])}"

    groups = _split_flags(argv[1:])
    out: list[tuple[str, list[str]]] = []
    for flag, values in groups:
        if flag in ETCD_URL_FLAGS:
            values = [rewrite_urls(flag, ",".join(values))]
            notes.append(f"E1 {flag} -> {values[0]}")
        elif flag == "--data-dir":
            values = [str(data_dir)]
            notes.append(f"E1 --data-dir -> {data_dir}")
        out.append((flag, values))
    for flag in ETCD_URL_FLAGS:
        key = "ETCD_" + flag[2:].upper().replace("-", "_")
        if key in env:
            env[key] = rewrite_urls(flag, env[key])
            notes.append(f"E1 env {key} -> {env[key]}")
    if "ETCD_DATA_DIR" in env:
        env["ETCD_DATA_DIR"] = str(data_dir)
    return [argv[0], *_join_flags(out)], env


def _translate_nats(
    argv: list[str],
    ctx: LocalContext,
    name: str,
    ports: dict[int, int],
    config_text: str | None,
    notes: list[str],
    consumed: set[int],
) -> list[str]:
    store = Path(ctx.workdir) / f"{name}-data"
    local_flags = ["-a", LOOPBACK, "-P", str(Path(ctx.workdir) / f"{name}.pid"), "-js"]
    nats_config = None
    if config_text is not None:
        text, has_store = localize_nats_config(config_text, store)
        if not has_store:
            local_flags += ["-sd", str(store)]
        nats_config = Path(ctx.workdir) / f"{name}.conf"
        nats_config.write_text(text)
    else:
        local_flags += ["-sd", str(store)]
    kept: list[str] = []
    tokens = iter(argv[1:])
    for token in tokens:
        flag = token.partition("=")[0]
        if flag in NATS_CONFIG_FLAGS or flag in NATS_LOCAL_FLAGS:
            if "=" not in token:
                next(tokens, None)
            if flag in NATS_CONFIG_FLAGS and config_text is None:
                notes.append("N1 config file dropped (no local copy given)")
        elif token not in ("-js", "--jetstream"):
            kept.append(token)
    if nats_config is not None:
        kept = ["--config", str(nats_config), *kept]
        notes.append(f"N1 --config -> {nats_config}")
    for port in (4222, 8222):
        if port not in ports:
            ports[port] = ctx.ports.allocate()
        consumed.add(port)
    kept += ["-p", str(ports[4222]), "-m", str(ports[8222]), *local_flags]
    notes.append(f"N1 client 4222 -> {ports[4222]}, monitor 8222 -> {ports[8222]}")
    return [argv[0], *kept]


_STORE_DIR = re.compile(r'^(\s*"?store_dir"?\s*[:=]\s*)("[^"]*"|[^\s,}]+)', re.MULTILINE)


def localize_nats_config(text: str, store_dir: Path) -> tuple[str, bool]:
    """N1: point ``store_dir`` of a NATS config at ``store_dir``.

    nats-server 2.9 refuses ``-sd`` when the file sets ``store_dir`` ("Duplicate
    'store_dir' configuration"), so the file itself is rewritten. Returns the new text and
    whether it had a ``store_dir``. (``-P`` and the other flags override the file fine.)
    """
    new, count = _STORE_DIR.subn(lambda m: f'{m.group(1)}"{store_dir}"', text)
    return new, count > 0
