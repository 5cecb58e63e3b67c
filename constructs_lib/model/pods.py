"""What each Dynamo pod of an environment runs: components, configuration, GPUs and ports.

The rules and the placement planner reason about pods, not about the sections of the file;
this is the one place that says which section describes which pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .serve_config import Component, ServeConfig

if TYPE_CHECKING:
    from .environment import Environment, Resources

WORKERS = (Component.VLLM_WORKER, Component.PREFILL_WORKER)


@dataclass(frozen=True)
class PodView:
    """One Deployment's pod, described by the `role` section of the environment file."""

    role: Literal["frontend", "prefill"]
    deployment: str
    config: ServeConfig
    components: tuple[Component, ...]
    resources: Resources
    replicas: int
    ports: tuple[int, ...]
    """Container ports the pod declares, in container order."""
    host_network: bool

    def runs(self, component: Component) -> bool:
        return component in self.components

    def path(self, *parts: str) -> str:
        """A field path in the file, below this pod's section."""
        return ".".join((self.role, *parts))

    def written_at(self, component: Component, key: str) -> str:
        """Where the value `component` reads for `key` is written: its own section, or Common
        when inherited through common-configs; its own section when nothing sets it."""
        section = self.config.section(component)
        if section is not None and key not in section.own():
            inherited = section.common_configs or []
            if key in inherited and self.config.common and key in self.config.common.own():
                return self.path("config", "Common", key)
        return self.path("config", component.value, key)

    def setting(self, component: Component, key: str) -> Any:
        """The value `component` reads for `key` (None when unset)."""
        return self.config.effective(component).get(key)

    def worker_gpus(self, component: Component) -> int:
        """GPUs all workers of `component` take in this pod (0 when it does not run here)."""
        if not self.runs(component):
            return 0
        return self.config.workers(component) * self.config.gpus_per_worker(component)

    @property
    def decode_gpus(self) -> int:
        return self.worker_gpus(Component.VLLM_WORKER)

    @property
    def prefill_gpus(self) -> int:
        return self.worker_gpus(Component.PREFILL_WORKER)


def pods(env: Environment) -> list[PodView]:
    """The frontend pod, and in multi-node mode the prefill pool's pod."""
    from .environment import Mode

    host_network = env.rdma.enabled and env.rdma.host_network
    http_port = env.frontend.config.http_port
    frontend_ports: tuple[int, ...] = (http_port,)
    if env.frontend.metrics.enabled:
        frontend_ports += (env.frontend.metrics.port,)
    views = [PodView(
        role="frontend",
        deployment=env.names.frontend_deployment,
        config=env.frontend.config,
        components=tuple(env.frontend.graph),
        resources=env.frontend.resources,
        replicas=env.frontend.replicas,
        ports=frontend_ports,
        host_network=host_network,
    )]
    if env.mode is Mode.MULTINODE and env.prefill is not None:
        views.append(PodView(
            role="prefill",
            deployment=env.names.prefill_deployment,
            config=env.prefill.config,
            components=(Component.PREFILL_WORKER,),
            resources=env.prefill.resources,
            replicas=env.prefill.replicas,
            # The prefill container declares the frontend's port, as the seed's does.
            ports=(http_port,),
            host_network=host_network,
        ))
    return views
