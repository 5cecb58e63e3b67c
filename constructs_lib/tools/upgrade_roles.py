"""The decode and prefill roles of a v0.1 environment, read from its serve configurations, as
the upgrade to the 1.x format counts them.

Both Dynamo generations describe work the same way: decode workers (the VllmWorker of the
frontend pod's configuration) and prefill workers (the PrefillWorker of the frontend pod, when its
graph links it, and of the prefill pool's configuration). v0.1 runs several workers per pod;
1.x runs each worker as a pod of its own. These views let rules, the placement plan and both
renderers agree on who runs what, with GPUs counted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.environment import Environment
from ..model.serve_config import Component, ServeConfig


@dataclass(frozen=True)
class WorkerGroup:
    """The workers of one role that one kind of v0.1 pod runs."""

    config: ServeConfig
    config_path: str
    """Where the section lives in the environment file, e.g. `frontend.config.VllmWorker`."""
    component: Component
    pods: int
    """Replicas of the v0.1 pod that runs this group."""
    workers_per_pod: int
    gpus_per_worker: int

    @property
    def workers(self) -> int:
        return self.pods * self.workers_per_pod

    @property
    def engine(self) -> dict[str, Any]:
        """The component's effective settings (Common inheritance applied)."""
        return self.config.effective(self.component)


@dataclass(frozen=True)
class Role:
    name: str
    groups: tuple[WorkerGroup, ...]

    @property
    def workers(self) -> int:
        return sum(group.workers for group in self.groups)

    @property
    def gpus(self) -> int:
        return sum(group.workers * group.gpus_per_worker for group in self.groups)


def _group(config: ServeConfig, path: str, component: Component, pods: int) -> WorkerGroup:
    return WorkerGroup(config=config, config_path=f"{path}.{component.value}", component=component,
                       pods=pods, workers_per_pod=config.workers(component),
                       gpus_per_worker=config.gpus_per_worker(component))


def decode_role(env: Environment) -> Role:
    frontend = env.frontend
    groups = []
    if Component.VLLM_WORKER in frontend.graph:
        groups.append(_group(frontend.config, "frontend.config", Component.VLLM_WORKER,
                             frontend.replicas))
    return Role("decode", tuple(groups))


def prefill_role(env: Environment) -> Role:
    groups = []
    frontend = env.frontend
    if Component.PREFILL_WORKER in frontend.graph and frontend.config.prefill_worker is not None:
        groups.append(_group(frontend.config, "frontend.config", Component.PREFILL_WORKER,
                             frontend.replicas))
    if env.prefill is not None:
        groups.append(_group(env.prefill.config, "prefill.config", Component.PREFILL_WORKER,
                             env.prefill.replicas))
    return Role("prefill", tuple(groups))


def served_model_name(env: Environment) -> str | None:
    frontend = env.frontend.config.frontend
    return frontend.served_model_name if frontend else None


def router_mode(config: ServeConfig) -> str:
    """How requests are spread over decode workers: the Processor's `router`, else round-robin."""
    return str(config.effective(Component.PROCESSOR).get("router", "round-robin"))
