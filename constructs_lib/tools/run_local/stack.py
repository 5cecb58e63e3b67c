"""Run a Dynamo deployment's containers locally: dependencies first, then Dynamo.

    with LocalStack(workdir, python=dynamo_python) as stack:
        stack.start_dependency("etcd", etcd_container, services={"rel-etcd": 2379})
        stack.start_dependency("nats", nats_container, services={"rel-nats": 4222},
                               nats_config_text=configmap_text)
        frontend = stack.start("frontend", frontend_container)
        stack.start("decode", decode_container)
        stack.wait_ready()

Dependencies are started and waited for one by one (their Service addresses must be known
before the Dynamo containers are translated). ``services`` gives each Kubernetes Service
name with a container port it targets (a Service may appear once per port); the Service port is
taken to be the same number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from .processes import (
    LOOPBACK,
    Listener,
    PortAllocator,
    ProcessGroup,
    non_loopback_listeners,
    ports_listening,
)
from .tokenizer import write_tiny_model
from .translate import LocalCommand, LocalContext, translate_container


class LocalStack:
    def __init__(
        self,
        workdir: str | Path,
        python: str,
        model_dir: str | Path | None = None,
        ports: PortAllocator | None = None,
        timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.timeout = timeout
        model = Path(model_dir) if model_dir else write_tiny_model(self.workdir / "model")
        self.ctx = LocalContext(
            python=python, model_dir=model, workdir=self.workdir, ports=ports or PortAllocator()
        )
        self.group = ProcessGroup(self.workdir / "logs", stop_timeout=stop_timeout)
        self.commands: dict[str, LocalCommand] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_dependency(
        self,
        name: str,
        container: Mapping[str, Any],
        services: Mapping[str, int] | Iterable[tuple[str, int]],
        nats_config_text: str | None = None,
        pod_name: str | None = None,
    ) -> LocalCommand:
        """Start etcd or NATS, wait until healthy, and register its Services.

        ``pod_name``: what ``metadata.name`` resolves to (a StatefulSet's ``<name>-0``).
        ``nats_config_text``: the NATS config file (from its ConfigMap).
        """
        command = translate_container(
            name, container, self.ctx, nats_config_text=nats_config_text, pod_name=pod_name
        )
        if command.kind not in ("etcd", "nats"):
            raise ValueError(f"{name} is a {command.kind}, not a dependency")
        self._start(command)
        url = command.readiness_url or (
            f"http://{LOOPBACK}:{command.ports[2379]}/health"
            if command.kind == "etcd"
            else f"http://{LOOPBACK}:{command.ports[8222]}/healthz"
        )
        self.group.wait_http(url, timeout=self.timeout, process=name)
        pairs = services.items() if isinstance(services, Mapping) else services
        for service, container_port in pairs:
            self.ctx.expose(service, container_port, command.ports[container_port])
        return command

    def start(self, name: str, container: Mapping[str, Any]) -> LocalCommand:
        """Translate and start a Dynamo container (frontend or worker); does not wait."""
        command = translate_container(name, container, self.ctx)
        if command.kind not in ("frontend", "worker"):
            raise ValueError(f"{name} is a {command.kind}; use start_dependency")
        self._start(command)
        return command

    def _start(self, command: LocalCommand) -> None:
        self.commands[command.name] = command
        self.group.start(command.name, command.argv, command.env)

    def wait_ready(self, names: list[str] | None = None) -> None:
        """Wait (each bounded by ``timeout``) for the liveness then readiness probes."""
        for name in names or list(self.commands):
            command = self.commands[name]
            for url in (command.liveness_url, command.readiness_url):
                if url:
                    self.group.wait_http(url, timeout=self.timeout, process=name)

    def non_loopback_listeners(self) -> list[Listener]:
        return non_loopback_listeners(self.group.pids)

    def stop(self) -> dict[str, int | None]:
        """Stop the Dynamo processes, then etcd and NATS (so that workers can deregister)."""
        dynamo = [n for n, c in self.commands.items() if c.kind in ("frontend", "worker")]
        codes = self.group.stop(dynamo)
        codes.update(self.group.stop())
        return codes

    def leftovers(self) -> set[int]:
        """Local ports given out by this stack that something still listens on."""
        return ports_listening(self.ctx.ports.allocated)
