"""Dynamo v0.1 deployments as the rules see them: the pods of one release, what each runs.

A v0.1 deployment is a FrontendDeployment (the HTTP frontend and, in single mode, the whole
graph) and the PrefillWorkerPools of the same release. The rules reason about pods, so each
construct is read as one PodView: its serve configuration, the components it links, the GPUs
its props ask for and what its emitted pod template declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..model.serve_config import Component, ServeConfig
from . import Locator

WORKERS = (Component.VLLM_WORKER, Component.PREFILL_WORKER)


@dataclass(frozen=True)
class PodView:
    """One Deployment's pod, described by the props of the construct that emits it."""

    role: Literal["frontend", "prefill"]
    deployment: str
    config: ServeConfig
    components: tuple[Component, ...]
    gpus: int
    """The `resources.gpus` the props ask for."""
    replicas: int
    ports: tuple[int, ...]
    """Container ports the pod declares, in container order."""
    host_network: bool
    locator: Locator
    subject: Any
    """The construct that emits the pod."""

    def runs(self, component: Component) -> bool:
        return component in self.components

    def path(self, *parts: str) -> str:
        """A prop of this pod's construct, as its author wrote it."""
        return self.locator.field(".".join(parts))

    def cite(self, *parts: str) -> str:
        """A prop of this pod's construct, named in a finding about another construct."""
        return self.locator.cite(".".join(parts))

    def _config_key(self, component: Component, key: str) -> tuple[str, ...]:
        section = self.config.section(component)
        if section is not None and key not in section.own():
            inherited = section.common_configs or []
            if key in inherited and self.config.common and key in self.config.common.own():
                return ("config", "Common", key)
        return ("config", component.value, key)

    def written_at(self, component: Component, key: str) -> str:
        """Where the value `component` reads for `key` is written: its own section, or Common
        when inherited through common-configs; its own section when nothing sets it."""
        return self.path(*self._config_key(component, key))

    def cited_at(self, component: Component, key: str) -> str:
        """`written_at`, named in a finding about another construct."""
        return self.cite(*self._config_key(component, key))

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


@dataclass(frozen=True)
class ServeDeployment:
    """The v0.1 pods of one release: the frontend's first, then the prefill pools'."""

    pods: Sequence[PodView]
    rdma: bool
    """The pods use TKE RDMA (the frontend's RdmaPolicy)."""

    @property
    def frontend(self) -> PodView | None:
        return next((p for p in self.pods if p.role == "frontend"), None)

    @property
    def decode(self) -> PodView | None:
        """The pod that runs the decode worker (VllmWorker), if any."""
        frontend = self.frontend
        return frontend if frontend is not None and frontend.runs(Component.VLLM_WORKER) else None

    @property
    def prefill_pods(self) -> list[PodView]:
        return [pod for pod in self.pods if pod.runs(Component.PREFILL_WORKER)]
