"""Run a Dynamo deployment's containers locally: dependencies first, then Dynamo.

    with LocalStack(workdir, python=dynamo_python) as stack:
        stack.start_dependency("etcd", etcd_container, services={"rel-etcd": 2379})
        frontend = stack.start("frontend", frontend_container)
        stack.start("decode", decode_container)
        stack.wait_ready()

Entering the stack moves the calling thread into a private network namespace holding only
``lo`` (:mod:`.netns`); every process starts there and leaving the stack stops them and
returns. Where no such namespace can be made (or with ``network="host"``) the processes run
in the caller's namespace with D2's fallback of translate.py: the event plane on a loopback
NATS, which the stack starts itself when the environment deploys none
(:meth:`LocalStack.fallback_message` says so).

An environment whose pods use Dynamo's kubernetes discovery gets its control plane first
(:meth:`LocalStack.start_control_plane`, control_plane.py): the stand-in API server, and the
kubelet's, EndpointSlice controller's and garbage collector's parts. Each process started with
its ``pod`` is then a pod of it: created in the API server, given its identity, the API
server's address and (in a mount namespace of its own) its ServiceAccount token, probed, and
listed in the EndpointSlices of the Services selecting it.

Dependencies are started and waited for one by one (their Service addresses must be known
before the Dynamo containers are translated). ``services`` gives each Kubernetes Service
name with a container port it targets (a Service may appear once per port); the Service port is
taken to be the same number.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from . import netns
from .control_plane import ControlPlane, Plan
from .pods import LocalPod
from .processes import (
    LOOPBACK,
    PortAllocator,
    ProcessGroup,
    listening_sockets,
    non_loopback_listeners,
    ports_listening,
)
from .tokenizer import write_tiny_model
from .translate import (
    FALLBACK_NATS,
    GroupPod,
    LocalCommand,
    LocalContext,
    translate_container,
)


class LocalStack:
    def __init__(
        self,
        workdir: str | Path,
        python: str,
        model_dir: str | Path | None = None,
        ports: PortAllocator | None = None,
        timeout: float = 60.0,
        stop_timeout: float = 10.0,
        network: Literal["private", "host"] | netns.Isolation = "private",
        allow_user_namespace: bool = False,
    ) -> None:
        """``network``: ``"private"`` tries a private network namespace on entering the
        stack (``allow_user_namespace``: also through a user namespace, which the process can
        never leave; see :func:`.netns.private_network`); ``"host"`` runs in the caller's; an
        :class:`.netns.Isolation` says where the caller has already put the calling thread."""
        self.workdir = Path(workdir)
        self.timeout = timeout
        model = Path(model_dir) if model_dir else write_tiny_model(self.workdir / "model")
        self.ctx = LocalContext(
            python=python, model_dir=model, workdir=self.workdir, ports=ports or PortAllocator(),
            private_network=False,
        )
        self.group = ProcessGroup(self.workdir / "logs", stop_timeout=stop_timeout)
        self.commands: dict[str, LocalCommand] = {}
        self.network = network
        self.allow_user_namespace = allow_user_namespace
        self.isolation = netns.Isolation(False, "the stack was not entered", netns.namespace_id())
        self.control_plane: ControlPlane | None = None
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Self:
        if isinstance(self.network, netns.Isolation):
            self.isolation = self.network
        elif self.network == "private":
            self.isolation = self._exit.enter_context(
                netns.private_network(self.allow_user_namespace))
        else:
            self.isolation = netns.Isolation(False, "the host network was asked for",
                                             netns.namespace_id())
        self.ctx.private_network = self.isolation.private
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self._exit.close()

    def fallback_message(self) -> str | None:
        """What differs from the cluster when there is no private namespace, else None."""
        if self.isolation.private:
            return None
        return (f"no private network namespace ({self.isolation.how}): the processes run in "
                "this host's network with every address on 127.0.0.1, and since Dynamo's zmq "
                "event plane binds 0.0.0.0 the event plane moves to NATS (DYN_EVENT_PLANE=nats "
                "and a loopback nats-server), unlike the cluster; KV events take the mocker's "
                "direct path")

    def start_control_plane(self, plan: Plan) -> ControlPlane:
        """Start the control plane `plan` describes, before any process; raises
        :class:`.control_plane.ControlPlaneUnavailable` when this machine cannot run it."""
        if self.control_plane is not None:
            raise ValueError("the control plane is already started")
        control_plane = ControlPlane(plan, self.workdir / "control-plane", self.ctx.ports)
        control_plane.start()
        self.control_plane = control_plane
        self.ctx.kubernetes_api = control_plane.address
        return control_plane

    def start_dependency(
        self,
        name: str,
        container: Mapping[str, Any],
        services: Mapping[str, int] | Iterable[tuple[str, int]],
        nats_config_text: str | None = None,
        pod_name: str | None = None,
        pod: LocalPod | None = None,
    ) -> LocalCommand:
        """Start etcd or NATS, wait until healthy, and register its Services.

        ``pod``: the pod it runs in, or ``pod_name``: what ``metadata.name`` resolves to (a
        StatefulSet's ``<name>-0``). ``nats_config_text``: the NATS config file (from its
        ConfigMap).
        """
        command = translate_container(
            name, container, self.ctx, nats_config_text=nats_config_text, pod_name=pod_name,
            pod=pod.identity if pod else None,
        )
        if command.kind not in ("etcd", "nats"):
            raise ValueError(f"{name} is a {command.kind}, not a dependency")
        self._start(command, pod)
        url = command.readiness_url or (
            f"http://{LOOPBACK}:{command.ports[2379]}/health"
            if command.kind == "etcd"
            else f"http://{LOOPBACK}:{command.ports[8222]}/healthz"
        )
        self.group.wait_http(url, timeout=self.timeout, process=name)
        pairs = services.items() if isinstance(services, Mapping) else services
        for service, container_port in pairs:
            self.ctx.expose(service, container_port, command.ports[container_port])
        if command.kind == "nats" and self.ctx.nats_url is None:
            self.ctx.nats_url = f"nats://{LOOPBACK}:{command.ports[4222]}"
        return command

    def start(self, name: str, container: Mapping[str, Any], pod_name: str | None = None,
              group: GroupPod | None = None, pod: LocalPod | None = None) -> LocalCommand:
        """Translate and start a Dynamo container (frontend or worker); does not wait.
        ``pod_name`` and ``group`` as for :func:`.translate.translate_container`; ``pod``: the
        pod it runs in (its identity, and with a control plane all it gives a pod)."""
        if not self.ctx.private_network and self.ctx.nats_url is None:
            # D2 fallback: the event plane needs a NATS the environment may not deploy.
            self.start_dependency("nats", FALLBACK_NATS, services=[])
        command = translate_container(name, container, self.ctx, pod_name=pod_name,
                                      group=group, pod=pod.identity if pod else None)
        if command.kind not in ("frontend", "worker"):
            raise ValueError(f"{name} is a {command.kind}; use start_dependency")
        self._start(command, pod)
        return command

    def _start(self, command: LocalCommand, pod: LocalPod | None = None) -> None:
        self.commands[command.name] = command
        control_plane = self.control_plane if pod is not None else None
        if control_plane is None or pod is None:
            self.group.start(command.name, command.argv, command.env)
            return
        volume = control_plane.admit(pod)
        with control_plane.pod_namespace(volume):
            process = self.group.start(command.name, command.argv, command.env)
        control_plane.running(pod, command, process)

    def wait_ready(self, names: list[str] | None = None) -> None:
        """Wait (each bounded by ``timeout``) for the startup, liveness then readiness
        probes."""
        for name in names or list(self.commands):
            for url in self.commands[name].probe_urls:
                self.group.wait_http(url, timeout=self.timeout, process=name)

    def beyond_loopback(self) -> list[str]:
        """What of the running processes can be reached beyond 127.0.0.1 (empty: nothing).

        In a private namespace: a process outside it, an interface other than ``lo`` in it,
        or a listener on a specific non-loopback address (sockets on 0.0.0.0 or :: are
        reachable only through ``lo`` there). Otherwise every listener not on loopback.
        """
        if not self.isolation.private:
            return [f"listening beyond loopback: {item}"
                    for item in non_loopback_listeners(self.group.pids)]
        problems: list[str] = []
        for proc in self.group.processes:
            if not proc.running():
                continue
            try:
                namespace, names = netns.namespace_id(proc.pid), netns.interfaces(proc.pid)
            except OSError:
                continue
            if namespace == self.isolation.outer_namespace:
                problems.append(f"{proc.name} runs in the caller's network namespace")
            elif names != ["lo"]:
                problems.append(f"{proc.name}'s network namespace has interfaces {names}")
        for item in listening_sockets(self.group.pids):
            address = ipaddress.ip_address(item.address)
            if not (item.loopback or address.is_unspecified):
                problems.append(f"listening on a non-loopback address: {item}")
        return problems

    def stop(self) -> dict[str, int | None]:
        """Stop the Dynamo processes, then the control plane, etcd and NATS (so that workers
        can deregister: the kubernetes discovery backend applies its DynamoWorkerMetadata once
        more as it stops)."""
        dynamo = [n for n, c in self.commands.items() if c.kind in ("frontend", "worker")]
        if self.control_plane is not None:
            self.control_plane.terminating()
        codes = self.group.stop(dynamo)
        if self.control_plane is not None:
            self.control_plane.stop()
        codes.update(self.group.stop())
        return codes

    def leftovers(self) -> set[int]:
        """Local ports given out by this stack that something still listens on."""
        return ports_listening(self.ctx.ports.allocated)
